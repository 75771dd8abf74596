//! `provisioner nodes [--json]`: the nodes sharing a PostgreSQL state, their role, heartbeat age, and
//! the leases and connections each holds. Works from any node (read-only).

use super::{state_location, CommandError, Context};
use crate::state::StateLocation;
use anyhow::Context as _;

/// `provisioner nodes`.
pub fn run(ctx: &Context, json: bool) -> Result<(), CommandError> {
    let compiled = ctx.load()?;
    let l = &compiled.loaded;
    let StateLocation::Postgres(target) = state_location(l, "provisioner")? else {
        return Err(CommandError::Usage(anyhow::anyhow!(
            "`nodes` needs a shared state: `[engine] state = {{ postgres = \"postgres://...\" }}` (this configuration keeps its state in the SQLite file {})",
            l.config.engine.state_db.display()
        )));
    };
    let view = crate::cluster::view::read(&target, l.config.engine.lease_seconds).context("reading the nodes")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view).context("encoding")?);
        return Ok(());
    }
    println!("{:<20} {:<9} {:<8} {:<20} {:>8} {:>10}  CONNECTIONS", "NODE", "MODE", "ROLE", "HOST", "PID", "HEARTBEAT");
    for n in &view.nodes {
        println!(
            "{:<20} {:<9} {:<8} {:<20} {:>8} {:>9.1}s  {}",
            n.node_id,
            n.mode,
            n.role,
            n.hostname,
            n.pid,
            n.heartbeat_age_ms as f64 / 1000.0,
            if n.connections.is_empty() { "-".to_owned() } else { n.connections.join(", ") }
        );
    }
    println!();
    println!("{:<32} {:<20} {:>6} {:>10}", "LEASE", "HOLDER", "EPOCH", "EXPIRES IN");
    for lease in &view.leases {
        println!(
            "{:<32} {:<20} {:>6} {:>9.1}s",
            lease.name,
            lease.holder.as_deref().unwrap_or("-"),
            lease.epoch,
            lease.expires_in_ms as f64 / 1000.0
        );
    }
    Ok(())
}
