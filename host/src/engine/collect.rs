//! Collect: read the channel's source and decide, entry by entry, what each user needs (the source is
//! streamed, never held whole). Users the source no longer has are decided here too, so the snapshot
//! leaves this module complete: what to send, what to settle without a call, and what the groups
//! phase needs (group entries, DN → id, memberOf values).

use super::diff::{decide_gone, decide_user, short_hash, Decision, Desired, Planned};
use super::{ChannelRuntime, CycleError};
use crate::config::AccountStatus;
use crate::entry::{norm_dn, under_normalised, Entry};
use crate::mapping::Resolve;
use crate::source::{self, Kind, ReadOutcome, Sink, SourceError};
use crate::state::{ReferenceIndex, Row, StateError, Status};
use connector_abi::payload::ObjectClass;
use std::collections::{HashMap, HashSet};

/// What a read of the source gives a cycle.
pub(crate) struct Snapshot {
    /// User records to send (present users that changed, and users that are gone).
    pub planned: Vec<Planned>,
    /// Rows to settle without a call: dirty rows with nothing left to do, never-created users that left.
    pub quiet: Vec<Row>,
    /// Failed records whose backoff has not passed.
    pub deferred: u64,
    /// Group entries (for groups and group DN locations).
    pub group_entries: Vec<Entry>,
    /// Normalised DN → user source id, for resolving group members.
    pub dn_to_id: HashMap<String, String>,
    /// `(user source id, memberOf values)` when groups come from users' memberOf attribute.
    pub member_of: Vec<(String, Vec<String>)>,
    /// How the read went (token, figures, present groups of incremental reads).
    pub outcome: ReadOutcome,
    /// Users in the location (read in full, or known present by an incremental read's presence pass).
    pub users_read: u64,
    /// Unique user identifier hash → `(source id, active)` of every user read in full.
    pub idents: HashMap<String, Vec<(String, bool)>>,
}

/// An identifier as the target compares it: case-insensitive, and for `userName` with Slack's own
/// substitution (characters other than `a-z 0-9 . _ -` become `_`), so two values Slack would store as
/// one are seen as duplicates here.
fn normalise_identifier(attribute: &str, value: &str) -> String {
    let v = value.trim().to_lowercase();
    if attribute != "userName" {
        return v;
    }
    v.chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect()
}

/// Whether an entry's account is active under the channel's account status rule.
fn account_active(rule: Option<&AccountStatus>, e: &Entry) -> bool {
    match rule {
        None => true,
        // `*` means "disabled when the attribute is present" (e.g. pwdAccountLockedTime).
        Some(AccountStatus::Flag { attribute, disabled_value }) if disabled_value == "*" => {
            e.values(attribute).is_empty()
        }
        Some(AccountStatus::Flag { attribute, disabled_value }) => {
            !e.values(attribute).iter().any(|v| v.trim().eq_ignore_ascii_case(disabled_value))
        }
        Some(AccountStatus::ActiveDirectory { attribute }) => {
            // userAccountControl bit 2 (0x2, ACCOUNTDISABLE) set means disabled.
            e.first(attribute).and_then(|v| v.trim().parse::<u64>().ok()).is_none_or(|uac| uac & 0x2 == 0)
        }
    }
}

/// Replaces each mapped value that names another user (`resolve`) with that user's target id, or with
/// no value when the user is not provisioned (yet, or any more): the hash then changes when they are,
/// and the next cycle sends the id (or clears it).
fn resolve_references(
    attrs: &mut serde_json::Map<String, serde_json::Value>,
    mapping: &crate::mapping::Mapping,
    index: &ReferenceIndex,
) {
    for (target, how) in mapping.references() {
        let Some(v) = attrs.get(target).and_then(|v| v.as_str()).map(str::to_owned) else { continue };
        let resolved = match how {
            Resolve::Dn => index.by_dn_hash.get(&short_hash(norm_dn(&v).as_bytes())),
            Resolve::SourceId => index.by_source_id.get(v.trim()),
        };
        attrs.insert(
            target.to_owned(),
            resolved.map_or(serde_json::Value::Null, |t| serde_json::Value::String(t.clone())),
        );
    }
}

/// Members (normalised DNs) of the group `dn`, following nested groups when asked.
pub(crate) fn expand_group(groups: &[Entry], dn: &str, member_attr: &str, nested: bool) -> HashSet<String> {
    GroupIndex::new(groups).expand(dn, member_attr, nested)
}

/// The groups of a read by normalised DN, built once to expand many groups.
pub(crate) struct GroupIndex<'a> {
    by_dn: foldhash::HashMap<String, &'a Entry>,
}

impl<'a> GroupIndex<'a> {
    /// Indexes `groups`.
    pub(crate) fn new(groups: &'a [Entry]) -> Self {
        GroupIndex { by_dn: groups.iter().map(|g| (norm_dn(&g.dn), g)).collect() }
    }

    /// Members (normalised DNs) of the group `dn`, following nested groups when asked.
    pub(crate) fn expand(&self, dn: &str, member_attr: &str, nested: bool) -> HashSet<String> {
        let mut out = HashSet::new();
        let mut visited = HashSet::new();
        let mut stack = vec![norm_dn(dn)];
        while let Some(g) = stack.pop() {
            if !visited.insert(g.clone()) {
                continue;
            }
            let Some(entry) = self.by_dn.get(&g) else { continue };
            for m in entry.values(member_attr) {
                let m = norm_dn(m);
                if nested && self.by_dn.contains_key(&m) {
                    stack.push(m);
                } else {
                    out.insert(m);
                }
            }
        }
        out
    }
}

/// What a member value names: a group of the read, or (perhaps) a user of the location.
pub(crate) enum Named {
    /// A group's normalised DN.
    Group(String),
    /// The user's rank in the cycle's [`UserIds`](super::groups::UserIds), when the DN is a user's
    /// of this read.
    User(Option<u32>),
}

impl<'a> GroupIndex<'a> {
    /// Ranks of the users group `dn` names (following nested groups when asked), sorted, without
    /// duplicates; `dn_rank` gives each user's rank by normalised DN. `cache` keeps what each member
    /// value names, so a value many groups list is normalised once per cache (a read, or each part of
    /// one).
    pub(crate) fn member_ranks(
        &self,
        dn: &str,
        member_attr: &str,
        nested: bool,
        dn_rank: &foldhash::HashMap<&str, u32>,
        cache: &mut foldhash::HashMap<&'a str, Named>,
    ) -> Vec<u32> {
        let mut out = Vec::new();
        let mut visited = HashSet::new();
        let mut stack = vec![norm_dn(dn)];
        while let Some(g) = stack.pop() {
            let Some(entry) = self.by_dn.get(&g).copied() else { continue };
            if !visited.insert(g) {
                continue;
            }
            for m in entry.values(member_attr) {
                let named = cache.entry(m.as_str()).or_insert_with(|| {
                    let n = norm_dn(m);
                    if self.by_dn.contains_key(&n) {
                        Named::Group(n)
                    } else {
                        Named::User(dn_rank.get(n.as_str()).copied())
                    }
                });
                match named {
                    Named::Group(n) if nested => stack.push(n.clone()),
                    Named::Group(n) => out.extend(dn_rank.get(n.as_str())),
                    Named::User(rank) => out.extend(*rank),
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

struct Collector<'a> {
    rt: &'a ChannelRuntime,
    /// The users' rows, once they have come from `feed`.
    rows: Option<HashMap<String, Row>>,
    feed: RowsFeed,
    /// Why the rows could not be loaded (the cycle fails with it after the read).
    rows_error: Option<StateError>,
    /// Users read before the rows came, in the order read.
    waiting: Vec<Read>,
    /// The location's base DN, normalised (`None`: blank, the whole directory).
    base_dn: Option<String>,
    references: Option<&'a ReferenceIndex>,
    now: i64,
    source_applies_location: bool,
    group_entries: Vec<Entry>,
    location_members: Option<HashSet<String>>,
    seen: HashSet<String>,
    dn_to_id: HashMap<String, String>,
    member_of: Vec<(String, Vec<String>)>,
    planned: Vec<Planned>,
    clear_dirty: Vec<String>,
    /// Unchanged rows whose identifier hash is missing or stale (recorded without a call).
    ident_updates: Vec<Row>,
    idents: HashMap<String, Vec<(String, bool)>>,
    deferred: u64,
    skipped_no_id: u64,
}

impl Collector<'_> {
    /// The members of the location's group DN, once the groups have been read.
    fn ensure_location_members(&mut self) {
        let loc = &self.rt.ch.cfg.location;
        if let (Some(gdn), None) = (&loc.group_dn, &self.location_members) {
            let attr = self.rt.ch.cfg.groups.as_ref().map_or("member", |g| g.member_attribute.as_str());
            self.location_members = Some(expand_group(&self.group_entries, gdn, attr, loc.nested));
        }
    }
}

impl Sink for Collector<'_> {
    fn entry(&mut self, kind: Kind, e: Entry) -> Result<(), SourceError> {
        if kind == Kind::Group {
            // A group DN location was computed from the groups before this one: its members would be
            // missing, and the users outside them taken for gone.
            if self.location_members.is_some() {
                return Err(SourceError::Order("a group entry came after the users of a group DN location"));
            }
            self.group_entries.push(e);
            return Ok(());
        }
        self.ensure_location_members();
        let ch = &self.rt.ch;
        // Normalised once: the location, the group members' DN → id and the DN hash read it.
        let dn = norm_dn(&e.dn);
        // A directory server applies the base DN and filter itself (on attributes we may not fetch).
        let filtered = self.source_applies_location
            || (ch.location_filter.as_ref().is_none_or(|f| f.matches(&e))
                && self.base_dn.as_deref().is_none_or(|b| under_normalised(&dn, b)));
        let in_scope = filtered && self.location_members.as_ref().is_none_or(|m| m.contains(&dn));
        if !in_scope {
            return Ok(());
        }
        let Some(id) = e.first(&ch.cfg.id_attribute).map(str::to_owned) else {
            self.skipped_no_id += 1;
            return Ok(());
        };
        let dn_hash = Some(short_hash(dn.as_bytes()));
        self.dn_to_id.insert(dn, id.clone());
        if let Some(attr) = ch.read.groups.as_ref().and_then(|g| g.member_of_attribute.as_ref()) {
            self.member_of.push((id.clone(), e.values(attr).to_vec()));
        }
        let active = account_active(ch.cfg.account_status.as_ref(), &e);
        let mut attrs = ch.mapping.apply(&e);
        if let Some(index) = self.references {
            resolve_references(&mut attrs, &ch.mapping, index);
        }
        let mut d = Desired::new(id.clone(), attrs, active);
        d.dn_hash = dn_hash.clone();
        d.ident_hash = self.rt.ident_attribute.as_deref().and_then(|a| {
            let v = normalise_identifier(a, d.attrs.get(a)?.as_str()?);
            (!v.is_empty()).then(|| short_hash(v.as_bytes()))
        });
        if let Some(h) = &d.ident_hash {
            self.idents.entry(h.clone()).or_default().push((id.clone(), active));
        }
        self.seen.insert(id);
        self.waiting.push(Read { desired: d, dn_hash });
        self.poll_rows(false);
        self.decide_waiting();
        Ok(())
    }
}

/// A user read in full, before it is decided against its row.
struct Read {
    desired: Desired,
    dn_hash: Option<String>,
}

/// The users' rows a read decides against: loaded on the cycle's thread beside the read, and sent
/// here once (an error included). Users read before they come wait, in order, and are decided when
/// they do.
pub(crate) type RowsFeed = std::sync::mpsc::Receiver<Result<HashMap<String, Row>, StateError>>;

impl Collector<'_> {
    /// Takes the users' rows if they have come (waiting for them when `block`).
    fn poll_rows(&mut self, block: bool) {
        if self.rows.is_some() || self.rows_error.is_some() {
            return;
        }
        let came = if block { self.feed.recv().ok() } else { self.feed.try_recv().ok() };
        match came {
            Some(Ok(rows)) => self.rows = Some(rows),
            Some(Err(e)) => self.rows_error = Some(e),
            None => {}
        }
    }

    /// Decides, in the order read, for the users waiting, once the rows have come.
    fn decide_waiting(&mut self) {
        let Some(rows) = self.rows.take() else { return };
        // Drained in place: the list keeps its capacity for the next user.
        let mut waiting = std::mem::take(&mut self.waiting);
        for read in waiting.drain(..) {
            self.decide(&rows, read);
        }
        (self.waiting, self.rows) = (waiting, Some(rows));
    }

    /// Decides for a user read in full, against its row.
    fn decide(&mut self, rows: &HashMap<String, Row>, read: Read) {
        let Read { desired: d, dn_hash } = read;
        let row = rows.get(&d.source_id);
        let (id, ident) = (d.source_id.clone(), d.ident_hash.clone());
        match decide_user(row, d, &self.rt.ch.mapping, self.now, self.rt.honour_skipped) {
            Decision::Nothing => {
                let stale = |r: &&Row| r.target_id.is_some() && (r.ident_hash != ident || r.dn_hash != dn_hash);
                if let Some(r) = row.filter(stale) {
                    self.ident_updates.push(Row { ident_hash: ident, dn_hash, ..r.clone() });
                }
            }
            Decision::ClearDirty => self.clear_dirty.push(id),
            Decision::Deferred => self.deferred += 1,
            Decision::Send(p) => self.planned.push(*p),
        }
    }
}

/// Reads the source and decides for every user (present or gone).
pub(crate) fn collect(
    rt: &ChannelRuntime,
    feed: RowsFeed,
    references: Option<&ReferenceIndex>,
    since: Option<String>,
    now: i64,
) -> Result<(Snapshot, HashMap<String, Row>), CycleError> {
    let channel = rt.name();
    let mut src = source::open(&rt.ch.cfg.source, rt.ch.strict_permissions)?;
    let base_dn = &rt.ch.cfg.location.base_dn;
    let mut c = Collector {
        rt,
        base_dn: (!base_dn.trim().is_empty()).then(|| norm_dn(base_dn)),
        rows: None,
        feed,
        rows_error: None,
        waiting: Vec::new(),
        references,
        now,
        source_applies_location: src.applies_location(),
        group_entries: Vec::new(),
        location_members: None,
        seen: HashSet::new(),
        dn_to_id: HashMap::new(),
        member_of: Vec::new(),
        planned: Vec::new(),
        clear_dirty: Vec::new(),
        ident_updates: Vec::new(),
        idents: HashMap::new(),
        deferred: 0,
        skipped_no_id: 0,
    };
    let request = crate::source::ReadRequest { since, ..rt.ch.read.clone() };
    // A source that fails (unreadable, malformed, directory down) fails the cycle before any change.
    let outcome = src.read(&request, &mut c)?;
    c.ensure_location_members();
    // Every user read is decided before anything else: the rows are waited for if they have not come.
    c.poll_rows(true);
    if let Some(e) = c.rows_error.take() {
        return Err(e.into());
    }
    c.decide_waiting();
    let Some(rows) = c.rows.take() else {
        return Err(CycleError::Aborted("the users' rows were never loaded"));
    };
    if c.skipped_no_id > 0 {
        tracing::warn!(channel, count = c.skipped_no_id, attribute = %rt.ch.cfg.id_attribute, "entries without the id attribute were ignored");
    }
    // Incremental reads: the presence pass gives every (id, DN) still in the location; unchanged users
    // also resolve group member DNs, and a group DN location still applies.
    // Users outside a group DN location resolve no member DN, as in a full read: they are in none of
    // the channel's groups.
    let present_ids: Option<HashSet<String>> = outcome.present_users.as_ref().map(|p| {
        let mut ids = HashSet::new();
        for (id, dn) in p {
            let dn = norm_dn(dn);
            if c.location_members.as_ref().is_none_or(|m| m.contains(&dn)) {
                ids.insert(id.clone());
                c.dn_to_id.entry(dn).or_insert_with(|| id.clone());
            }
        }
        ids
    });
    let present = |id: &str| c.seen.contains(id) || present_ids.as_ref().is_some_and(|p| p.contains(id));
    let users_read = present_ids.as_ref().map_or(0, HashSet::len).max(c.seen.len()) as u64;
    let mut planned = std::mem::take(&mut c.planned);
    let mut quiet: Vec<Row> = c
        .clear_dirty
        .iter()
        .filter_map(|id| rows.get(id))
        .map(|r| Row { dirty: false, attempts: 0, last_error: None, ..r.clone() })
        .collect();
    quiet.append(&mut c.ident_updates);
    for row in rows.values().filter(|r| !present(&r.source_id)) {
        if row.target_id.is_none() && row.status != Status::Removed {
            // Never created in the target: nothing to deprovision.
            quiet.push(Row { status: Status::Removed, dirty: false, ..row.clone() });
        } else if let Some(p) = decide_gone(row, ObjectClass::User, now, rt.honour_skipped) {
            planned.push(p);
        }
    }
    let snap = Snapshot {
        planned,
        quiet,
        deferred: c.deferred,
        group_entries: c.group_entries,
        dn_to_id: c.dn_to_id,
        member_of: c.member_of,
        outcome,
        users_read,
        idents: c.idents,
    };
    Ok((snap, rows))
}
