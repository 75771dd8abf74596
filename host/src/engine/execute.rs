//! Execute: settle each batch as it comes back from the connector ([`super::dispatch`] makes the calls).
//! Intent first: every record is marked in flight (dirty) in one committed transaction before any call,
//! so a crash leaves it dirty and the next cycle resends it.
//!
//! Results are bound to records by `source_id`, not by position: a connector may return them in any
//! order, but a batch whose results omit, repeat or invent a record fails closed (every record of the
//! batch is recorded as failed and stays dirty; nothing is recorded as done).

use super::diff::{Intent, Planned};
use super::{ChannelRuntime, CycleError, CycleOptions};
use crate::audit::{Audit, AuditEvent};
use crate::clock::{now_rfc3339, unix_now};
use crate::state::{AttrHashes, CycleFigures, Owner, Row, State, Status, Table};
use connector_abi::payload::{ErrorInfo, ErrorKind, Outcome, Record, RecordResult};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

/// What to record when a record's call succeeds (the record itself travels in the request).
pub(super) struct Settlement {
    intent: Intent,
    status: Status,
    hash: String,
    attr_hashes: AttrHashes,
    members: Vec<String>,
    ident_hash: Option<String>,
    dn_hash: Option<String>,
}

impl Settlement {
    pub(super) fn split(p: Planned) -> (Record, Settlement) {
        let s = Settlement {
            intent: p.intent,
            status: p.status,
            hash: p.hash,
            attr_hashes: p.attr_hashes,
            members: p.members,
            ident_hash: p.ident_hash,
            dn_hash: p.dn_hash,
        };
        (p.record, s)
    }
}

/// Sends and settles the records of a cycle.
pub(crate) struct Executor<'a> {
    pub rt: &'a ChannelRuntime,
    pub audit: &'a Audit,
    pub cycle_id: i64,
    pub opts: &'a CycleOptions<'a>,
}

/// Retry delay in seconds for a record that failed `attempts` times (doubling, capped; at least what
/// the target asked for).
fn backoff(attempts: u32, base: u64, max: u64, retry_after_ms: Option<u64>) -> i64 {
    let exp = base.saturating_mul(1u64 << attempts.saturating_sub(1).min(20)).min(max);
    // What the target asked for counts, up to the same cap: a hostile Retry-After cannot park a record.
    i64::try_from(exp.max(retry_after_ms.unwrap_or(0).div_ceil(1000).min(max))).unwrap_or(i64::MAX)
}

/// Puts `results` in the order of `records`, matching by source id (and object class). Repeated source
/// ids within a batch are matched in order. Any result that matches no record, or a record left without
/// a result, refuses the whole batch.
pub(crate) fn bind_results(records: &[Record], results: Vec<RecordResult>) -> Result<Vec<RecordResult>, String> {
    if results.len() != records.len() {
        return Err(format!("{} results for {} records", results.len(), records.len()));
    }
    let mut slots_of: HashMap<&str, VecDeque<usize>> = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        slots_of.entry(r.source_id.as_str()).or_default().push_back(i);
    }
    let mut slots: Vec<Option<RecordResult>> = std::iter::repeat_with(|| None).take(records.len()).collect();
    let (mut foreign, mut repeated) = (0usize, 0usize);
    for r in results {
        match slots_of.get_mut(r.source_id.as_str()) {
            Some(q) => match q.pop_front() {
                Some(i) if records[i].object_class == r.object_class => slots[i] = Some(r),
                Some(_) => foreign += 1,
                None => repeated += 1,
            },
            None => foreign += 1,
        }
    }
    let missing = slots.iter().filter(|s| s.is_none()).count();
    if foreign + repeated + missing > 0 {
        return Err(format!(
            "{foreign} result(s) for records not in the batch, {repeated} repeated, {missing} record(s) without a result"
        ));
    }
    Ok(slots.into_iter().flatten().collect())
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

impl Executor<'_> {
    /// A stop signal or a panicked instance: no new batch, and no groups phase.
    pub(super) fn halted(&self) -> bool {
        self.opts.stop.load(Ordering::SeqCst) || self.rt.panicked.load(Ordering::SeqCst)
    }

    /// Records refused records as failed without calling the connector (they stay dirty).
    pub(crate) fn refuse(
        &self,
        state: &mut State,
        table: Table,
        refused: Vec<(Planned, ErrorInfo)>,
        rows: &HashMap<String, Row>,
        figures: &mut CycleFigures,
    ) -> Result<Vec<Row>, CycleError> {
        if refused.is_empty() {
            return Ok(Vec::new());
        }
        let mut records = Vec::with_capacity(refused.len());
        let mut settlements = Vec::with_capacity(refused.len());
        let mut results = Vec::with_capacity(refused.len());
        for (p, info) in refused {
            let (record, s) = Settlement::split(p);
            results.push(RecordResult::failed(&record, info));
            records.push(record);
            settlements.push(s);
        }
        self.settle(state, table, &records, &settlements, results, rows, figures)
    }

    /// A result (user or group) whose target object is held by another record of the connection becomes
    /// a `duplicate_identifier` failure, so two records never share one account or group (two source
    /// groups with one name, say); accepted objects are added to `owners`.
    pub(super) fn refuse_taken_accounts(
        &self,
        owners: &mut HashMap<String, Owner>,
        records: &[Record],
        results: Vec<RecordResult>,
    ) -> Vec<RecordResult> {
        let channel = self.rt.name();
        records
            .iter()
            .zip(results)
            .map(|(rec, r)| {
                let ok = !matches!(r.outcome, Outcome::Failed | Outcome::Unknown);
                let Some(t) = r.target_id.clone().filter(|_| ok) else { return r };
                match owners.get(&t) {
                    Some(o) if o.channel != channel || o.source_id != rec.source_id => {
                        let place = if o.channel == channel { String::new() } else { format!(" in channel `{}`", o.channel) };
                        RecordResult::failed(
                            rec,
                            ErrorInfo::new(
                                ErrorKind::AlreadyExists,
                                format!(
                                    "the connector matched this record to the account of source id {}{place}: two records would share one account, so the result was not recorded",
                                    o.source_id
                                ),
                            )
                            .with_code("duplicate_identifier"),
                        )
                    }
                    _ => {
                        owners.insert(t, Owner { channel: channel.to_owned(), source_id: rec.source_id.clone(), provisioned: true });
                        r
                    }
                }
            })
            .collect()
    }

    /// Records one batch's results: rows, memberships (groups) and audit events.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn settle(
        &self,
        state: &mut State,
        table: Table,
        records: &[Record],
        settlements: &[Settlement],
        results: Vec<RecordResult>,
        rows: &HashMap<String, Row>,
        figures: &mut CycleFigures,
    ) -> Result<Vec<Row>, CycleError> {
        let channel = self.rt.name();
        let now = unix_now();
        let time = now_rfc3339();
        let mut out = Vec::with_capacity(records.len());
        let mut events = Vec::with_capacity(records.len());
        let causes: Vec<Option<String>> =
            // The kind, the target's code when it gave one, and the connector's message (which holds no values).
            results
                .iter()
                .map(|r| {
                    r.error.as_ref().map(|e| match &e.code {
                        Some(code) => format!("{} ({code}): {}", e.kind.as_str(), e.message),
                        None => format!("{}: {}", e.kind.as_str(), e.message),
                    })
                })
                .collect();
        for (((rec, s), r), cause) in records.iter().zip(settlements).zip(&results).zip(&causes) {
            let old = rows.get(&rec.source_id);
            let ok = !matches!(r.outcome, Outcome::Failed | Outcome::Unknown);
            // A deprovisioning the connector skipped because there is no account is done; any other skip
            // (an option is off) is not.
            let nothing_to_deprovision =
                matches!(s.intent, Intent::Disable | Intent::Delete | Intent::GroupDelete) && r.target_id.is_none();
            let row = if r.outcome == Outcome::Skipped && !nothing_to_deprovision {
                // The connector did not apply it (an option is off, or there was nothing to do): keep
                // what was provisioned, and remember the skipped desire so it is not resent until it
                // changes or the connection's settings do.
                figures.skipped += 1;
                Row {
                    source_id: rec.source_id.clone(),
                    target_id: r.target_id.clone().or_else(|| old.and_then(|o| o.target_id.clone())),
                    hash: old.map(|o| o.hash.clone()).unwrap_or_default(),
                    attr_hashes: old.map(|o| o.attr_hashes.clone()).unwrap_or_default(),
                    status: old.map_or(s.status, |o| o.status),
                    dirty: false,
                    attempts: 0,
                    next_attempt_at: 0,
                    last_error: None,
                    ident_hash: old.and_then(|o| o.ident_hash.clone()),
                    skipped_hash: Some(s.hash.clone()),
                    dn_hash: s.dn_hash.clone(),
                }
            } else if ok {
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
                    source_id: rec.source_id.clone(),
                    target_id: r.target_id.clone().or_else(|| rec.target_id.clone()),
                    hash: s.hash.clone(),
                    attr_hashes: s.attr_hashes.clone(),
                    status: s.status,
                    dirty: false,
                    attempts: 0,
                    next_attempt_at: 0,
                    last_error: None,
                    ident_hash: s.ident_hash.clone(),
                    skipped_hash: None,
                    dn_hash: s.dn_hash.clone(),
                }
            } else {
                figures.failed += 1;
                let attempts = old.map_or(0, |o| o.attempts) + 1;
                let retry_after = r.error.as_ref().and_then(|e| e.retry_after_ms);
                let (base, max) = (self.opts.backoff_base, self.opts.backoff_max);
                Row {
                    source_id: rec.source_id.clone(),
                    target_id: r.target_id.clone().or_else(|| old.and_then(|o| o.target_id.clone())),
                    hash: old.map(|o| o.hash.clone()).unwrap_or_default(),
                    attr_hashes: old.map(|o| o.attr_hashes.clone()).unwrap_or_default(),
                    status: old.map_or(Status::Active, |o| o.status),
                    dirty: true,
                    attempts,
                    next_attempt_at: now.saturating_add(backoff(attempts, base, max, retry_after)),
                    last_error: cause.clone(),
                    ident_hash: old.and_then(|o| o.ident_hash.clone()),
                    skipped_hash: old.and_then(|o| o.skipped_hash.clone()),
                    dn_hash: s.dn_hash.clone(),
                }
            };
            out.push(row);
            events.push(AuditEvent {
                time: time.clone(),
                cycle_id: self.cycle_id,
                channel,
                event_type: s.intent.as_str(),
                object_class: rec.object_class.as_str(),
                source_id: &rec.source_id,
                target_id: r.target_id.as_deref().or(rec.target_id.as_deref()),
                is_success: ok,
                outcome: outcome_name(r.outcome),
                non_success_cause: cause.as_deref(),
                warnings: &r.warnings,
            });
            for w in &r.warnings {
                tracing::warn!(channel, source_id = %rec.source_id, "{w}");
            }
        }
        state.settle(table, channel, &out, now)?;
        if table == Table::Groups {
            // One transaction for the whole batch's memberships.
            let memberships: Vec<(&str, &[String])> = records
                .iter()
                .zip(settlements)
                .zip(&results)
                .filter(|(_, r)| !matches!(r.outcome, Outcome::Failed | Outcome::Unknown | Outcome::Skipped))
                .map(|((rec, s), _)| {
                    let members: &[String] = if s.status == Status::Removed { &[] } else { &s.members };
                    (rec.source_id.as_str(), members)
                })
                .collect();
            state.set_memberships_many(channel, &memberships)?;
        }
        self.audit.write(&events)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_abi::payload::{Attributes, Event, ObjectClass};

    fn rec(id: &str) -> Record {
        Record {
            object_class: ObjectClass::User,
            source_id: id.into(),
            target_id: None,
            event: Event::Upsert,
            attributes: Attributes::new(),
            changed: None,
            members: vec![],
            previous_members: None,
        }
    }

    fn res(id: &str, outcome: Outcome) -> RecordResult {
        RecordResult::of(&rec(id), outcome, None)
    }

    #[test]
    fn results_are_bound_by_source_id() {
        let records = [rec("a"), rec("b"), rec("c")];
        let bound = bind_results(
            &records,
            vec![res("c", Outcome::Deleted), res("a", Outcome::Created), res("b", Outcome::Updated)],
        )
        .unwrap();
        let got: Vec<(&str, Outcome)> = bound.iter().map(|r| (r.source_id.as_str(), r.outcome)).collect();
        assert_eq!(got, [("a", Outcome::Created), ("b", Outcome::Updated), ("c", Outcome::Deleted)]);
    }

    #[test]
    fn missing_repeated_or_foreign_results_refuse_the_batch() {
        let records = [rec("a"), rec("b")];
        let e = bind_results(&records, vec![res("a", Outcome::Created)]).unwrap_err();
        assert!(e.contains("1 results for 2 records"), "{e}");
        let e = bind_results(&records, vec![res("a", Outcome::Created), res("a", Outcome::Created)]).unwrap_err();
        assert!(e.contains("1 repeated") && e.contains("1 record(s) without"), "{e}");
        let e = bind_results(&records, vec![res("a", Outcome::Created), res("zz", Outcome::Created)]).unwrap_err();
        assert!(e.contains("1 result(s) for records not in the batch"), "{e}");
        let mut group = res("b", Outcome::Created);
        group.object_class = ObjectClass::Group;
        assert!(bind_results(&records, vec![res("a", Outcome::Created), group]).is_err());
    }

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        assert_eq!(backoff(1, 30, 3600, None), 30);
        assert_eq!(backoff(3, 30, 3600, None), 120);
        assert_eq!(backoff(30, 30, 3600, None), 3600);
        assert_eq!(backoff(1, 0, 3600, Some(2500)), 3);
    }
}
