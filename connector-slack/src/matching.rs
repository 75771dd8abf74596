//! Matching existing Slack users by the unique user identifier: per-record filter lookups for small
//! batches, one read of the user list (pages of 1,000) for large ones, chosen by request cost.

use crate::attributes::{from_scim, text};
use crate::client::{Client, Failure};
use crate::pacing::Endpoint;
use crate::settings::UniqueIdentifier;
use connector_abi::payload::Attributes;
use reqwest::Method;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long a user index read from Slack is trusted for matching.
pub const INDEX_TTL: Duration = Duration::from_secs(300);
/// Page size for reading the user list.
pub const PAGE: usize = 1000;

/// A Slack user as found by matching.
#[derive(Debug, Clone)]
pub struct Found {
    /// Slack id.
    pub id: String,
    /// Whether active.
    pub active: bool,
    /// The user's attributes, when read.
    pub attrs: Option<Attributes>,
}

/// Slack's username normalisation (lowercase; characters other than `a-z0-9._-` become `_`).
pub fn slack_username(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The matching key of a record's attributes, normalised as Slack stores it.
pub fn key_of(attrs: &Attributes, id: UniqueIdentifier) -> Option<String> {
    let v = text(attrs.get(id.attribute()))?;
    Some(match id {
        UniqueIdentifier::UserName => slack_username(&v),
        UniqueIdentifier::PrimaryEmail => v.to_lowercase(),
    })
}

/// The same key read from a Slack user.
fn key_of_scim(u: &Value, id: UniqueIdentifier) -> Option<String> {
    key_of(&from_scim(u), id)
}

fn found(u: &Value, with_attrs: bool) -> Option<Found> {
    Some(Found {
        id: u.get("id")?.as_str()?.to_owned(),
        active: u.get("active").and_then(Value::as_bool).unwrap_or(true),
        attrs: with_attrs.then(|| from_scim(u)),
    })
}

/// A snapshot of Slack's users, by key.
#[derive(Debug, Default)]
pub struct Index {
    built: Option<Instant>,
    complete: bool,
    by_key: HashMap<String, Found>,
}

impl Index {
    /// Whether the index can answer "absent" for any key.
    pub fn fresh(&self) -> bool {
        self.complete && self.built.is_some_and(|t| t.elapsed() < INDEX_TTL)
    }

    /// A key's entry.
    pub fn get(&self, key: &str) -> Option<&Found> {
        self.by_key.get(key)
    }

    /// Records a user the connector created, updated or (de)activated.
    pub fn note(&mut self, key: Option<String>, f: Found) {
        if let Some(k) = key {
            self.by_key.insert(k, Found { attrs: None, ..f });
        }
    }
}

fn quote(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("\"{v}\""))
}

fn filter_path(id: UniqueIdentifier, key: &str) -> String {
    let attr = match id {
        UniqueIdentifier::UserName => "userName",
        UniqueIdentifier::PrimaryEmail => "email",
    };
    let f = format!("{attr} eq {}", quote(key));
    format!("/Users?filter={}&count=10", url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>())
}

/// Looks one user up by a filter request.
pub async fn lookup(client: &Client, id: UniqueIdentifier, key: &str) -> Result<Option<Found>, Failure> {
    let a = client.send(Method::GET, &filter_path(id, key), None, Endpoint::List, true).await?;
    let resources = a.body.get("Resources").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(resources.iter().find(|u| key_of_scim(u, id).as_deref() == Some(key)).and_then(|u| found(u, true)))
}

/// The most pages one list read may take (with `PAGE` users each), whatever the server says.
pub const MAX_LIST_PAGES: usize = 1_000;

/// Reads the user list into `index` when that is cheaper than looking `keys` up one by one.
/// Keys it leaves unresolved are looked up per record (see [`lookup`]).
pub async fn prepare(
    client: &Client,
    index: &tokio::sync::Mutex<Index>,
    id: UniqueIdentifier,
    keys: &HashSet<String>,
) -> Result<(), Failure> {
    // A batch with nothing to match must not wait behind another batch's list read for the lock.
    if keys.len() < 2 {
        return Ok(());
    }
    let mut idx = index.lock().await;
    if idx.fresh() {
        return Ok(());
    }
    // The first page tells the total, frozen from then on: a server whose total keeps growing, that
    // repeats a page, or that pages past the cap leaves the index incomplete (the keys are then looked
    // up one by one) instead of paging for ever while the index is locked.
    let mut by_key = HashMap::new();
    let mut start = 1usize;
    let mut total = usize::MAX;
    let mut pages = 0usize;
    let mut last_first: Option<String> = None;
    let mut page_len = PAGE;
    let mut complete = false;
    loop {
        let a = client
            .send(Method::GET, &format!("/Users?startIndex={start}&count={PAGE}"), None, Endpoint::List, true)
            .await?;
        pages += 1;
        if pages == 1 {
            total = a.body.get("totalResults").and_then(Value::as_u64).unwrap_or(0) as usize;
        }
        let resources = a.body.get("Resources").and_then(Value::as_array).cloned().unwrap_or_default();
        if resources.is_empty() {
            complete = start > total;
            break;
        }
        let first = resources[0].get("id").and_then(Value::as_str).map(str::to_owned);
        if first.is_some() && first == last_first {
            break; // the same page again
        }
        last_first = first;
        if pages == 1 {
            page_len = resources.len();
        }
        for u in &resources {
            if let Some(k) = key_of_scim(u, id) {
                let wanted = keys.contains(&k);
                if let Some(f) = found(u, wanted) {
                    by_key.insert(k, f);
                }
            }
        }
        start += resources.len();
        if start > total {
            complete = true;
            break;
        }
        if pages > total.div_ceil(page_len).min(MAX_LIST_PAGES) {
            break; // more pages than the frozen total allows
        }
        if pages == 1 {
            let remaining_pages = (total - start).div_ceil(PAGE) + 1;
            let unresolved = keys.iter().filter(|k| !by_key.contains_key(*k)).count();
            if unresolved <= remaining_pages {
                // Cheaper to look the rest up one by one: keep what we learnt, stay incomplete.
                idx.by_key.extend(by_key);
                return Ok(());
            }
        }
    }
    if !complete {
        idx.by_key.extend(by_key);
        return Ok(());
    }
    idx.by_key = by_key;
    idx.built = Some(Instant::now());
    idx.complete = true;
    Ok(())
}
