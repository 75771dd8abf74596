//! `sync --once`, `run` and `plan`: open the connections, run (or plan) a cycle of every active channel.

use crate::audit::Audit;
use crate::config::Loaded;
use crate::connections;
use crate::engine::{run_cycle, ChannelRuntime, CycleOptions, CycleReport, Progress};
use crate::state::State;
use std::sync::atomic::AtomicBool;

/// The channels of every active connection, ready to run.
pub fn runtimes(loaded: &Loaded) -> anyhow::Result<Vec<ChannelRuntime>> {
    use anyhow::Context as _;
    let mut out = Vec::new();
    for (i, conn) in loaded.config.connections.iter().enumerate() {
        if !conn.active || conn.channels.iter().all(|c| !c.active) {
            continue;
        }
        let open = connections::open(loaded, i).with_context(|| format!("opening connection `{}`", conn.name))?;
        for ch in conn.channels.iter().filter(|c| c.active) {
            out.push(
                ChannelRuntime::new(&conn.name, ch.clone(), open.instance.clone())
                    .with_context(|| format!("channel `{}`", ch.name))?,
            );
        }
    }
    Ok(out)
}

/// Runs one cycle of every channel; returns the reports (a failed channel has `error` set).
pub fn cycle_all(
    rts: &[ChannelRuntime],
    state: &mut State,
    audit: &Audit,
    loaded: &Loaded,
    dry_run: bool,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Vec<CycleReport> {
    let opts = CycleOptions {
        dry_run,
        backoff_base: loaded.config.engine.retry_backoff_seconds,
        backoff_max: loaded.config.engine.retry_backoff_max_seconds,
        stop,
        progress,
    };
    let mut reports = Vec::new();
    for rt in rts {
        match run_cycle(rt, state, audit, &opts) {
            Ok(r) => {
                if !dry_run {
                    let f = &r.figures;
                    tracing::info!(
                        channel = %r.channel, cycle = r.cycle_id, created = f.created, updated = f.updated,
                        reactivated = f.reactivated, disabled = f.disabled, deleted = f.deleted, unchanged = f.unchanged,
                        skipped = f.skipped, failed = f.failed, deferred = r.deferred, duration_ms = r.duration_ms as u64,
                        "channel summary"
                    );
                }
                reports.push(r);
            }
            Err(e) => {
                tracing::error!(channel = %rt.cfg.name, "cycle failed: {e}");
                reports.push(CycleReport {
                    channel: rt.cfg.name.clone(),
                    error: Some(e.to_string()),
                    ..Default::default()
                });
            }
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
    }
    reports
}

/// The summary lines printed after a cycle.
pub fn summary(reports: &[CycleReport]) -> String {
    let mut s = String::new();
    for r in reports {
        match &r.error {
            Some(e) => s.push_str(&format!("{}: cycle failed: {e}\n", r.channel)),
            None => {
                let f = &r.figures;
                s.push_str(&format!(
                    "{}: created {}, updated {}, reactivated {}, disabled {}, deleted {}, unchanged {}, skipped {}, failed {}, deferred {} ({} entries read{}, {} ms)\n",
                    r.channel, f.created, f.updated, f.reactivated, f.disabled, f.deleted, f.unchanged, f.skipped, f.failed, r.deferred, r.entries_read,
                    if r.ids_checked > 0 { format!(", {} ids checked", r.ids_checked) } else { String::new() },
                    r.duration_ms
                ));
            }
        }
    }
    s
}

/// The plan as readable text.
pub fn render_plan(reports: &[CycleReport]) -> String {
    let mut s = String::new();
    for r in reports {
        if let Some(e) = &r.error {
            s.push_str(&format!("{}: cannot plan: {e}\n", r.channel));
            continue;
        }
        s.push_str(&format!("{}: {} change(s)\n", r.channel, r.planned.len()));
        for p in &r.planned {
            let target = p.target_id.as_deref().map(|t| format!(" → {t}")).unwrap_or_default();
            s.push_str(&format!("  {:<13} {} {}{}\n", p.event_type, p.object_class, p.source_id, target));
            for (k, v) in &p.changes {
                s.push_str(&format!("      {k}: {v}\n"));
            }
        }
    }
    s
}
