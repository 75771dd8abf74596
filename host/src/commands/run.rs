//! `provisioner run`: cycles every `cycle_interval_seconds` until SIGTERM/SIGINT.

use super::sync::{cycle_all, runtimes, summary};
use super::{open_state, stop_flag, CommandError, Context};
use crate::engine::NoProgress;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// `provisioner run`.
pub fn run(ctx: &Context) -> Result<(), CommandError> {
    let compiled = ctx.load()?;
    let _lock = super::lock_state(&compiled.loaded)?;
    let (mut state, audit) = open_state(&compiled.loaded)?;
    let mut rts = runtimes(&compiled, &mut state, false)?;
    let stop = stop_flag()?;
    let interval = Duration::from_secs(compiled.loaded.config.engine.cycle_interval_seconds);
    tracing::info!(channels = rts.len(), interval_s = interval.as_secs(), "provisioner running");
    while !stop.load(Ordering::SeqCst) {
        let reports = cycle_all(&mut rts, &mut state, &audit, &compiled, false, &stop, &NoProgress);
        print!("{}", summary(&reports));
        let until = Instant::now() + interval;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    tracing::info!("stopped");
    Ok(())
}
