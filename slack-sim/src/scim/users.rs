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

/// A page of `GET /Users`, copied out of the store: it is rendered once the store is released, so a
/// list read does not hold the writes that arrive meanwhile back (Slack does not).
pub struct UserPage {
    total: usize,
    start: usize,
    /// Each user with its groups (id, display name).
    users: Vec<(User, Vec<(String, String)>)>,
    now: Instant,
}

impl UserPage {
    /// The list response.
    pub fn render(&self, version: Version, base: &str) -> Value {
        let page = self
            .users
            .iter()
            .map(|(u, groups)| crate::model::render_user(u, version, base, "sim", groups, self.now))
            .collect();
        list_envelope(version, self.total, self.start, page)
    }
}

/// `GET /Users`: the page the query selects (render it with [`UserPage::render`]).
pub fn page(store: &Store, q: &ListQuery, now: Instant) -> Result<UserPage, SimError> {
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
    let users = iter
        .skip(q.start_index.saturating_sub(1))
        .take(q.count)
        .map(|u| ((*u).clone(), store.groups_of(&u.id)))
        .collect();
    Ok(UserPage { total, start: q.start_index, users, now })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Seed, SeedUser};
    use std::time::Duration;

    #[test]
    fn a_page_is_rendered_from_its_own_copy_after_the_store_has_moved_on() {
        let mut store = Store::new(Duration::ZERO);
        let now = Instant::now();
        let user = SeedUser::named;
        store.seed(Seed { users: vec![user("ann"), user("bob"), user("cy")], ..Seed::default() }, now).unwrap();
        let q = ListQuery { start_index: 2, count: 2, filter: None, sort_order: None };
        let page = page(&store, &q, now).unwrap();
        // The store changes (here: a user erased) between the copy and the render.
        let first = store.users[0].id.clone();
        assert!(store.erase_user(&first));
        let v = page.render(Version::V2, "http://sim");
        assert_eq!(v["totalResults"], store.users.len() + 1, "the total as of the copy");
        assert_eq!((v["startIndex"].as_u64(), v["itemsPerPage"].as_u64()), (Some(2), Some(2)));
        assert_eq!(v["schemas"][0], crate::model::LIST_V2);
        let names: Vec<&str> =
            v["Resources"].as_array().unwrap().iter().filter_map(|u| u["userName"].as_str()).collect();
        let expected: Vec<String> = store.users.iter().take(2).map(|u| u.user_name.clone()).collect();
        assert_eq!(names, expected, "the second and third users of the copy (the first is erased since)");
        let v1 = page.render(Version::V1, "http://sim");
        assert_eq!(v1["schemas"][0], crate::model::CORE_V1);
        assert_eq!(v1["Resources"].as_array().map(Vec::len), Some(2));
    }
}
