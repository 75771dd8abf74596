//! The provisioning cycle of one channel: read the source, decide per record against the state,
//! send batches to the connector (intent recorded first), settle results, then groups; audit and
//! figures. `plan` runs the same decision without sending or writing.

pub mod diff;

use crate::audit::{now_rfc3339, Audit, AuditEvent};
use crate::config::{AccountStatus, Channel, GroupsConfig};
use crate::ldapfilter::{self, Filter};
use crate::mapping::{Mapping, Template};
use crate::source::{self, norm_dn, under, Entry, Kind, ReadRequest, Sink, SourceError};
use crate::state::{CycleFigures, Row, State, StateError, Status, Table};
use connector_abi::payload::{ObjectClass, Outcome, ProvisionRequest, RecordResult};
use connector_abi::Instance;
use diff::{decide_gone, decide_group, decide_user, Decision, Desired, DesiredGroup, Planned};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Why a cycle failed as a whole (nothing is changed in the target for the failing step).
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// The source could not be read.
    #[error("source: {0}")]
    Source(#[from] SourceError),
    /// The state store failed.
    #[error("{0}")]
    State(#[from] StateError),
    /// The audit log could not be written.
    #[error("audit log: {0}")]
    Audit(#[from] std::io::Error),
    /// The channel's configuration cannot be used.
    #[error("channel configuration: {0}")]
    Config(String),
}

/// Progress reporting (a terminal shows bars; otherwise plain lines or nothing).
pub trait Progress: Sync {
    /// A phase starts with `total` records.
    fn start(&self, channel: &str, phase: &str, total: u64);
    /// `n` more records are done.
    fn advance(&self, n: u64);
    /// The phase ended.
    fn finish(&self);
}

/// No progress output.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// A channel ready to run: configuration compiled, connector instance open.
pub struct ChannelRuntime {
    pub connection: String,
    pub cfg: Channel,
    pub mapping: Mapping,
    location_filter: Option<Filter>,
    group_name: Option<Template>,
    pub instance: Arc<Instance>,
}

impl ChannelRuntime {
    /// Compiles a channel.
    pub fn new(connection: &str, cfg: Channel, instance: Arc<Instance>) -> Result<Self, CycleError> {
        let mapping = Mapping::compile(&cfg.mapping).map_err(CycleError::Config)?;
        let location_filter = cfg
            .location
            .filter
            .as_deref()
            .map(ldapfilter::parse)
            .transpose()
            .map_err(|e| CycleError::Config(e.to_string()))?;
        let group_name =
            cfg.groups.as_ref().map(|g| Template::parse(&g.name)).transpose().map_err(CycleError::Config)?;
        Ok(ChannelRuntime { connection: connection.to_owned(), cfg, mapping, location_filter, group_name, instance })
    }

    fn is_active(&self, e: &Entry) -> bool {
        match &self.cfg.account_status {
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
}

/// What a cycle did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CycleReport {
    pub channel: String,
    pub cycle_id: i64,
    pub figures: CycleFigures,
    pub deferred: u64,
    pub entries_read: u64,
    pub ids_checked: u64,
    pub duration_ms: u128,
    /// For `plan`: what would be sent.
    pub planned: Vec<PlannedView>,
    pub error: Option<String>,
}

/// One planned event, shown by `plan` (masked values hidden).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedView {
    pub event_type: String,
    pub object_class: String,
    pub source_id: String,
    pub target_id: Option<String>,
    /// `attribute → new value` for what changes (all attributes on create); masked values show as `(masked)`.
    pub changes: std::collections::BTreeMap<String, serde_json::Value>,
}

struct Collector<'a> {
    rt: &'a ChannelRuntime,
    rows: &'a HashMap<String, Row>,
    now: i64,
    group_entries: Vec<Entry>,
    location_members: Option<HashSet<String>>,
    source_applies_location: bool,
    seen: HashSet<String>,
    dn_to_id: HashMap<String, String>,
    member_of: Vec<(String, Vec<String>)>,
    planned: Vec<Planned>,
    clear_dirty: Vec<String>,
    deferred: u64,
    skipped_no_id: u64,
}

/// Members (normalised DNs) of the group `dn`, following nested groups when asked.
fn expand_group(groups: &[Entry], dn: &str, member_attr: &str, nested: bool) -> HashSet<String> {
    let by_dn: HashMap<String, &Entry> = groups.iter().map(|g| (norm_dn(&g.dn), g)).collect();
    let mut out = HashSet::new();
    let mut visited = HashSet::new();
    let mut stack = vec![norm_dn(dn)];
    while let Some(g) = stack.pop() {
        if !visited.insert(g.clone()) {
            continue;
        }
        let Some(entry) = by_dn.get(&g) else { continue };
        for m in entry.values(member_attr) {
            let m = norm_dn(m);
            if nested && by_dn.contains_key(&m) {
                stack.push(m);
            } else {
                out.insert(m);
            }
        }
    }
    out
}

impl Collector<'_> {
    /// The members of the location's group DN, once the groups have been read.
    fn ensure_location_members(&mut self) {
        let loc = &self.rt.cfg.location;
        if let (Some(gdn), None) = (&loc.group_dn, &self.location_members) {
            let attr =
                self.rt.cfg.groups.as_ref().map(|g| g.member_attribute.clone()).unwrap_or_else(|| "member".into());
            self.location_members = Some(expand_group(&self.group_entries, gdn, &attr, loc.nested));
        }
    }
}

impl Sink for Collector<'_> {
    fn entry(&mut self, kind: Kind, e: Entry) -> Result<(), SourceError> {
        if kind == Kind::Group {
            self.group_entries.push(e);
            return Ok(());
        }
        self.ensure_location_members();
        let loc = &self.rt.cfg.location;
        // A directory server applies the base DN and filter itself (on attributes we may not fetch).
        let filtered = self.source_applies_location
            || (self.rt.location_filter.as_ref().is_none_or(|f| f.matches(&e)) && under(&e.dn, &loc.base_dn));
        let in_scope = filtered && self.location_members.as_ref().is_none_or(|m| m.contains(&norm_dn(&e.dn)));
        if !in_scope {
            return Ok(());
        }
        let Some(id) = e.first(&self.rt.cfg.id_attribute).map(str::to_owned) else {
            self.skipped_no_id += 1;
            return Ok(());
        };
        let d = Desired::new(id.clone(), self.rt.mapping.apply(&e), self.rt.is_active(&e));
        self.dn_to_id.insert(norm_dn(&e.dn), id.clone());
        if let Some(attr) = self.rt.cfg.groups.as_ref().and_then(|g| g.member_of_attribute.as_ref()) {
            self.member_of.push((id.clone(), e.values(attr).to_vec()));
        }
        match decide_user(self.rows.get(&id), &d, &self.rt.mapping, self.now) {
            Decision::Nothing => {}
            Decision::ClearDirty => self.clear_dirty.push(id.clone()),
            Decision::Deferred => self.deferred += 1,
            Decision::Send(p) => self.planned.push(*p),
        }
        self.seen.insert(id);
        Ok(())
    }
}

use crate::clock::unix_now;

/// Engine-wide knobs for a cycle.
pub struct CycleOptions<'a> {
    pub dry_run: bool,
    pub backoff_base: u64,
    pub backoff_max: u64,
    pub stop: &'a AtomicBool,
    pub progress: &'a dyn Progress,
}

fn view(rt: &ChannelRuntime, p: &Planned) -> PlannedView {
    let keys: Vec<String> = match &p.record.changed {
        Some(c) => c.clone(),
        None => p.record.attributes.keys().cloned().collect(),
    };
    let changes = keys
        .into_iter()
        .map(|k| {
            let v = if rt.mapping.masked(&k) {
                serde_json::Value::String("(masked)".into())
            } else if k == "active" {
                serde_json::Value::Bool(true)
            } else if k == "members" {
                serde_json::json!(p.members.len())
            } else {
                p.record.attributes.get(&k).cloned().unwrap_or(serde_json::Value::Null)
            };
            (k, v)
        })
        .collect();
    PlannedView {
        event_type: p.intent.as_str().into(),
        object_class: p.record.object_class.as_str().into(),
        source_id: p.record.source_id.clone(),
        target_id: p.record.target_id.clone(),
        changes,
    }
}

fn backoff(attempts: u32, base: u64, max: u64, retry_after_ms: Option<u64>) -> i64 {
    let exp = base.saturating_mul(1u64 << attempts.saturating_sub(1).min(20)).min(max);
    exp.max(retry_after_ms.unwrap_or(0).div_ceil(1000)) as i64
}

/// Sends `planned` in batches over `threads`, settling each batch's results as they come back.
#[allow(clippy::too_many_arguments)]
fn execute(
    rt: &ChannelRuntime,
    state: &mut State,
    audit: &Audit,
    table: Table,
    planned: Vec<Planned>,
    rows: &HashMap<String, Row>,
    cycle_id: i64,
    opts: &CycleOptions<'_>,
    figures: &mut CycleFigures,
) -> Result<HashMap<String, RecordResult>, CycleError> {
    let mut out = HashMap::new();
    if planned.is_empty() {
        return Ok(out);
    }
    let channel = rt.cfg.name.as_str();
    // Intent first: a crash from here on leaves these records dirty, and the next cycle resends them.
    let ids: Vec<(String, Status)> = planned
        .iter()
        .map(|p| (p.record.source_id.clone(), rows.get(&p.record.source_id).map(|r| r.status).unwrap_or(p.status)))
        .collect();
    state.mark_in_flight(table, channel, &ids)?;
    let batches: Vec<&[Planned]> = planned.chunks(rt.cfg.batch_size).collect();
    opts.progress.start(channel, if table == Table::Users { "users" } else { "groups" }, ids.len() as u64);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<Vec<RecordResult>, connector_abi::CallError>)>();
    let workers = rt.cfg.threads.min(batches.len()).max(1);
    std::thread::scope(|s| -> Result<(), CycleError> {
        for _ in 0..workers {
            let (tx, next, batches, instance) = (tx.clone(), &next, &batches, &rt.instance);
            s.spawn(move || loop {
                if opts.stop.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(batch) = batches.get(i) else { return };
                let request = ProvisionRequest { v: 1, records: batch.iter().map(|p| p.record.clone()).collect() };
                let result = instance.provision(&request).map(|r| r.results);
                if tx.send((i, result)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let now = unix_now();
        for (i, result) in rx {
            let batch = batches[i];
            let results: Vec<RecordResult> = match result {
                Ok(r) => r,
                Err(e) => {
                    let info = e.to_error_info();
                    batch.iter().map(|p| RecordResult::failed(&p.record, info.clone())).collect()
                }
            };
            let mut settled = Vec::with_capacity(batch.len());
            let mut events = Vec::with_capacity(batch.len());
            let causes: Vec<Option<String>> = results
                .iter()
                .map(|r| r.error.as_ref().map(|e| format!("{}: {}", e.kind.as_str(), e.message)))
                .collect();
            for ((p, r), cause) in batch.iter().zip(&results).zip(&causes) {
                let old = rows.get(&p.record.source_id);
                let ok = !matches!(r.outcome, Outcome::Failed | Outcome::Unknown);
                let row = if ok {
                    match r.outcome {
                        Outcome::Created => figures.created += 1,
                        Outcome::Updated => figures.updated += 1,
                        Outcome::Reactivated => figures.reactivated += 1,
                        Outcome::Disabled => figures.disabled += 1,
                        Outcome::Deleted => figures.deleted += 1,
                        Outcome::Unchanged => figures.unchanged += 1,
                        _ => figures.skipped += 1,
                    }
                    Row {
                        source_id: p.record.source_id.clone(),
                        target_id: r.target_id.clone().or_else(|| p.record.target_id.clone()),
                        hash: p.hash.clone(),
                        attr_hashes: p.attr_hashes.clone(),
                        status: p.status,
                        dirty: false,
                        attempts: 0,
                        next_attempt_at: 0,
                        last_error: None,
                    }
                } else {
                    figures.failed += 1;
                    let attempts = old.map(|o| o.attempts).unwrap_or(0) + 1;
                    let retry_after = r.error.as_ref().and_then(|e| e.retry_after_ms);
                    Row {
                        source_id: p.record.source_id.clone(),
                        target_id: r.target_id.clone().or_else(|| old.and_then(|o| o.target_id.clone())),
                        hash: old.map(|o| o.hash.clone()).unwrap_or_default(),
                        attr_hashes: old.map(|o| o.attr_hashes.clone()).unwrap_or_default(),
                        status: old.map(|o| o.status).unwrap_or(Status::Active),
                        dirty: true,
                        attempts,
                        next_attempt_at: now + backoff(attempts, opts.backoff_base, opts.backoff_max, retry_after),
                        last_error: cause.clone(),
                    }
                };
                settled.push(row);
                events.push(AuditEvent {
                    time: now_rfc3339(),
                    cycle_id,
                    channel,
                    event_type: p.intent.as_str(),
                    object_class: p.record.object_class.as_str(),
                    source_id: &p.record.source_id,
                    target_id: r.target_id.as_deref().or(p.record.target_id.as_deref()),
                    is_success: ok,
                    outcome: outcome_name(r.outcome),
                    non_success_cause: cause.as_deref(),
                });
                for w in &r.warnings {
                    tracing::warn!(channel, source_id = %p.record.source_id, "{w}");
                }
            }
            state.settle(table, channel, &settled, now)?;
            if table == Table::Groups {
                for (p, r) in batch.iter().zip(&results) {
                    if !matches!(r.outcome, Outcome::Failed | Outcome::Unknown) {
                        let members = if p.status == Status::Removed { Vec::new() } else { p.members.clone() };
                        state.set_memberships(channel, &p.record.source_id, &members)?;
                    }
                }
            }
            audit.write(&events)?;
            opts.progress.advance(batch.len() as u64);
            for (p, r) in batch.iter().zip(results) {
                out.insert(p.record.source_id.clone(), r);
            }
        }
        Ok(())
    })?;
    opts.progress.finish();
    Ok(out)
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "unchanged",
        Outcome::Reactivated => "reactivated",
        Outcome::Disabled => "disabled",
        Outcome::Deleted => "deleted",
        Outcome::Skipped => "skipped",
        Outcome::Failed => "failed",
        Outcome::Unknown => "unknown",
    }
}

/// For `plan`: the user rows as they would be after the planned user events succeed.
fn predicted(rows: &HashMap<String, Row>, planned: &[PlannedView]) -> HashMap<String, Row> {
    let mut out = rows.clone();
    for p in planned.iter().filter(|p| p.object_class == "user") {
        let status = match p.event_type.as_str() {
            "CREATE" | "UPDATE" | "REACTIVATE" => Status::Active,
            "DISABLE" => Status::Disabled,
            _ => Status::Removed,
        };
        let row = out.entry(p.source_id.clone()).or_insert_with(|| Row {
            source_id: p.source_id.clone(),
            target_id: None,
            hash: String::new(),
            attr_hashes: Default::default(),
            status,
            dirty: false,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
        });
        row.status = status;
        if row.target_id.is_none() && status == Status::Active {
            row.target_id = Some("(new)".into());
        }
    }
    out
}

fn desired_groups(
    rt: &ChannelRuntime,
    g: &GroupsConfig,
    c: &Collector<'_>,
    user_rows: &HashMap<String, Row>,
) -> Vec<DesiredGroup> {
    let provisioned =
        |id: &String| user_rows.get(id).is_some_and(|r| r.status == Status::Active && r.target_id.is_some());
    let mut out = Vec::new();
    if let Some(_attr) = &g.member_of_attribute {
        let mut by_group: std::collections::BTreeMap<String, (String, Vec<String>)> = Default::default();
        for (uid, groups) in &c.member_of {
            for v in groups {
                let key = if v.contains('=') { norm_dn(v) } else { v.to_lowercase() };
                let name = if v.contains('=') { crate::mapping::extract_cn(v) } else { v.clone() };
                let entry = by_group.entry(key).or_insert_with(|| (name, Vec::new()));
                if provisioned(uid) {
                    entry.1.push(uid.clone());
                }
            }
        }
        for (key, (name, mut members)) in by_group {
            members.sort();
            out.push(DesiredGroup { source_id: format!("memberOf:{key}"), name, members });
        }
        return out;
    }
    let name_t = rt.group_name.as_ref();
    for e in c.group_entries.iter().filter(|e| under(&e.dn, &g.base_dn)) {
        let source_id = e.first(&rt.cfg.id_attribute).map(str::to_owned).unwrap_or_else(|| norm_dn(&e.dn));
        let name = name_t.map(|t| t.render(e)).unwrap_or_else(|| crate::mapping::extract_cn(&e.dn));
        let mut members: Vec<String> = expand_group(&c.group_entries, &e.dn, &g.member_attribute, g.nested)
            .iter()
            .filter_map(|dn| c.dn_to_id.get(dn))
            .filter(|id| provisioned(id))
            .cloned()
            .collect();
        members.sort();
        members.dedup();
        if !name.trim().is_empty() {
            out.push(DesiredGroup { source_id, name, members });
        }
    }
    out
}

/// Runs one cycle of a channel (or, with `dry_run`, plans it).
pub fn run_cycle(
    rt: &ChannelRuntime,
    state: &mut State,
    audit: &Audit,
    opts: &CycleOptions<'_>,
) -> Result<CycleReport, CycleError> {
    let started = Instant::now();
    let channel = rt.cfg.name.clone();
    let now = unix_now();
    let cycle_id = if opts.dry_run { 0 } else { state.begin_cycle(&channel, now)? };
    let result = cycle_body(rt, state, audit, opts, cycle_id, now);
    let mut report = match result {
        Ok(r) => r,
        Err(e) => {
            if !opts.dry_run {
                state.end_cycle(cycle_id, unix_now(), &CycleFigures::default(), Some(&e.to_string()))?;
            }
            return Err(e);
        }
    };
    report.duration_ms = started.elapsed().as_millis();
    if !opts.dry_run {
        state.end_cycle(cycle_id, unix_now(), &report.figures, None)?;
    }
    Ok(report)
}

fn cycle_body(
    rt: &ChannelRuntime,
    state: &mut State,
    audit: &Audit,
    opts: &CycleOptions<'_>,
    cycle_id: i64,
    now: i64,
) -> Result<CycleReport, CycleError> {
    let channel = rt.cfg.name.clone();
    let user_rows = state.rows(Table::Users, &channel)?;
    let mut src = source::open(&rt.cfg.source)?;
    let mut attributes = vec![rt.cfg.id_attribute.clone()];
    for f in &rt.mapping.fields {
        attributes.extend(f.attributes());
    }
    match &rt.cfg.account_status {
        Some(AccountStatus::Flag { attribute, .. }) | Some(AccountStatus::ActiveDirectory { attribute }) => {
            attributes.push(attribute.clone())
        }
        None => {}
    }
    let group_filter = match (&rt.cfg.groups, &rt.cfg.location.group_dn) {
        (Some(g), _) if g.member_of_attribute.is_none() => Some(g.clone()),
        (_, Some(_)) => Some(GroupsConfig {
            base_dn: String::new(),
            filter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))".into(),
            member_attribute: "member".into(),
            member_of_attribute: None,
            name: "{cn}".into(),
            nested: rt.cfg.location.nested,
        }),
        _ => None,
    };
    let request = ReadRequest {
        location: rt.cfg.location.clone(),
        groups: group_filter,
        attributes,
        since: state.token(&channel)?,
    };
    let mut c = Collector {
        rt,
        rows: &user_rows,
        now,
        group_entries: Vec::new(),
        location_members: None,
        source_applies_location: src.applies_location(),
        seen: HashSet::new(),
        dn_to_id: HashMap::new(),
        member_of: Vec::new(),
        planned: Vec::new(),
        clear_dirty: Vec::new(),
        deferred: 0,
        skipped_no_id: 0,
    };
    // A source that fails (unreadable, malformed, directory down) fails the cycle before any change.
    let outcome = src.read(&request, &mut c)?;
    c.ensure_location_members();
    if c.skipped_no_id > 0 {
        tracing::warn!(channel = %channel, count = c.skipped_no_id, attribute = %rt.cfg.id_attribute, "entries without the id attribute were ignored");
    }
    // Incremental reads: the presence pass gives every (id, DN) still in the location; unchanged users
    // also resolve group member DNs, and a group DN location still applies.
    let present_ids: Option<HashSet<String>> = outcome.present_users.as_ref().map(|p| {
        for (id, dn) in p {
            c.dn_to_id.entry(norm_dn(dn)).or_insert_with(|| id.clone());
        }
        p.iter()
            .filter(|(_, dn)| c.location_members.as_ref().is_none_or(|m| m.contains(&norm_dn(dn))))
            .map(|(id, _)| id.clone())
            .collect()
    });
    let present = |id: &str| match &present_ids {
        Some(p) => p.contains(id) || c.seen.contains(id),
        None => c.seen.contains(id),
    };
    let mut planned = std::mem::take(&mut c.planned);
    let mut gone_without_target = Vec::new();
    for row in user_rows.values() {
        if present(&row.source_id) {
            continue;
        }
        if row.target_id.is_none() && row.status != Status::Removed {
            gone_without_target.push(row.clone());
            continue;
        }
        if let Some(p) = decide_gone(row, ObjectClass::User, now) {
            planned.push(p);
        }
    }
    let mut report = CycleReport {
        channel: channel.clone(),
        cycle_id,
        deferred: c.deferred,
        entries_read: outcome.entries_read,
        ids_checked: outcome.ids_checked,
        ..Default::default()
    };
    if opts.dry_run {
        report.planned = planned.iter().map(|p| view(rt, p)).collect();
    } else {
        // Rows that need no call: dirty rows with nothing left to do, and never-created users that left.
        let mut quiet: Vec<Row> = c
            .clear_dirty
            .iter()
            .filter_map(|id| user_rows.get(id))
            .map(|r| Row { dirty: false, attempts: 0, last_error: None, ..r.clone() })
            .collect();
        quiet.extend(gone_without_target.into_iter().map(|r| Row { status: Status::Removed, dirty: false, ..r }));
        state.settle(Table::Users, &channel, &quiet, now)?;
        execute(rt, state, audit, Table::Users, planned, &user_rows, cycle_id, opts, &mut report.figures)?;
    }

    // Groups, once the users' target ids are known.
    if let Some(g) = &rt.cfg.groups {
        if opts.stop.load(Ordering::SeqCst) {
            return Ok(report);
        }
        let user_rows =
            if opts.dry_run { predicted(&user_rows, &report.planned) } else { state.rows(Table::Users, &channel)? };
        let group_rows = state.rows(Table::Groups, &channel)?;
        let memberships = state.memberships(&channel)?;
        let target_of = |id: &str| user_rows.get(id).and_then(|r| r.target_id.clone());
        let desired = desired_groups(rt, g, &c, &user_rows);
        let mut gplanned = Vec::new();
        let mut gclear = Vec::new();
        let seen: HashSet<&str> = desired.iter().map(|d| d.source_id.as_str()).collect();
        for d in &desired {
            match decide_group(group_rows.get(&d.source_id), d, memberships.get(&d.source_id), &target_of, now) {
                Decision::Send(p) => gplanned.push(*p),
                Decision::ClearDirty => gclear.push(d.source_id.clone()),
                Decision::Deferred => report.deferred += 1,
                Decision::Nothing => {}
            }
        }
        let groups_present = |id: &str| match &outcome.present_groups {
            Some(p) => p.contains(id),
            None => seen.contains(id),
        };
        for row in group_rows.values().filter(|r| !groups_present(&r.source_id)) {
            if let Some(p) = decide_gone(row, ObjectClass::Group, now) {
                gplanned.push(p);
            }
        }
        if opts.dry_run {
            report.planned.extend(gplanned.iter().map(|p| view(rt, p)));
        } else {
            let quiet: Vec<Row> = gclear
                .iter()
                .filter_map(|id| group_rows.get(id))
                .map(|r| Row { dirty: false, attempts: 0, last_error: None, ..r.clone() })
                .collect();
            state.settle(Table::Groups, &channel, &quiet, now)?;
            execute(rt, state, audit, Table::Groups, gplanned, &group_rows, cycle_id, opts, &mut report.figures)?;
        }
    }
    if !opts.dry_run && outcome.token.is_some() {
        state.set_token(&channel, outcome.token.as_deref())?;
    }
    Ok(report)
}
