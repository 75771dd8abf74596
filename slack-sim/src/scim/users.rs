//! `/Users`: list, get, create, replace, patch (v1 partial object, v2 PatchOp), deactivate.

use super::filter::{self, Filter};
use super::{list_envelope, require_schemas, ListQuery, Reply};
use crate::errors::{Code, SimError};
use crate::model::{Mode, User, Version, PATCH_V2};
use crate::store::Store;
use serde_json::Value;
use std::time::Instant;

fn attr_values(u: &User, attr: &str, now: Instant) -> Result<Vec<String>, Code> {
    Ok(match attr {
        "username" | "nickname" => vec![u.user_name.clone()],
        "email" | "emails" | "emails.value" => u.emails.iter().map(|e| e.to_lowercase()).collect(),
        "restricted" => {
            if u.guest.is_some() {
                vec!["1".into(), "true".into()]
            } else {
                vec!["0".into(), "false".into()]
            }
        }
        "ultra_restricted" => vec!["0".into(), "false".into()],
        "id" => vec![u.id.to_lowercase()],
        "displayname" => vec![u.display_name.to_lowercase()],
        "active" => vec![u.is_active(now).to_string()],
        _ => return Err(Code::InvalidQuery),
    })
}

/// `GET /Users`.
pub fn list(store: &Store, version: Version, base: &str, q: &ListQuery, now: Instant) -> Reply {
    let filter: Option<Filter> = match &q.filter {
        Some(f) => Some(filter::parse(f).map_err(|c| {
            if c == Code::NoFilters {
                SimError { code: c, context: Some("is_aggregate_call=1".into()) }
            } else {
                c.into()
            }
        })?),
        None => None,
    };
    let descending = q.check_sort()?;
    // Index fast path for `userName eq` and `email eq`.
    let matched: Vec<&User> = match filter.as_ref().and_then(Filter::as_eq) {
        Some(("username", v)) => store.by_name.get(v).map(|&i| vec![&store.users[i]]).unwrap_or_default(),
        Some(("email" | "emails" | "emails.value", v)) => {
            store.by_email.get(v).map(|&i| vec![&store.users[i]]).unwrap_or_default()
        }
        _ => match &filter {
            None => store.users.iter().collect(),
            Some(f) => {
                let mut out = Vec::new();
                for u in &store.users {
                    if f.matches(&|a| attr_values(u, a, now))? {
                        out.push(u);
                    }
                }
                out
            }
        },
    };
    let total = matched.len();
    let iter: Box<dyn Iterator<Item = &&User>> =
        if descending { Box::new(matched.iter().rev()) } else { Box::new(matched.iter()) };
    let page: Vec<Value> =
        iter.skip(q.start_index.saturating_sub(1)).take(q.count).map(|u| store.render(u, version, base, now)).collect();
    Ok((200, Some(list_envelope(version, total, q.start_index, page))))
}

/// `GET /Users/{id}`.
pub fn get(store: &Store, version: Version, base: &str, id: &str, now: Instant) -> Reply {
    Store::decode_user_id(id)?;
    let u = store.user(id).ok_or(Code::NoSuchUser)?;
    Ok((200, Some(store.render(u, version, base, now))))
}

fn object(body: &Value) -> Result<&serde_json::Map<String, Value>, SimError> {
    body.as_object().ok_or_else(|| Code::InvalidRequestPayload.into())
}

/// `POST /Users`.
pub fn create(store: &mut Store, version: Version, base: &str, body: &Value, now: Instant) -> Reply {
    require_schemas(body)?;
    let id = store.create_user(object(body)?, now)?;
    get(store, version, base, &id, now).map(|(_, b)| (201, b))
}

/// `PUT /Users/{id}`.
pub fn put(store: &mut Store, version: Version, base: &str, id: &str, body: &Value, now: Instant) -> Reply {
    require_schemas(body)?;
    let obj = object(body)?.clone();
    if let (Some(Value::String(u)), Some(Value::String(n))) = (obj.get("userName"), obj.get("nickName")) {
        // userName and nickName mirror each other; when both differ, nickName wins (documented choice).
        let _ = (u, n);
    }
    store.update_user(id, Mode::Put, now, |u, fx| {
        let mut ordered = obj.clone();
        // Apply userName first so a differing nickName wins.
        if let Some(n) = ordered.remove("nickName") {
            ordered.insert("nickName".into(), n);
        }
        u.apply_object(&ordered, Mode::Put, fx)
    })?;
    get(store, version, base, id, now)
}

/// `PATCH /Users/{id}`.
pub fn patch(store: &mut Store, version: Version, base: &str, id: &str, body: &Value, now: Instant) -> Reply {
    require_schemas(body)?;
    match version {
        Version::V1 => {
            let obj = object(body)?.clone();
            store.update_user(id, Mode::Patch, now, |u, fx| {
                if let Some(attrs) = obj.get("meta").and_then(|m| m.get("attributes")).and_then(Value::as_array) {
                    for a in attrs {
                        let path = a.as_str().ok_or(Code::InvalidAttributeFormat)?;
                        u.remove_path(path, None)?;
                    }
                }
                u.apply_object(&obj, Mode::Patch, fx)
            })?;
        }
        Version::V2 => {
            let is_patch_op =
                body["schemas"].as_array().is_some_and(|a| a.iter().any(|s| s.as_str() == Some(PATCH_V2)));
            if !is_patch_op {
                return Err(Code::MissingSchemaElement.into());
            }
            let ops = body.get("Operations").and_then(Value::as_array).ok_or(Code::InvalidRequestPayload)?.clone();
            store.update_user(id, Mode::Patch, now, |u, fx| {
                for op in &ops {
                    let kind = op.get("op").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
                    let path = op.get("path").and_then(Value::as_str);
                    let value = op.get("value");
                    match (kind.as_str(), path) {
                        ("add" | "replace", Some(p)) => {
                            u.set_path(p, value.ok_or(Code::InvalidRequestPayload)?, kind == "replace", fx)?
                        }
                        ("add" | "replace", None) => {
                            let obj = value.and_then(Value::as_object).ok_or(Code::InvalidRequestPayload)?;
                            u.apply_object(obj, Mode::Patch, fx)?
                        }
                        ("remove", Some(p)) => u.remove_path(p, value)?,
                        _ => return Err(Code::InvalidRequestPayload.into()),
                    }
                }
                Ok(())
            })?;
        }
    }
    get(store, version, base, id, now)
}

/// `DELETE /Users/{id}`: deactivates; v1 answers 200, v2 204, both without a body.
pub fn delete(store: &mut Store, version: Version, id: &str, now: Instant) -> Reply {
    store.deactivate_user(id, now)?;
    Ok((if version == Version::V1 { 200 } else { 204 }, None))
}
