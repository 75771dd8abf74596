//! `sync --once`: open the connections and run one cycle of every active channel. The cycle loop and
//! the summary are shared with `run` and `plan`.

use super::{open_state, progress, stop_flag, CommandError, Context};
use crate::audit::Audit;
use crate::compile::Compiled;
use crate::connections;
use crate::engine::{run_cycle, ChannelRuntime, CycleOptions, CycleReport, Progress};
use crate::state::State;
use anyhow::Context as _;
use std::sync::atomic::AtomicBool;

/// `provisioner sync --once [--json]`.
pub fn run(ctx: &Context, once: bool, json: bool) -> Result<(), CommandError> {
    if !once {
        return Err(CommandError::Usage(anyhow::anyhow!("`sync` needs --once (use `run` for the loop)")));
    }
    let compiled = ctx.load()?;
    let (mut state, audit) = open_state(&compiled.loaded)?;
    let rts = runtimes(&compiled)?;
    let stop = stop_flag()?;
    let bars = progress::Bars::default();
    let reports = cycle_all(&rts, &mut state, &audit, &compiled, false, &stop, progress::for_stderr(&bars));
    if json {
        println!("{}", serde_json::to_string_pretty(&reports).context("encoding the summary")?);
    } else {
        print!("{}", summary(&reports));
    }
    if reports.iter().any(|r| r.error.is_some() || r.figures.failed > 0) {
        return Err(CommandError::Failed(anyhow::anyhow!(
            "some records or channels failed (see the summary and the audit log)"
        )));
    }
    Ok(())
}

/// The active channels of every active connection, each with its connection's instance.
pub fn runtimes(compiled: &Compiled) -> anyhow::Result<Vec<ChannelRuntime>> {
    let loaded = &compiled.loaded;
    let mut out = Vec::new();
    for (i, conn) in loaded.config.connections.iter().enumerate() {
        let mut channels = compiled.channels.iter().filter(|c| c.connection == conn.name && c.cfg.active).peekable();
        if !conn.active || channels.peek().is_none() {
            continue;
        }
        let open = connections::open(loaded, i).with_context(|| format!("opening connection `{}`", conn.name))?;
        out.extend(channels.map(|ch| ChannelRuntime { ch: ch.clone(), instance: open.instance.clone() }));
    }
    Ok(out)
}

/// Runs one cycle of every channel; returns the reports (a failed channel has `error` set).
pub fn cycle_all(
    rts: &[ChannelRuntime],
    state: &mut State,
    audit: &Audit,
    compiled: &Compiled,
    dry_run: bool,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Vec<CycleReport> {
    let opts = CycleOptions {
        dry_run,
        backoff_base: compiled.loaded.config.engine.retry_backoff_seconds,
        backoff_max: compiled.loaded.config.engine.retry_backoff_max_seconds,
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
                tracing::error!(channel = %rt.name(), "cycle failed: {e}");
                reports.push(CycleReport {
                    channel: rt.name().to_owned(),
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
