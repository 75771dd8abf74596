//! `sync --once`: open the connections and run one cycle of every active channel. The cycle loop and
//! the summary are shared with `run` and `plan`.

use super::{progress, stop_flag, CommandError, Context};
use crate::audit::Audit;
use crate::compile::Compiled;
use crate::connections;
use crate::engine::{run_cycle, ChannelRuntime, CycleOptions, CycleReport, Progress};
use crate::state::{ConnectionMeta, State};
use anyhow::Context as _;
use connector_abi::Instance;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `provisioner sync --once [--json]`.
pub fn run(ctx: &Context, once: bool, json: bool) -> Result<(), CommandError> {
    if !once {
        return Err(CommandError::Usage(anyhow::anyhow!("`sync` needs --once (use `run` for the loop)")));
    }
    let compiled = ctx.load()?;
    let mut lock = Some(super::lock_state(&compiled.loaded)?);
    let (mut state, audit) = super::open_locked(&compiled.loaded, &mut lock)?;
    let mut rts = runtimes(&compiled, &mut state, false)?;
    let stop = stop_flag()?;
    let bars = progress::Bars::default();
    // The process exits after this cycle: what it read is left to the exit to return.
    crate::engine::exit_after_cycles();
    let reports = cycle_all(&mut rts, &mut state, &audit, &compiled, false, &stop, progress::for_stderr(&bars));
    if json {
        println!("{}", serde_json::to_string_pretty(&reports).context("encoding the summary")?);
    } else {
        print!("{}", summary(&reports));
    }
    for r in &reports {
        if let Some(g) = &r.guard {
            eprintln!("{g}");
        }
    }
    if reports.iter().any(|r| r.guard.is_some()) {
        return Err(CommandError::Failed(anyhow::anyhow!(
            "deprovisioning actions were held by the guard (see above); nothing else failed unless the summary says so"
        )));
    }
    if reports.iter().any(|r| r.error.is_some() || r.figures.failed > 0) {
        return Err(CommandError::Failed(anyhow::anyhow!(
            "some records or channels failed (see the summary and the audit log)"
        )));
    }
    Ok(())
}

/// The active channels of every active connection, each with its connection's instance, after the
/// connection-level checks against the state: the unique user identifier must be the one existing
/// accounts were matched by, and a change of the connection's settings lets skipped records be
/// decided again. With `dry_run` nothing is written.
pub fn runtimes(compiled: &Compiled, state: &mut State, dry_run: bool) -> Result<Vec<ChannelRuntime>, CommandError> {
    runtimes_of(compiled, state, dry_run, None)
}

/// [`runtimes`] of the connections named in `only` (all when `None`): a cluster node opens only the
/// connections it holds the leases of.
pub fn runtimes_of(
    compiled: &Compiled,
    state: &mut State,
    dry_run: bool,
    only: Option<&std::collections::HashSet<String>>,
) -> Result<Vec<ChannelRuntime>, CommandError> {
    let loaded = &compiled.loaded;
    let wanted = |connection: &str| only.is_none_or(|o| o.contains(connection));
    let pairs: Vec<(String, String)> = compiled
        .channels
        .iter()
        .filter(|c| wanted(&c.connection))
        .map(|c| (c.cfg.name.clone(), c.connection.clone()))
        .collect();
    state.bind_channels(&pairs, !dry_run).context("recording the channels' connections")?;
    let mut out = Vec::new();
    for (i, conn) in loaded.config.connections.iter().enumerate().filter(|(_, c)| wanted(&c.name)) {
        let mut channels = compiled.channels.iter().filter(|c| c.connection == conn.name && c.cfg.active).peekable();
        if !conn.active || channels.peek().is_none() {
            continue;
        }
        let open = connections::open(loaded, i).with_context(|| format!("opening connection `{}`", conn.name))?;
        let ident_attribute = connections::unique_identifier(conn, &open.library);
        let settings_hash = connections::settings_fingerprint(conn);
        let meta = state.connection_meta(&conn.name).context("reading the state")?;
        if let Some((was, now)) = meta.unique_identifier.as_ref().zip(ident_attribute.as_ref()).filter(|(w, n)| w != n)
        {
            // Counted only when the identifier changed (it scans the connection's users).
            let provisioned = state.provisioned_users(&conn.name).context("reading the state")?;
            if provisioned > 0 {
                let names: Vec<&str> = compiled
                    .channels
                    .iter()
                    .filter(|c| c.connection == conn.name)
                    .map(|c| c.cfg.name.as_str())
                    .collect();
                return Err(CommandError::Usage(anyhow::anyhow!(
                    "connection `{}`: the unique user identifier is now {now}, but {provisioned} user(s) were matched to their accounts by {was}. The identifier is fixed per connection: changing it under existing accounts could link records to other people's accounts or create duplicates. Put it back to {was}, or run `provisioner reset` for the connection's channels ({}) so the next cycle re-matches existing accounts by {now} without duplicates.",
                    conn.name,
                    names.join(", ")
                )));
            }
        }
        let honour_skipped = meta.settings_hash.is_none() || meta.settings_hash.as_deref() == Some(&settings_hash);
        if !dry_run {
            if !honour_skipped {
                let n = state.clear_skipped(&conn.name).context("updating the state")?;
                tracing::info!(connection = %conn.name, records = n, "the connection's settings changed: records skipped before are decided again");
            }
            let meta =
                ConnectionMeta { settings_hash: Some(settings_hash), unique_identifier: ident_attribute.clone() };
            state.set_connection_meta(&conn.name, &meta).context("updating the state")?;
        }
        let panicked = Arc::new(AtomicBool::new(false));
        out.extend(channels.map(|ch| ChannelRuntime {
            ch: ch.clone(),
            instance: open.instance.clone(),
            ident_attribute: ident_attribute.clone(),
            honour_skipped: honour_skipped || !dry_run,
            panicked: Arc::clone(&panicked),
            connection_index: i,
        }));
    }
    Ok(out)
}

/// How long a stop signal waits for the calls in flight to return (after asking the connectors to
/// cancel them) before the process exits anyway. Records in flight stay dirty (intent is recorded
/// before every call), so the next start resends them and the connector matches them: no duplicate.
pub const STOP_GRACE: Duration = Duration::from_secs(4);

/// Replaces the instance of every connection whose instance panicked (the ABI says to discard it).
fn renew_panicked(rts: &mut [ChannelRuntime], compiled: &Compiled) {
    for i in 0..rts.len() {
        if !rts[i].panicked.load(Ordering::SeqCst) {
            continue;
        }
        let index = rts[i].connection_index;
        match connections::open(&compiled.loaded, index) {
            Ok(open) => {
                let fresh = Arc::new(AtomicBool::new(false));
                for rt in rts.iter_mut().filter(|rt| rt.connection_index == index) {
                    rt.instance = Arc::clone(&open.instance);
                    rt.panicked = Arc::clone(&fresh);
                }
                tracing::info!(connection = %rts[i].ch.connection, "opened a fresh connector instance after a panic");
            }
            Err(e) => {
                tracing::error!(connection = %rts[i].ch.connection, "cannot reopen the connector after a panic: {e}")
            }
        }
    }
}

/// Runs one cycle of every channel; returns the reports (a failed channel has `error` set).
///
/// A stop signal (`stop`) lets no new batch start and asks every connector to cancel its calls in
/// flight (ABI 1.1); if they have not returned within [`STOP_GRACE`], the process exits.
pub fn cycle_all(
    rts: &mut [ChannelRuntime],
    state: &mut State,
    audit: &Audit,
    compiled: &Compiled,
    dry_run: bool,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Vec<CycleReport> {
    cycle_all_leased(rts, state, audit, compiled, dry_run, stop, stop, progress, None)
}

/// [`cycle_all`] under a lease (failover and cluster modes): `lease` says how long it stays valid here;
/// `stop` halts the cycles (the lease was lost, or the process stops); the process exits after the
/// grace only when `signal` (SIGTERM/SIGINT) is set: a node that lost one lease goes on with the others.
#[allow(clippy::too_many_arguments)]
pub fn cycle_all_leased(
    rts: &mut [ChannelRuntime],
    state: &mut State,
    audit: &Audit,
    compiled: &Compiled,
    dry_run: bool,
    stop: &AtomicBool,
    signal: &AtomicBool,
    progress: &dyn Progress,
    lease: Option<&(dyn Fn() -> Option<Duration> + Sync)>,
) -> Vec<CycleReport> {
    let opts = CycleOptions {
        dry_run,
        backoff_base: compiled.loaded.config.engine.retry_backoff_seconds,
        backoff_max: compiled.loaded.config.engine.retry_backoff_max_seconds,
        stop,
        progress,
        lease,
        exits_after: false,
    };
    let live: Mutex<Vec<Arc<Instance>>> = Mutex::new(rts.iter().map(|rt| Arc::clone(&rt.instance)).collect());
    let done = AtomicBool::new(false);
    /// Sets `done` however the cycles end (a panic included) and wakes the stop watcher, so it returns
    /// at once.
    struct Done<'a>(&'a AtomicBool, std::thread::Thread);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
            self.1.unpark();
        }
    }
    std::thread::scope(|s| {
        let watcher = s.spawn(|| stop_watch(stop, signal, &done, &live));
        let _done = Done(&done, watcher.thread().clone());
        cycles(rts, state, audit, compiled, &opts, &live)
    })
}

/// Waits for `stop` (or the end of the cycles); then cancels the calls in flight and, when the process
/// is stopping (`signal`), ends it if they do not return within [`STOP_GRACE`].
fn stop_watch(stop: &AtomicBool, signal: &AtomicBool, done: &AtomicBool, live: &Mutex<Vec<Arc<Instance>>>) {
    while !done.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) && !signal.load(Ordering::SeqCst) {
        // Woken when the cycles end; the signal flags are polled.
        std::thread::park_timeout(Duration::from_millis(50));
    }
    if done.load(Ordering::SeqCst) {
        return;
    }
    let instances = live.lock().map(|l| l.clone()).unwrap_or_default();
    let mut cancelled = 0;
    for inst in &instances {
        match inst.cancel() {
            Ok(true) => cancelled += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!("cancel failed: {e}"),
        }
    }
    tracing::info!(instances = instances.len(), cancelled, "stop requested: cancelling the calls in flight");
    let until = Instant::now() + STOP_GRACE;
    while !done.load(Ordering::SeqCst) {
        if Instant::now() >= until && signal.load(Ordering::SeqCst) {
            eprintln!(
                "stopped while a connector call was still in flight (its connector cannot cancel, or did not in time); those records stay marked in flight and are resent, without duplicates, at the next start"
            );
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cycles(
    rts: &mut [ChannelRuntime],
    state: &mut State,
    audit: &Audit,
    compiled: &Compiled,
    opts: &CycleOptions<'_>,
    live: &Mutex<Vec<Arc<Instance>>>,
) -> Vec<CycleReport> {
    let (dry_run, stop) = (opts.dry_run, opts.stop);
    let mut reports = Vec::new();
    for i in 0..rts.len() {
        if rts.iter().any(|rt| rt.panicked.load(Ordering::SeqCst)) {
            renew_panicked(rts, compiled);
            if let Ok(mut l) = live.lock() {
                *l = rts.iter().map(|rt| Arc::clone(&rt.instance)).collect();
            }
        }
        let rt = &rts[i];
        if rt.panicked.load(Ordering::SeqCst) {
            // Its connector panicked and could not be reopened: fail the channel rather than mark its
            // records in flight with nowhere to send them.
            reports.push(CycleReport {
                channel: rt.name().to_owned(),
                error: Some("the connector panicked and a fresh instance could not be opened (see the log)".into()),
                ..Default::default()
            });
            continue;
        }
        // The last cycle of a process that exits next leaves what it read to the exit.
        let opts = CycleOptions { exits_after: i + 1 == rts.len() && crate::engine::exits_after_cycles(), ..*opts };
        match run_cycle(rt, state, audit, &opts) {
            Ok(r) => {
                if let Some(g) = r.guard.as_ref().filter(|_| !dry_run) {
                    tracing::warn!(channel = %r.channel, held = r.held.len(), "{g}");
                }
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
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    // A panic in the last channel: the next `run` cycle gets a fresh instance.
    renew_panicked(rts, compiled);
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
                    "{}: created {}, updated {}, reactivated {}, disabled {}, deleted {}, unchanged {}, skipped {}, failed {}, deferred {}, held {} ({} entries read{}, {} ms)\n",
                    r.channel, f.created, f.updated, f.reactivated, f.disabled, f.deleted, f.unchanged, f.skipped, f.failed, r.deferred, r.held.len(), r.entries_read,
                    if r.ids_checked > 0 { format!(", {} ids checked", r.ids_checked) } else { String::new() },
                    r.duration_ms
                ));
            }
        }
    }
    s
}
