//! Identity integrity: no two records of a connection map to one target object. Before anything is
//! sent, the mapped unique user identifier (its hash: values are never kept) is checked across the
//! channel's snapshot and against the records of the connection's other channels; a record that would
//! share an account with another fails with `duplicate_identifier`, naming the other source id, and
//! nothing is sent for it. The live, provisioned record always keeps its account.
//!
//! Groups likewise by display name (case-insensitive, as the target looks groups up): a connector
//! adopts an existing group of the same name, so a second source group with that name would take over
//! (and overwrite the members of) the first one's group. It fails with `duplicate_group_name`.

use super::diff::Planned;
use crate::state::{Owner, Row, Status};
use connector_abi::payload::{ErrorInfo, ErrorKind, Event, ObjectClass};
use std::collections::HashMap;

/// What is checked for duplicates.
#[derive(Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// Users, by the connector's unique user identifier (the record attribute).
    User(&'a str),
    /// Groups, by display name.
    GroupName,
}

impl Subject<'_> {
    fn class(self) -> ObjectClass {
        match self {
            Subject::User(_) => ObjectClass::User,
            Subject::GroupName => ObjectClass::Group,
        }
    }

    /// The error recorded for a refused record (names the other record, never the value).
    fn duplicate(self, other: &str, channel: Option<&str>) -> ErrorInfo {
        let place = channel.map(|c| format!(" in channel `{c}`")).unwrap_or_default();
        match self {
            Subject::User(attribute) => ErrorInfo::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{attribute} is the same as that of source id {other}{place}: two records would share one account, so nothing was sent for this one; make {attribute} unique in the source"
                ),
            )
            .with_code("duplicate_identifier"),
            Subject::GroupName => ErrorInfo::new(
                ErrorKind::AlreadyExists,
                format!(
                    "the group's display name is the same (ignoring case) as that of group source id {other}{place}: the target would take that group over for this one, so nothing was sent for it; give the groups distinct names (the groups' `name` template)"
                ),
            )
            .with_code("duplicate_group_name"),
        }
    }
}

/// Splits `planned` records of `subject`'s class into those that may be sent and those refused as
/// duplicates (records of another class, and group deletes, always pass).
///
/// `idents`: identifier hash → `(source id, active in the source)` of every user (or group) in the
/// snapshot; `rows`: the channel's rows of that class; `elsewhere`: identifier hash → a record of
/// another channel of the same connection.
pub(crate) fn refuse_duplicates(
    subject: Subject<'_>,
    idents: &HashMap<String, Vec<(String, bool)>>,
    rows: &HashMap<String, Row>,
    elsewhere: &HashMap<String, Owner>,
    planned: Vec<Planned>,
) -> (Vec<Planned>, Vec<(Planned, ErrorInfo)>) {
    let holds_account = |id: &str, hash: &str| {
        rows.get(id).is_some_and(|r| {
            r.target_id.is_some() && r.status != Status::Removed && r.ident_hash.as_deref().is_none_or(|h| h == hash)
        })
    };
    // Groups: the name a provisioned group of this channel still has in the target (its recorded hash)
    // is taken until its rename or delete has settled, even when the source no longer gives it that
    // name: a new group with it would be matched to that group by name.
    let mut holders: HashMap<&str, &str> = HashMap::new();
    if matches!(subject, Subject::GroupName) {
        for r in rows.values().filter(|r| r.target_id.is_some() && r.status != Status::Removed) {
            if let Some(h) = r.ident_hash.as_deref() {
                holders.insert(h, r.source_id.as_str());
            }
        }
    }
    let mut losers: HashMap<&str, ErrorInfo> = HashMap::new();
    for (hash, candidates) in idents {
        if let Some(holder) = holders.get(hash.as_str()).filter(|h| !candidates.iter().any(|(id, _)| id == *h)) {
            for (id, _) in candidates {
                losers.insert(id, subject.duplicate(holder, None));
            }
            continue;
        }
        if let Some(owner) = elsewhere.get(hash) {
            for (id, _) in candidates.iter().filter(|(id, _)| !holds_account(id, hash)) {
                losers.insert(id, subject.duplicate(&owner.source_id, Some(&owner.channel)));
            }
            continue;
        }
        if candidates.len() < 2 {
            continue;
        }
        // The live account's record wins; failing that, the one active entry; otherwise nobody.
        let provisioned: Vec<&str> =
            candidates.iter().filter(|(id, _)| holds_account(id, hash)).map(|(id, _)| id.as_str()).collect();
        let active: Vec<&str> = candidates.iter().filter(|(_, a)| *a).map(|(id, _)| id.as_str()).collect();
        let winner = match (provisioned.as_slice(), active.as_slice()) {
            ([one], _) => Some(*one),
            ([], [one]) => Some(*one),
            _ => None,
        };
        for (id, _) in candidates.iter().filter(|(id, _)| Some(id.as_str()) != winner) {
            let other = winner.or_else(|| candidates.iter().map(|(o, _)| o.as_str()).find(|o| o != id));
            losers.insert(id, subject.duplicate(other.unwrap_or("?"), None));
        }
    }
    if losers.is_empty() {
        return (planned, Vec::new());
    }
    let mut send = Vec::with_capacity(planned.len());
    let mut refused = Vec::new();
    for p in planned {
        // A group that is deleted takes no name; a user record of any kind can touch an account.
        let checked = p.record.object_class == subject.class()
            && (matches!(subject, Subject::User(_)) || p.record.event == Event::Upsert);
        match losers.get(p.record.source_id.as_str()).filter(|_| checked) {
            Some(info) => refused.push((p, info.clone())),
            None => send.push(p),
        }
    }
    (send, refused)
}
