//! User records: upsert (match, create, update only what changed, reactivate), disable and delete,
//! following the provisioning options; duplicate-safe creates.

use crate::attributes::{self, attribute, differs, from_scim, patch_body, patch_is_empty, text};
use crate::client::Failure;
use crate::matching::{self, Found};
use crate::pacing::Endpoint;
use crate::settings::{ApiVersion, RemoveUserAction, UniqueIdentifier};
use crate::Connection;
use connector_abi::payload::*;
use reqwest::Method;
use serde_json::{json, Value};

fn fail(r: &Record, f: &Failure) -> RecordResult {
    RecordResult::failed(r, f.to_error_info())
}

fn result(r: &Record, outcome: Outcome, id: &str) -> RecordResult {
    RecordResult::of(r, outcome, Some(id.to_owned()))
}

fn skipped(r: &Record, id: Option<String>, why: &str) -> RecordResult {
    let mut res = RecordResult::of(r, Outcome::Skipped, id);
    res.warnings.push(why.to_owned());
    res
}

fn looks_like_user_id(v: &str) -> bool {
    v.len() >= 3
        && matches!(v.as_bytes()[0], b'U' | b'W')
        && v.bytes().skip(1).all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl Connection {
    fn key(&self, r: &Record) -> Option<String> {
        matching::key_of(&r.attributes, self.settings.unique_identifier)
    }

    /// Finds the Slack user of a record without a target id.
    async fn find(&self, r: &Record) -> Result<Option<Found>, Failure> {
        let Some(key) = self.key(r) else {
            return Ok(None);
        };
        {
            let idx = self.index.lock().await;
            if let Some(f) = idx.get(&key) {
                return Ok(Some(f.clone()));
            }
            if idx.fresh() {
                return Ok(None);
            }
        }
        let f = matching::lookup(&self.client, self.settings.unique_identifier, &key).await?;
        if let Some(found) = &f {
            self.index.lock().await.note(Some(key), found.clone());
        }
        Ok(f)
    }

    async fn get_user(&self, id: &str) -> Result<Option<Found>, Failure> {
        match self.client.send(Method::GET, &format!("/Users/{id}"), None, Endpoint::UserGet, true).await {
            Ok(a) => Ok(Some(Found {
                id: id.to_owned(),
                active: a.body.get("active").and_then(Value::as_bool).unwrap_or(true),
                attrs: Some(from_scim(&a.body)),
            })),
            Err(f) if matches!(f.code(), Some("no_such_user" | "unknown_user")) => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// Names of the supported attributes whose desired value differs from Slack's.
    fn diff(&self, desired: &Attributes, current: &Attributes) -> Vec<&'static str> {
        attributes::USER_ATTRIBUTES
            .iter()
            .filter(|a| a.updateable)
            .filter(|a| {
                let d = text(desired.get(a.name));
                let c = text(current.get(a.name));
                if a.name == "manager" && d.as_deref().is_some_and(|v| !looks_like_user_id(v)) && c.is_some() {
                    // Slack stores the manager's id; a desired email/userName cannot be compared offline.
                    return false;
                }
                // Only attributes the channel maps are compared: an unmapped attribute is left alone.
                desired.contains_key(a.name) && differs(a.name, d.as_deref(), c.as_deref())
            })
            .map(|a| a.name)
            .collect()
    }

    async fn patch(&self, id: &str, body: &Value) -> Result<(), Failure> {
        self.client
            .send(Method::PATCH, &format!("/Users/{id}"), Some(body), Endpoint::UserUpdate, true)
            .await
            .map(|_| ())
    }

    async fn set_active(&self, id: &str, active: bool) -> Result<(), Failure> {
        let body = match self.settings.api_version {
            ApiVersion::V1 => json!({"schemas": [attributes::CORE_V1], "active": active}),
            ApiVersion::V2 => {
                json!({"schemas": [attributes::PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": active}]})
            }
        };
        self.patch(id, &body).await
    }

    async fn note(&self, r: &Record, id: &str, active: bool) {
        self.index.lock().await.note(self.key(r), Found { id: id.to_owned(), active, attrs: None });
    }

    /// Brings an existing Slack user in step: PATCH only what differs, reactivating if needed.
    async fn update_existing(&self, r: &Record, found: Found) -> RecordResult {
        let (current, active) = match found.attrs {
            Some(a) => (a, found.active),
            // Read the user: the index may be stale about attributes and about `active`.
            None => match self.get_user(&found.id).await {
                Ok(Some(f)) => (f.attrs.unwrap_or_default(), f.active),
                Ok(None) => return Box::pin(self.create(r)).await,
                Err(f) => return fail(r, &f),
            },
        };
        let changed = self.diff(&r.attributes, &current);
        self.apply_changes(r, &found.id, &changed, !active).await
    }

    async fn apply_changes(&self, r: &Record, id: &str, changed: &[&str], reactivate: bool) -> RecordResult {
        if !self.settings.user_update {
            if changed.is_empty() && !reactivate {
                return result(r, Outcome::Unchanged, id);
            }
            return skipped(
                r,
                Some(id.to_owned()),
                "User Update is off: the Slack user differs from the source but was left as is",
            );
        }
        if changed.contains(&"primaryEmail") && text(r.attributes.get("primaryEmail")).is_none() {
            return RecordResult::failed(
                r,
                ErrorInfo::new(
                    ErrorKind::InvalidAttribute,
                    "primaryEmail cannot be cleared: Slack requires a primary email",
                ),
            );
        }
        if changed.contains(&"userName") && text(r.attributes.get("userName")).is_none() {
            return RecordResult::failed(
                r,
                ErrorInfo::new(ErrorKind::InvalidAttribute, "userName cannot be cleared: Slack requires a username"),
            );
        }
        let body = patch_body(&r.attributes, changed, reactivate.then_some(true), self.settings.api_version);
        if patch_is_empty(&body) {
            return result(r, Outcome::Unchanged, id);
        }
        match self.patch(id, &body).await {
            Ok(()) => {
                self.note(r, id, true).await;
                result(r, if reactivate { Outcome::Reactivated } else { Outcome::Updated }, id)
            }
            Err(f) => fail(r, &f),
        }
    }

    /// POST, safe against lost answers: after a failure that may have been applied, look the user up
    /// before trying again, so a retry never creates a duplicate.
    async fn create(&self, r: &Record) -> RecordResult {
        self.create_linking(r, true).await
    }

    /// `create`; with `link_existing` false (a disabled user the host never provisioned), an account that
    /// already holds the identifier is never linked or changed: the create fails with who holds it.
    async fn create_linking(&self, r: &Record, link_existing: bool) -> RecordResult {
        if !self.settings.user_create {
            return skipped(r, None, "User Create is off: the user is not in Slack and was not created");
        }
        let body = attributes::create_body(&r.attributes, self.settings.api_version);
        let mut attempts = 0;
        loop {
            match self.client.send(Method::POST, "/Users", Some(&body), Endpoint::UserCreate, false).await {
                Ok(a) => {
                    let Some(id) = a.body.get("id").and_then(Value::as_str).map(str::to_owned) else {
                        return RecordResult::failed(
                            r,
                            ErrorInfo::new(ErrorKind::Other, "Slack created the user but returned no id").retryable(),
                        );
                    };
                    self.note(r, &id, true).await;
                    return result(r, Outcome::Created, &id);
                }
                Err(f) if matches!(f.code(), Some("email_taken" | "username_taken")) => {
                    return self.conflict(r, &f, link_existing).await
                }
                Err(f) if link_existing && f.maybe_applied() && attempts < self.settings.max_retries => {
                    attempts += 1;
                    let Some(key) = self.key(r) else { return fail(r, &f) };
                    match matching::lookup(&self.client, self.settings.unique_identifier, &key).await {
                        Ok(Some(found)) => {
                            // The lost POST did create it: link, then make sure it matches.
                            let mut res = self.update_existing(r, found).await;
                            if res.outcome == Outcome::Unchanged || res.outcome == Outcome::Updated {
                                res.outcome = Outcome::Created;
                            }
                            res.warnings
                                .push("Slack's answer to the create was lost; the user was found and linked".into());
                            return res;
                        }
                        Ok(None) => continue,
                        Err(_) => continue,
                    }
                }
                Err(f) => return fail(r, &f),
            }
        }
    }

    /// A create hit `email_taken`/`username_taken`: link when the holder is this record's user (same
    /// unique identifier), otherwise explain who holds it.
    async fn conflict(&self, r: &Record, f: &Failure, link_existing: bool) -> RecordResult {
        if let Some(key) = self.key(r).filter(|_| link_existing) {
            if let Ok(Some(found)) = matching::lookup(&self.client, self.settings.unique_identifier, &key).await {
                self.note(r, &found.id, found.active).await;
                return self.update_existing(r, found).await;
            }
        }
        let mut info = f.to_error_info();
        if f.code() == Some("email_taken") {
            if let Some(email) = text(r.attributes.get("primaryEmail")) {
                if let Ok(Some(holder)) =
                    matching::lookup(&self.client, UniqueIdentifier::PrimaryEmail, &email.to_lowercase()).await
                {
                    // Ids only: the email and the holder's userName are values, which never go into a message.
                    let state = if holder.active { "active" } else { "deactivated" };
                    info.message = format!(
                        "the email is held by the {state} Slack user {}; Slack refuses duplicate emails even for deactivated accounts. Change that account's email in Slack, or set Unique User Identifier to primaryEmail so the connector reactivates and updates it.",
                        holder.id
                    );
                }
            }
        }
        RecordResult::failed(r, info)
    }

    /// One user record.
    pub async fn user_record(&self, r: &Record) -> RecordResult {
        match r.event {
            Event::Upsert => self.upsert(r).await,
            Event::Disable => self.deprovision(r, RemoveUserAction::Disable, true).await,
            Event::Delete => self.deprovision(r, self.settings.remove_user_action, false).await,
        }
    }

    async fn upsert(&self, r: &Record) -> RecordResult {
        if let Some(id) = &r.target_id {
            if let Some(changed) = &r.changed {
                // The host knows what changed: one PATCH, no read.
                let reactivate = changed.iter().any(|c| c == "active");
                let names: Vec<&str> = changed.iter().map(String::as_str).filter(|c| attribute(c).is_some()).collect();
                let res = self.apply_changes(r, id, &names, reactivate).await;
                if res.error.as_ref().and_then(|e| e.code.as_deref()) != Some("no_such_user") {
                    return res;
                }
            } else {
                match self.get_user(id).await {
                    Ok(Some(found)) => return self.update_existing(r, found).await,
                    Ok(None) => {}
                    Err(f) => return fail(r, &f),
                }
            }
            // The target id is stale (the user is gone): match again.
        }
        match self.find(r).await {
            Ok(Some(found)) => self.update_existing(r, found).await,
            Ok(None) => self.create(r).await,
            Err(f) => fail(r, &f),
        }
    }

    async fn deprovision(&self, r: &Record, action: RemoveUserAction, source_disabled: bool) -> RecordResult {
        if !self.settings.user_disable {
            return skipped(r, r.target_id.clone(), "User Disable is off: the Slack user was left active");
        }
        // Only an account this connection provisioned (the host knows its id) is ever deprovisioned: a
        // record without a target id is never matched to an existing account by its identifier, so a
        // disabled or departed directory entry that shares a live person's email cannot touch them.
        let found = match &r.target_id {
            Some(id) => match self.get_user(id).await {
                Ok(f) => f,
                Err(f) => return fail(r, &f),
            },
            None => None,
        };
        let Some(found) = found else {
            if r.target_id.is_none() && source_disabled && self.settings.provision_disabled_users {
                // Slack cannot create a disabled user: create, then deactivate.
                let created = self.create_linking(r, false).await;
                let Some(id) = created.target_id.clone().filter(|_| created.outcome == Outcome::Created) else {
                    return created;
                };
                return match self.set_active(&id, false).await {
                    Ok(()) => {
                        self.note(r, &id, false).await;
                        result(r, Outcome::Disabled, &id)
                    }
                    // The account exists (active): report its id so the host records it and the next
                    // cycle disables it, rather than losing track of an active account.
                    Err(f) => {
                        let mut res = fail(r, &f);
                        res.target_id = Some(id);
                        res
                    }
                };
            }
            if r.target_id.is_none() {
                return skipped(
                    r,
                    None,
                    "not provisioned by this connection: no Slack account was looked up or changed",
                );
            }
            return skipped(r, None, "not in Slack: nothing to deprovision");
        };
        if !found.active {
            return result(r, Outcome::Unchanged, &found.id);
        }
        let outcome = match action {
            RemoveUserAction::Disable => self.set_active(&found.id, false).await.map(|_| Outcome::Disabled),
            RemoveUserAction::Delete => self
                .client
                .send(Method::DELETE, &format!("/Users/{}", found.id), None, Endpoint::UserDelete, true)
                .await
                .map(|_| Outcome::Deleted),
        };
        match outcome {
            Ok(o) => {
                self.note(r, &found.id, false).await;
                result(r, o, &found.id)
            }
            Err(f) => fail(r, &f),
        }
    }
}
