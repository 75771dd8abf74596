//! Progress bars (indicatif) on a terminal; nothing otherwise (the summary lines still print).

use crate::engine::{NoProgress, Progress};
use std::io::IsTerminal as _;
use std::sync::Mutex;

/// One bar at a time.
#[derive(Default)]
pub(crate) struct Bars(Mutex<Option<indicatif::ProgressBar>>);

impl Progress for Bars {
    fn start(&self, channel: &str, phase: &str, total: u64) {
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>20} {bar:40} {pos}/{len} {per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_prefix(format!("{channel} {phase}"));
        if let Ok(mut g) = self.0.lock() {
            *g = Some(pb);
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(g) = self.0.lock() {
            if let Some(pb) = g.as_ref() {
                pb.inc(n);
            }
        }
    }
    fn add(&self, n: u64) {
        if let Ok(g) = self.0.lock() {
            if let Some(pb) = g.as_ref() {
                pb.inc_length(n);
            }
        }
    }
    fn finish(&self) {
        if let Ok(mut g) = self.0.lock() {
            if let Some(pb) = g.take() {
                pb.finish_and_clear();
            }
        }
    }
}

/// Bars when stderr is a terminal.
pub(crate) fn for_stderr(bars: &Bars) -> &dyn Progress {
    if std::io::stderr().is_terminal() {
        bars
    } else {
        &NoProgress
    }
}
