//! `provisioner plan`: what a cycle of every active channel would send, without sending or writing.

use super::sync::{cycle_all, runtimes};
use super::{open_state, CommandError, Context};
use crate::engine::{CycleReport, NoProgress};
use anyhow::Context as _;
use std::sync::atomic::AtomicBool;

/// `provisioner plan [--json]`.
pub fn run(ctx: &Context, json: bool) -> Result<(), CommandError> {
    let compiled = ctx.load()?;
    let (mut state, audit) = open_state(&compiled.loaded)?;
    let mut rts = runtimes(&compiled, &mut state, true)?;
    let stop = AtomicBool::new(false);
    crate::engine::exit_after_cycles();
    let reports = cycle_all(&mut rts, &mut state, &audit, &compiled, true, &stop, &NoProgress);
    if json {
        println!("{}", serde_json::to_string_pretty(&reports).context("encoding the plan")?);
    } else {
        print!("{}", render_plan(&reports));
    }
    if reports.iter().any(|r| r.error.is_some()) {
        return Err(CommandError::Failed(anyhow::anyhow!("some channels could not be planned")));
    }
    Ok(())
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
        if let Some(g) = &r.guard {
            s.push_str(&format!("  {g}\n"));
            for a in &r.held {
                let member = if a.member_id.is_empty() { String::new() } else { format!(" ∋ {}", a.member_id) };
                s.push_str(&format!("  HELD {:<13} {} {}{member}\n", a.action, a.object_class, a.source_id));
            }
        }
        for x in &r.refused {
            s.push_str(&format!("  REFUSED {:<13} {} {}: {}\n", x.event_type, x.object_class, x.source_id, x.reason));
        }
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
