//! `/Groups`: list, get, create, replace, patch (v1 `operation: delete`, v2 PatchOp on members), delete.

use super::filter;
use super::{list_envelope, require_schemas, ListQuery, Reply};
use crate::errors::{Code, SimError};
use crate::model::{pacific_timestamp, split_value_path, Version, CORE_GROUP_V2, CORE_V1};
use crate::store::{Group, Store};
use indexmap::IndexSet;
use serde_json::{json, Value};
use std::time::Instant;

fn render(store: &Store, g: &Group, version: Version, base: &str) -> Value {
    let (schema, vpath) = match version {
        Version::V1 => (CORE_V1, "v1"),
        Version::V2 => (CORE_GROUP_V2, "v2"),
    };
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|m| {
            let display = store.user(m).map(|u| u.display_name.clone()).unwrap_or_default();
            json!({"value": m, "display": display})
        })
        .collect();
    json!({
        "schemas": [schema],
        "id": g.id,
        "meta": {"created": pacific_timestamp(g.created), "location": format!("{base}/scim/{vpath}/Groups/{}", g.id)},
        "displayName": g.display_name,
        "members": members,
    })
}

/// `GET /Groups` (filters on `displayName`).
pub fn list(store: &Store, version: Version, base: &str, q: &ListQuery) -> Reply {
    let f = match &q.filter {
        Some(f) => Some(filter::parse(f)?),
        None => None,
    };
    let descending = q.check_sort()?;
    let mut matched = Vec::new();
    for g in store.groups.values() {
        let ok = match &f {
            None => true,
            Some(f) => f.matches(&|a| match a {
                "displayname" => Ok(vec![g.display_name.to_lowercase()]),
                "id" => Ok(vec![g.id.to_lowercase()]),
                _ => Err(Code::InvalidQuery),
            })?,
        };
        if ok {
            matched.push(g);
        }
    }
    if descending {
        matched.reverse();
    }
    let total = matched.len();
    let page = matched.iter().skip(q.start_index - 1).take(q.count).map(|g| render(store, g, version, base)).collect();
    Ok((200, Some(list_envelope(version, total, q.start_index, page))))
}

/// `GET /Groups/{id}`.
pub fn get(store: &Store, version: Version, base: &str, id: &str) -> Reply {
    let g = store.groups.get(id).ok_or(Code::NoSuchGroup)?;
    Ok((200, Some(render(store, g, version, base))))
}

fn member_ids(v: Option<&Value>) -> Result<IndexSet<String>, SimError> {
    let Some(v) = v else {
        return Ok(IndexSet::new());
    };
    let arr = v.as_array().ok_or(Code::InvalidRequestPayload)?;
    arr.iter()
        .map(|m| match m {
            Value::String(s) => Ok(s.clone()),
            Value::Object(o) => {
                o.get("value").and_then(Value::as_str).map(str::to_owned).ok_or(Code::InvalidRequestPayload.into())
            }
            _ => Err(Code::InvalidRequestPayload.into()),
        })
        .collect()
}

/// `POST /Groups`.
pub fn create(store: &mut Store, version: Version, base: &str, body: &Value, now: Instant) -> Reply {
    require_schemas(body)?;
    let name = body.get("displayName").and_then(Value::as_str).ok_or(Code::GroupCreationFailed)?;
    let members = member_ids(body.get("members"))?;
    let id = store.create_group(name, members, now)?;
    get(store, version, base, &id).map(|(_, b)| (201, b))
}

/// `PUT /Groups/{id}`: replaces the name and all members (absent `members` means none).
pub fn put(store: &mut Store, version: Version, base: &str, id: &str, body: &Value, now: Instant) -> Reply {
    require_schemas(body)?;
    let name = body.get("displayName").and_then(Value::as_str).map(str::to_owned);
    let members = member_ids(body.get("members"))?;
    store.update_group(id, name, Some(members), now)?;
    get(store, version, base, id)
}

/// `PATCH /Groups/{id}`: v1 answers 204, v2 200 with the group.
pub fn patch(store: &mut Store, version: Version, base: &str, id: &str, body: &Value, now: Instant) -> Reply {
    require_schemas(body)?;
    let current = store.groups.get(id).ok_or(Code::NoSuchGroup)?.members.clone();
    let mut members = current.clone();
    let mut name = None;
    match version {
        Version::V1 => {
            if let Some(n) = body.get("displayName").and_then(Value::as_str) {
                name = Some(n.to_owned());
            }
            if let Some(arr) = body.get("members").and_then(Value::as_array) {
                for m in arr {
                    let v = m.get("value").and_then(Value::as_str).ok_or(Code::InvalidRequestPayload)?.to_owned();
                    let delete =
                        m.get("operation").and_then(Value::as_str).is_some_and(|o| o.eq_ignore_ascii_case("delete"));
                    if delete {
                        members.shift_remove(&v);
                    } else {
                        members.insert(v);
                    }
                }
            }
        }
        Version::V2 => {
            let ops = body.get("Operations").and_then(Value::as_array).ok_or(Code::InvalidRequestPayload)?;
            for op in ops {
                let kind = op.get("op").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
                let path = op.get("path").and_then(Value::as_str);
                let value = op.get("value");
                match (kind.as_str(), path) {
                    ("replace" | "add", Some("displayName")) => {
                        name = Some(value.and_then(Value::as_str).ok_or(Code::InvalidRequestPayload)?.to_owned())
                    }
                    ("replace", Some("members")) => members = member_ids(value)?,
                    ("add", Some("members")) => members.extend(member_ids(value)?),
                    ("remove", Some("members")) => match value {
                        Some(v) => {
                            for m in member_ids(Some(v))? {
                                members.shift_remove(&m);
                            }
                        }
                        None => members.clear(),
                    },
                    ("remove", Some(p)) if p.starts_with("members[") => match split_value_path(p).1 {
                        Some((k, v)) if k == "value" => {
                            members.shift_remove(&v);
                        }
                        _ => return Err(Code::InvalidRequestPayload.into()),
                    },
                    ("add" | "replace", None) => {
                        let obj = value.and_then(Value::as_object).ok_or(Code::InvalidRequestPayload)?;
                        if let Some(n) = obj.get("displayName").and_then(Value::as_str) {
                            name = Some(n.to_owned());
                        }
                        if obj.contains_key("members") {
                            let ms = member_ids(obj.get("members"))?;
                            if kind == "replace" {
                                members = ms;
                            } else {
                                members.extend(ms);
                            }
                        }
                    }
                    _ => return Err(Code::InvalidRequestPayload.into()),
                }
            }
        }
    }
    let changed_members = if members != current { Some(members) } else { None };
    store.update_group(id, name, changed_members, now)?;
    match version {
        Version::V1 => Ok((204, None)),
        Version::V2 => get(store, version, base, id),
    }
}

/// `DELETE /Groups/{id}`: permanent; 204.
pub fn delete(store: &mut Store, id: &str) -> Reply {
    store.delete_group(id)?;
    Ok((204, None))
}
