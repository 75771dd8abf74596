//! The `search` operation: paged reads of Slack's users and groups, optionally filtered by one
//! attribute.

use crate::attributes::from_scim;
use crate::client::Failure;
use crate::pacing::Endpoint;
use crate::Connection;
use connector_abi::payload::*;
use reqwest::Method;
use serde_json::Value;

/// Reads one page of users or groups.
pub async fn search(conn: &Connection, r: SearchRequest) -> Result<SearchPage, ErrorInfo> {
    let start: usize = match &r.cookie {
        Some(c) => c.parse().map_err(|_| ErrorInfo::new(ErrorKind::Configuration, "invalid search cookie"))?,
        None => 1,
    };
    let count = r.page_size.clamp(1, 1000);
    let resource = match r.object_class {
        ObjectClass::User => "Users",
        ObjectClass::Group => "Groups",
    };
    let mut path = format!("/{resource}?startIndex={start}&count={count}");
    if let Some(f) = &r.filter {
        let attr = match (r.object_class, f.attribute.as_str()) {
            (ObjectClass::User, "userName") => "userName",
            (ObjectClass::User, "primaryEmail" | "email") => "email",
            (ObjectClass::Group, "displayName") => "displayName",
            (_, other) => {
                return Err(ErrorInfo::new(ErrorKind::Configuration, format!("cannot search {resource} by `{other}`")));
            }
        };
        let expr = format!("{attr} eq {}", serde_json::to_string(&f.value).unwrap_or_default());
        path.push_str("&filter=");
        path.push_str(&url::form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>());
    }
    let a = conn
        .client
        .send(Method::GET, &path, None, Endpoint::List, true)
        .await
        .map_err(|f: Failure| f.to_error_info())?;
    let total = a.body.get("totalResults").and_then(Value::as_u64).unwrap_or(0);
    let resources = a.body.get("Resources").and_then(Value::as_array).cloned().unwrap_or_default();
    let objects: Vec<TargetObject> = resources
        .iter()
        .filter_map(|o| {
            let id = o.get("id")?.as_str()?.to_owned();
            Some(match r.object_class {
                ObjectClass::User => TargetObject {
                    target_id: id,
                    attributes: from_scim(o),
                    active: o.get("active").and_then(Value::as_bool),
                    members: Vec::new(),
                },
                ObjectClass::Group => {
                    let mut attrs = Attributes::new();
                    attrs.insert("displayName".into(), o.get("displayName").cloned().unwrap_or(Value::Null));
                    TargetObject {
                        target_id: id,
                        attributes: attrs,
                        active: None,
                        members: o
                            .get("members")
                            .and_then(Value::as_array)
                            .map(|m| {
                                m.iter()
                                    .filter_map(|x| x.get("value").and_then(Value::as_str).map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                }
            })
        })
        .collect();
    let next = start + objects.len();
    Ok(SearchPage {
        v: PAYLOAD_VERSION,
        next_cookie: (!objects.is_empty() && (next as u64) <= total).then(|| next.to_string()),
        total: Some(total),
        objects,
    })
}
