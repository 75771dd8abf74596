//! Group records: create, rename, delete; membership by PATCH in chunks (never by rewriting the whole
//! group when a few members change), with Merge or Overwrite handling.

use crate::attributes::{text, CORE_GROUP_V2, CORE_V1, PATCH_OP};
use crate::client::Failure;
use crate::pacing::Endpoint;
use crate::settings::{ApiVersion, MembershipHandling};
use crate::Connection;
use connector_abi::payload::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// Members per create/PATCH call (Slack accepts 15,000; it recommends at most 5,000).
pub const MEMBER_CHUNK: usize = 5_000;

struct Current {
    name: String,
    members: BTreeSet<String>,
}

fn members_of(body: &Value) -> BTreeSet<String> {
    body.get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Slack's code for a member it refuses in a group (a multi-channel guest or a deactivated account).
const REFUSED_MEMBER: &str = "unable_to_add_deleted_or_guest_to_group";

impl Connection {
    fn group_schema(&self) -> &'static str {
        match self.settings.api_version {
            ApiVersion::V1 => CORE_V1,
            ApiVersion::V2 => CORE_GROUP_V2,
        }
    }

    async fn get_group(&self, id: &str) -> Result<Option<Current>, Failure> {
        match self.client.send(Method::GET, &format!("/Groups/{id}"), None, Endpoint::GroupGet, true).await {
            Ok(a) => Ok(Some(Current {
                name: a.body.get("displayName").and_then(Value::as_str).unwrap_or_default().to_owned(),
                members: members_of(&a.body),
            })),
            Err(f) if f.code() == Some("no_such_group") => Ok(None),
            Err(f) => Err(f),
        }
    }

    async fn find_group(&self, name: &str) -> Result<Option<String>, Failure> {
        let f = format!("displayName eq {}", serde_json::to_string(name).unwrap_or_default());
        let path = format!(
            "/Groups?filter={}&count=10",
            url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
        );
        let a = self.client.send(Method::GET, &path, None, Endpoint::List, true).await?;
        Ok(a.body
            .get("Resources")
            .and_then(Value::as_array)
            .and_then(|rs| {
                rs.iter().find(|g| {
                    g.get("displayName").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            })
            .and_then(|g| g.get("id").and_then(Value::as_str).map(str::to_owned)))
    }

    async fn patch_group(
        &self,
        id: &str,
        rename: Option<&str>,
        add: &[String],
        remove: &[String],
    ) -> Result<(), Failure> {
        let mut first = true;
        let (mut add, mut remove) = (add.chunks(MEMBER_CHUNK), remove.chunks(MEMBER_CHUNK));
        loop {
            let (a, r) = (add.next().unwrap_or(&[]), remove.next().unwrap_or(&[]));
            let name = if first { rename } else { None };
            if a.is_empty() && r.is_empty() && name.is_none() {
                return Ok(());
            }
            first = false;
            let body = match self.settings.api_version {
                ApiVersion::V1 => {
                    let mut members: Vec<Value> = a.iter().map(|m| json!({"value": m})).collect();
                    members.extend(r.iter().map(|m| json!({"value": m, "operation": "delete"})));
                    let mut b = json!({"schemas": [CORE_V1]});
                    if !members.is_empty() {
                        b["members"] = Value::Array(members);
                    }
                    if let Some(n) = name {
                        b["displayName"] = json!(n);
                    }
                    b
                }
                ApiVersion::V2 => {
                    let mut ops = Vec::new();
                    if let Some(n) = name {
                        ops.push(json!({"op": "replace", "path": "displayName", "value": n}));
                    }
                    if !a.is_empty() {
                        ops.push(json!({"op": "add", "path": "members", "value": a.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()}));
                    }
                    if !r.is_empty() {
                        ops.push(json!({"op": "remove", "path": "members", "value": r.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()}));
                    }
                    json!({"schemas": [PATCH_OP], "Operations": ops})
                }
            };
            self.client.send(Method::PATCH, &format!("/Groups/{id}"), Some(&body), Endpoint::GroupUpdate, true).await?;
        }
    }

    /// Adds members one at a time, skipping those Slack refuses as guests or deactivated accounts
    /// (`unable_to_add_deleted_or_guest_to_group`): one warning each, naming the Slack id.
    async fn add_members_one_by_one(&self, id: &str, add: &[String]) -> Result<Vec<String>, Failure> {
        let mut warnings = Vec::new();
        for m in add {
            match self.patch_group(id, None, std::slice::from_ref(m), &[]).await {
                Ok(()) => {}
                Err(f) if f.code() == Some(REFUSED_MEMBER) => warnings.push(format!(
                    "member {m} was not added: Slack takes only active full members into groups (a multi-channel guest or a deactivated account)"
                )),
                Err(f) => return Err(f),
            }
        }
        Ok(warnings)
    }

    async fn create_group(
        &self,
        r: &Record,
        name: &str,
        desired: &BTreeSet<String>,
        warnings: Vec<String>,
    ) -> RecordResult {
        let all: Vec<String> = desired.iter().cloned().collect();
        let (first, rest) = all.split_at(all.len().min(MEMBER_CHUNK));
        let body = json!({"schemas": [self.group_schema()], "displayName": name,
                          "members": first.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()});
        let mut warnings = warnings;
        let mut rest = rest.to_vec();
        let created = match self.client.send(Method::POST, "/Groups", Some(&body), Endpoint::GroupCreate, false).await {
            Ok(a) => a.body.get("id").and_then(Value::as_str).map(str::to_owned),
            // A guest among the members: create the group empty, then add members one by one.
            Err(f) if f.code() == Some(REFUSED_MEMBER) => {
                let empty = json!({"schemas": [self.group_schema()], "displayName": name, "members": []});
                match self.client.send(Method::POST, "/Groups", Some(&empty), Endpoint::GroupCreate, false).await {
                    Ok(a) => {
                        let id = a.body.get("id").and_then(Value::as_str).map(str::to_owned);
                        if let Some(id) = &id {
                            match self.add_members_one_by_one(id, &all).await {
                                Ok(w) => warnings.extend(w),
                                Err(f) => {
                                    let mut res = RecordResult::failed(r, f.to_error_info());
                                    res.target_id = Some(id.clone());
                                    return res;
                                }
                            }
                        }
                        rest.clear();
                        id
                    }
                    Err(f) => return RecordResult::failed(r, f.to_error_info()),
                }
            }
            Err(f) if f.maybe_applied() => match self.find_group(name).await {
                Ok(Some(id)) => Some(id),
                _ => return RecordResult::failed(r, f.to_error_info()),
            },
            Err(f) => return RecordResult::failed(r, f.to_error_info()),
        };
        let Some(id) = created else {
            return RecordResult::failed(
                r,
                ErrorInfo::new(ErrorKind::Other, "Slack created the group but returned no id").retryable(),
            );
        };
        if let Err(f) = self.patch_group(&id, None, &rest, &[]).await {
            let mut res = RecordResult::failed(r, f.to_error_info());
            res.target_id = Some(id);
            return res;
        }
        let mut res = RecordResult::of(r, Outcome::Created, Some(id));
        res.warnings = warnings;
        res
    }

    /// One group record; `member_ids` maps source ids to Slack ids learnt in this batch.
    pub async fn group_record(&self, r: &Record, member_ids: &HashMap<String, String>) -> RecordResult {
        if !self.settings.group_provisioning {
            let mut res = RecordResult::of(r, Outcome::Skipped, r.target_id.clone());
            res.warnings.push("Group Provisioning is off".into());
            return res;
        }
        let name = text(r.attributes.get("displayName"));
        if r.event != Event::Upsert {
            let id = match (&r.target_id, &name) {
                (Some(id), _) => Some(id.clone()),
                (None, Some(n)) => match self.find_group(n).await {
                    Ok(id) => id,
                    Err(f) => return RecordResult::failed(r, f.to_error_info()),
                },
                (None, None) => None,
            };
            let Some(id) = id else {
                return RecordResult::of(r, Outcome::Skipped, None);
            };
            return match self
                .client
                .send(Method::DELETE, &format!("/Groups/{id}"), None, Endpoint::GroupDelete, true)
                .await
            {
                Ok(_) => RecordResult::of(r, Outcome::Deleted, Some(id)),
                Err(f) if f.code() == Some("no_such_group") => RecordResult::of(r, Outcome::Skipped, Some(id)),
                Err(f) => RecordResult::failed(r, f.to_error_info()),
            };
        }
        let Some(name) = name else {
            return RecordResult::failed(r, ErrorInfo::new(ErrorKind::InvalidAttribute, "a group needs a displayName"));
        };
        let mut warnings = Vec::new();
        let resolve = |m: &MemberRef| m.target_id.clone().or_else(|| member_ids.get(&m.source_id).cloned());
        let mut desired = BTreeSet::new();
        for m in &r.members {
            match resolve(m) {
                Some(id) => {
                    desired.insert(id);
                }
                None => warnings.push(format!("member {} has no Slack account yet; not added", m.source_id)),
            }
        }
        let previous: Option<BTreeSet<String>> =
            r.previous_members.as_ref().map(|p| p.iter().filter_map(resolve).collect());

        let target = match &r.target_id {
            Some(id) => Some(id.clone()),
            None => match self.find_group(&name).await {
                Ok(id) => id,
                Err(f) => return RecordResult::failed(r, f.to_error_info()),
            },
        };
        let Some(id) = target else {
            return self.create_group(r, &name, &desired, warnings).await;
        };
        // Read Slack's members when Overwrite needs them, when Merge has no record of what it added,
        // or when the host does not say what changed.
        let need_read =
            self.settings.membership == MembershipHandling::Overwrite || previous.is_none() || r.changed.is_none();
        let (add, remove, rename): (Vec<String>, Vec<String>, Option<String>) = if need_read {
            let current = match self.get_group(&id).await {
                Ok(Some(c)) => c,
                Ok(None) => return self.create_group(r, &name, &desired, warnings).await,
                Err(f) => return RecordResult::failed(r, f.to_error_info()),
            };
            let add = desired.difference(&current.members).cloned().collect();
            let remove = match (self.settings.membership, &previous) {
                (MembershipHandling::Overwrite, _) => current.members.difference(&desired).cloned().collect(),
                (MembershipHandling::Merge, Some(p)) => {
                    p.difference(&desired).filter(|m| current.members.contains(*m)).cloned().collect()
                }
                (MembershipHandling::Merge, None) => Vec::new(),
            };
            (add, remove, (current.name != name).then_some(name.clone()))
        } else {
            let p = previous.unwrap_or_default();
            let renamed = r.changed.as_ref().is_some_and(|c| c.iter().any(|x| x == "displayName"));
            (
                desired.difference(&p).cloned().collect(),
                p.difference(&desired).cloned().collect(),
                renamed.then_some(name.clone()),
            )
        };
        if add.is_empty() && remove.is_empty() && rename.is_none() {
            let mut res = RecordResult::of(r, Outcome::Unchanged, Some(id));
            res.warnings = warnings;
            return res;
        }
        match self.patch_group(&id, rename.as_deref(), &add, &remove).await {
            Ok(()) => {
                let mut res = RecordResult::of(r, Outcome::Updated, Some(id));
                res.warnings = warnings;
                res
            }
            Err(f) if f.code() == Some("no_such_group") => self.create_group(r, &name, &desired, warnings).await,
            // A guest (or a deactivated account) among the additions: apply the rest, then add one by one.
            Err(f) if f.code() == Some(REFUSED_MEMBER) => {
                let applied = match self.patch_group(&id, rename.as_deref(), &[], &remove).await {
                    Ok(()) => self.add_members_one_by_one(&id, &add).await,
                    Err(f) => Err(f),
                };
                match applied {
                    Ok(w) => {
                        warnings.extend(w);
                        let mut res = RecordResult::of(r, Outcome::Updated, Some(id));
                        res.warnings = warnings;
                        res
                    }
                    Err(f) => {
                        let mut res = RecordResult::failed(r, f.to_error_info());
                        res.target_id = Some(id);
                        res
                    }
                }
            }
            Err(f) => {
                let mut res = RecordResult::failed(r, f.to_error_info());
                res.target_id = Some(id);
                res
            }
        }
    }
}
