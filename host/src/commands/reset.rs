//! `provisioner reset CHANNEL | --reset-all`: forget a channel's provisioning state; its next cycle
//! re-matches existing target accounts by the unique identifier (no duplicates).

use super::{CommandError, Context};
use anyhow::Context as _;

/// `provisioner reset`.
pub fn run(ctx: &Context, channel: Option<String>, reset_all: bool) -> Result<(), CommandError> {
    let compiled = ctx.load()?;
    let mut lock = Some(super::lock_state(&compiled.loaded)?);
    let (state, _) = super::open_locked(&compiled.loaded, &mut lock)?;
    let all: Vec<String> = compiled.channels.iter().map(|c| c.cfg.name.clone()).collect();
    let targets = match (channel, reset_all) {
        (_, true) => all,
        (Some(c), false) if all.contains(&c) => vec![c],
        (Some(c), false) => {
            return Err(CommandError::Usage(anyhow::anyhow!("no channel `{c}` in {}", ctx.config.display())))
        }
        (None, false) => return Err(CommandError::Usage(anyhow::anyhow!("name a channel, or give --reset-all"))),
    };
    for c in &targets {
        state.reset(c).with_context(|| format!("resetting `{c}`"))?;
        println!("reset {c}");
    }
    Ok(())
}
