//! Deciding what to send: a source entry's desired state against the state store's last provisioned
//! state. Unchanged records produce nothing.

use crate::mapping::Mapping;
use crate::state::{AttrHashes, Row, Status};
use connector_abi::payload::{Attributes, Event, MemberRef, ObjectClass, Record};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What the host intends for a record (the audit's event type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Intent {
    Create,
    Update,
    Reactivate,
    Disable,
    Delete,
    GroupCreate,
    GroupUpdate,
    GroupDelete,
}

impl Intent {
    /// The audit name.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Create => "CREATE",
            Intent::Update => "UPDATE",
            Intent::Reactivate => "REACTIVATE",
            Intent::Disable => "DISABLE",
            Intent::Delete => "DELETE",
            Intent::GroupCreate => "GROUP_CREATE",
            Intent::GroupUpdate => "GROUP_UPDATE",
            Intent::GroupDelete => "GROUP_DELETE",
        }
    }
}

/// An object's desired state, computed from the source.
#[derive(Debug, Clone)]
pub struct Desired {
    pub source_id: String,
    pub attrs: Attributes,
    pub attr_hashes: BTreeMap<String, String>,
    pub hash: String,
    pub active: bool,
    /// Hash of the unique user identifier's value (lowercased), when the connection has one.
    pub ident_hash: Option<String>,
    /// Hash of the user's normalised DN.
    pub dn_hash: Option<String>,
}

/// A short hex SHA-256.
pub fn short_hash(bytes: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(bytes)[..12])
}

/// [`short_hash`] of a value's JSON text, hashed as it is written rather than built first (one string
/// less per attribute of every user of a cycle).
fn value_hash(v: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    // Writing JSON into a hasher cannot fail: the hasher takes every byte, and a value's map keys are
    // strings.
    let _ = serde_json::to_writer(&mut h, v);
    crate::hex::encode(&h.finalize()[..12])
}

/// The hash a group's display name is compared by: trimmed and case-insensitive, as the target looks
/// groups up by name (kept in the group row's `ident_hash`).
pub fn group_name_hash(name: &str) -> String {
    short_hash(name.trim().to_lowercase().as_bytes())
}

impl Desired {
    /// Hashes mapped attributes (values are never stored, only these hashes).
    pub fn new(source_id: String, attrs: Attributes, active: bool) -> Desired {
        let attr_hashes: BTreeMap<String, String> = attrs.iter().map(|(k, v)| (k.clone(), value_hash(v))).collect();
        let mut all = String::new();
        for (k, h) in &attr_hashes {
            all.push_str(k);
            all.push('=');
            all.push_str(h);
            all.push(';');
        }
        Desired {
            source_id,
            attrs,
            hash: short_hash(all.as_bytes()),
            attr_hashes,
            active,
            ident_hash: None,
            dn_hash: None,
        }
    }
}

/// A record to send, with what to store when it succeeds.
#[derive(Debug, Clone)]
pub struct Planned {
    pub intent: Intent,
    pub record: Record,
    /// Status after success.
    pub status: Status,
    pub hash: String,
    pub attr_hashes: AttrHashes,
    /// Group members (user source ids) to record after success.
    pub members: Vec<String>,
    /// The unique user identifier's hash to record after success.
    pub ident_hash: Option<String>,
    /// The DN hash to record after success (users).
    pub dn_hash: Option<String>,
}

/// What to do with a user the source has.
pub enum Decision {
    /// Nothing to send.
    Nothing,
    /// Nothing to send, but the row was dirty: clear it.
    ClearDirty,
    /// Failed before and its backoff has not passed.
    Deferred,
    /// Send this.
    Send(Box<Planned>),
}

/// A user record to send, the desired state moved into it.
fn send(
    d: Desired,
    intent: Intent,
    event: Event,
    target_id: Option<String>,
    changed: Option<Vec<String>>,
    status: Status,
) -> Decision {
    let attr_hashes = AttrHashes::from_map(&d.attr_hashes);
    Decision::Send(Box::new(Planned {
        intent,
        record: Record {
            object_class: ObjectClass::User,
            source_id: d.source_id,
            target_id,
            event,
            attributes: d.attrs,
            changed,
            members: vec![],
            previous_members: None,
        },
        status,
        hash: d.hash,
        attr_hashes,
        members: vec![],
        ident_hash: d.ident_hash,
        dn_hash: d.dn_hash,
    }))
}

/// Decides for a user present in the source location (the desired state is moved into the record).
///
/// With `honour_skipped`, a desired state the connector skipped before (an option was off) is not sent
/// again until it changes or the connection's settings change.
pub fn decide_user(row: Option<&Row>, d: Desired, mapping: &Mapping, now: i64, honour_skipped: bool) -> Decision {
    if let Some(r) = row {
        if r.dirty && r.next_attempt_at > now {
            return Decision::Deferred;
        }
        if honour_skipped && !r.dirty && r.skipped_hash.as_deref() == Some(d.hash.as_str()) {
            return Decision::Nothing;
        }
    }
    let settled = |r: &Row| if r.dirty { Decision::ClearDirty } else { Decision::Nothing };
    match row {
        Some(r) if r.target_id.is_some() => {
            if d.active && r.status == Status::Active && r.hash == d.hash {
                return settled(r);
            }
            let old = r.attr_hashes.parse();
            let changed: Vec<String> = d
                .attr_hashes
                .iter()
                .filter(|(k, h)| old.get(*k) != Some(*h) && !mapping.create_only(k))
                .map(|(k, _)| k.clone())
                .chain(old.keys().filter(|k| !d.attr_hashes.contains_key(*k)).cloned())
                .collect();
            match (d.active, r.status) {
                (true, Status::Active) if changed.is_empty() => settled(r),
                (true, Status::Active) => {
                    send(d, Intent::Update, Event::Upsert, r.target_id.clone(), Some(changed), Status::Active)
                }
                (true, _) => {
                    let mut c = changed;
                    c.push("active".into());
                    send(d, Intent::Reactivate, Event::Upsert, r.target_id.clone(), Some(c), Status::Active)
                }
                (false, Status::Active) => {
                    send(d, Intent::Disable, Event::Disable, r.target_id.clone(), None, Status::Disabled)
                }
                (false, _) => settled(r),
            }
        }
        // Never created (or a create whose outcome is unknown after a crash: the connector matches it).
        Some(r) if r.hash == d.hash && !r.dirty && (r.status == Status::Disabled) != d.active => Decision::Nothing,
        _ if d.active => send(d, Intent::Create, Event::Upsert, None, None, Status::Active),
        Some(r) if r.status == Status::Disabled && r.hash == d.hash && !r.dirty => Decision::Nothing,
        _ => send(d, Intent::Disable, Event::Disable, None, None, Status::Disabled),
    }
}

/// A user that left the source (or its location).
pub fn decide_gone(row: &Row, object_class: ObjectClass, now: i64, honour_skipped: bool) -> Option<Planned> {
    if row.status == Status::Removed || (row.dirty && row.next_attempt_at > now) {
        return None;
    }
    if honour_skipped && !row.dirty && row.skipped_hash.as_deref() == Some(row.hash.as_str()) {
        return None;
    }
    let intent = if object_class == ObjectClass::User { Intent::Delete } else { Intent::GroupDelete };
    Some(Planned {
        intent,
        record: Record {
            object_class,
            source_id: row.source_id.clone(),
            target_id: row.target_id.clone(),
            event: Event::Delete,
            attributes: Attributes::new(),
            changed: None,
            members: vec![],
            previous_members: None,
        },
        status: Status::Removed,
        hash: row.hash.clone(),
        attr_hashes: row.attr_hashes.clone(),
        members: vec![],
        ident_hash: row.ident_hash.clone(),
        dn_hash: row.dn_hash.clone(),
    })
}

/// A group's desired state (borrowed from the cycle's expanded groups).
#[derive(Debug, Clone)]
pub struct DesiredGroup<'a> {
    pub source_id: &'a str,
    pub name: &'a str,
    /// Member user source ids (active, provisioned), sorted.
    pub members: Vec<&'a str>,
}

/// How much of a group record a decision builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupDetail {
    /// The record to send: every member and every previous member, with their target ids.
    Record,
    /// Only what the deprovisioning guard counts: `members` empty and `previous_members` holding the
    /// members the group loses (without target ids).
    Removals,
}

/// The ids of `previous` that `members` does not have, both sorted (one pass over each; the state
/// gives each group's recorded members sorted, and desired members are sorted when expanded).
fn removed<'p, 'm>(previous: &'p [String], members: &'m [&'m str]) -> impl Iterator<Item = &'p str> + 'm
where
    'p: 'm,
{
    debug_assert!(previous.is_sorted() && members.is_sorted());
    let mut m = members.iter().peekable();
    previous.iter().map(String::as_str).filter(move |id| {
        while m.next_if(|x| **x < *id).is_some() {}
        m.peek().is_none_or(|x| **x != *id)
    })
}

/// Decides for a group present in the source.
pub fn decide_group(
    row: Option<&Row>,
    g: &DesiredGroup<'_>,
    previous: Option<&Vec<String>>,
    target_of: &dyn Fn(&str) -> Option<String>,
    now: i64,
    honour_skipped: bool,
    detail: GroupDetail,
) -> Decision {
    let mut attrs = Attributes::new();
    attrs.insert("displayName".into(), serde_json::Value::String(g.name.to_owned()));
    let mut hashes = BTreeMap::new();
    hashes.insert("displayName".to_owned(), short_hash(g.name.as_bytes()));
    hashes.insert("members".to_owned(), short_hash(g.members.join("\n").as_bytes()));
    let hash = short_hash(format!("{}|{}", hashes["displayName"], hashes["members"]).as_bytes());
    if let Some(r) = row {
        if r.dirty && r.next_attempt_at > now {
            return Decision::Deferred;
        }
        if r.target_id.is_some() && r.status == Status::Active && r.hash == hash {
            return if r.dirty { Decision::ClearDirty } else { Decision::Nothing };
        }
        if honour_skipped && !r.dirty && r.skipped_hash.as_deref() == Some(hash.as_str()) {
            return Decision::Nothing;
        }
    }
    let reference = |id: &str| MemberRef { source_id: id.to_owned(), target_id: target_of(id) };
    let existing = row.and_then(|r| r.target_id.clone()).filter(|_| row.is_some_and(|r| r.status == Status::Active));
    let changed: Vec<String> = match row {
        Some(r) if existing.is_some() => {
            let old = r.attr_hashes.parse();
            hashes.iter().filter(|(k, h)| old.get(*k) != Some(*h)).map(|(k, _)| k.clone()).collect()
        }
        _ => Vec::new(),
    };
    let (members, previous_members, owned) = match detail {
        GroupDetail::Record => (
            g.members.iter().map(|id| reference(id)).collect(),
            existing.as_ref().and(previous).map(|p| p.iter().map(|id| reference(id)).collect()),
            g.members.iter().map(|id| (*id).to_owned()).collect(),
        ),
        GroupDetail::Removals => (
            Vec::new(),
            existing.as_ref().and(previous).map(|p| {
                removed(p, &g.members).map(|id| MemberRef { source_id: id.to_owned(), target_id: None }).collect()
            }),
            Vec::new(),
        ),
    };
    let intent = if existing.is_some() { Intent::GroupUpdate } else { Intent::GroupCreate };
    Decision::Send(Box::new(Planned {
        intent,
        record: Record {
            object_class: ObjectClass::Group,
            source_id: g.source_id.to_owned(),
            target_id: existing.clone(),
            event: Event::Upsert,
            attributes: attrs,
            changed: existing.as_ref().map(|_| changed),
            members,
            previous_members,
        },
        status: Status::Active,
        hash,
        attr_hashes: AttrHashes::from_map(&hashes),
        members: owned,
        ident_hash: Some(group_name_hash(g.name)),
        dn_hash: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(members_hash: &str) -> Row {
        let mut hashes = BTreeMap::new();
        hashes.insert("displayName".to_owned(), short_hash(b"team"));
        hashes.insert("members".to_owned(), members_hash.to_owned());
        Row {
            target_id: Some("S1".into()),
            hash: "old".into(),
            attr_hashes: AttrHashes::from_map(&hashes),
            ..Row::new("g", Status::Active)
        }
    }

    fn planned(d: Decision) -> Planned {
        match d {
            Decision::Send(p) => *p,
            _ => panic!("expected a record"),
        }
    }

    /// Stored hashes must not change: a value hashed as it is written hashes as its JSON text did.
    #[test]
    fn a_value_hashes_as_its_json_text() {
        let values = serde_json::json!([
            "Zoë \"quoted\" \\ \n tab\t",
            "",
            42,
            -1.5,
            null,
            true,
            ["a", 1, {"k": "v"}],
            {"b": 2, "a": [null]},
            "emoji 😀 and \u{1}",
        ]);
        for v in values.as_array().unwrap() {
            assert_eq!(value_hash(v), short_hash(v.to_string().as_bytes()), "{v}");
        }
    }

    /// The guard's light decision counts exactly the members the full record removes.
    #[test]
    fn removals_detail_names_the_members_the_record_removes() {
        let g = DesiredGroup { source_id: "g", name: "team", members: vec!["a", "c", "d"] };
        // Recorded members come sorted from the state.
        let previous: Vec<String> = ["a", "b", "c", "e"].iter().map(|s| s.to_string()).collect();
        let target_of = |id: &str| Some(format!("U-{id}"));
        let r = row("different");
        let full = planned(decide_group(Some(&r), &g, Some(&previous), &target_of, 0, false, GroupDetail::Record));
        let light = planned(decide_group(Some(&r), &g, Some(&previous), &target_of, 0, false, GroupDetail::Removals));
        let now: Vec<&str> = full.record.members.iter().map(|m| m.source_id.as_str()).collect();
        assert_eq!(now, ["a", "c", "d"]);
        assert!(full.record.members.iter().all(|m| m.target_id.is_some()));
        let removed_by_record: Vec<&str> = full
            .record
            .previous_members
            .iter()
            .flatten()
            .map(|m| m.source_id.as_str())
            .filter(|id| !now.contains(id))
            .collect();
        let removed_light: Vec<&str> =
            light.record.previous_members.iter().flatten().map(|m| m.source_id.as_str()).collect();
        assert_eq!(removed_by_record, ["b", "e"]);
        assert_eq!(removed_light, removed_by_record);
        assert!(light.record.members.is_empty());
        assert_eq!((light.intent, light.hash.as_str()), (full.intent, full.hash.as_str()));
    }

    #[test]
    fn removed_walks_both_sorted_lists() {
        let ids = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
        let gone = |previous: &[&str], members: &[&str]| -> Vec<String> {
            removed(&ids(previous), members).map(str::to_owned).collect()
        };
        assert_eq!(gone(&["a", "b", "c", "e"], &["a", "c", "d"]), ["b", "e"]);
        assert_eq!(gone(&["a", "b"], &[]), ["a", "b"]);
        assert!(gone(&[], &["a"]).is_empty());
        assert!(gone(&["b", "d"], &["a", "b", "c", "d", "e"]).is_empty());
        assert_eq!(gone(&["u1", "u10", "u2"], &["u10"]), ["u1", "u2"]);
    }
}
