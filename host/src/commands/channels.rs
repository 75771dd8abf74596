//! `provisioner channels`: per channel, status, users, groups, dirty counts and the last cycle
//! (PingFederate's `provmgr --show-channels`).

use super::{open_state, CommandError, Context};
use crate::compile::Compiled;
use crate::config::SourceConfig;
use crate::state::{ChannelSummary, State, StateError};
use anyhow::Context as _;
use std::fmt::Write as _;

/// One channel as `channels` shows it.
#[derive(Debug, serde::Serialize)]
pub struct ChannelView {
    /// The channel.
    pub channel: String,
    /// Its connection.
    pub connection: String,
    /// Whether both the connection and the channel are active.
    pub active: bool,
    /// Where it reads (`ldif:PATH`, `csv:PATH`, or the LDAP URL).
    pub source: String,
    /// Counts and the last cycle, from the state.
    #[serde(flatten)]
    pub summary: ChannelSummary,
}

/// `provisioner channels [--json]`.
pub fn run(ctx: &Context, json: bool) -> Result<(), CommandError> {
    let compiled = ctx.load()?;
    let (state, _) = open_state(&compiled.loaded)?;
    let v = collect(&compiled, &state).context("reading the state")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v).context("encoding")?);
    } else {
        print!("{}", render(&v));
    }
    Ok(())
}

/// Every channel of the configuration with its state.
pub fn collect(compiled: &Compiled, state: &State) -> Result<Vec<ChannelView>, StateError> {
    let active_conn = |name: &str| compiled.loaded.config.connections.iter().any(|c| c.name == name && c.active);
    compiled
        .channels
        .iter()
        .map(|ch| {
            Ok(ChannelView {
                channel: ch.cfg.name.clone(),
                connection: ch.connection.clone(),
                active: active_conn(&ch.connection) && ch.cfg.active,
                source: match &ch.cfg.source {
                    SourceConfig::Ldif { path } => format!("ldif:{}", path.display()),
                    SourceConfig::Csv { path } => format!("csv:{}", path.display()),
                    SourceConfig::Ldap(l) => l.url.clone(),
                },
                summary: state.channel_summary(&ch.cfg.name)?,
            })
        })
        .collect()
}

/// A readable table.
pub fn render(channels: &[ChannelView]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<20} {:<14} {:<8} {:>14} {:>14} {:>5} {:<28} source",
        "channel", "connection", "status", "users/dirty", "groups/dirty", "held", "last cycle"
    );
    for c in channels {
        let last = match &c.summary.last_cycle {
            None => "never".to_owned(),
            Some(l) => match (&l.error, &l.figures) {
                (Some(e), _) => format!("failed: {}", e.chars().take(40).collect::<String>()),
                (None, f) => {
                    let f = f.clone().unwrap_or_default();
                    format!("+{} ~{} -{} !{}", f.created, f.updated + f.reactivated, f.disabled + f.deleted, f.failed)
                }
            },
        };
        let s_ = &c.summary;
        let _ = writeln!(
            s,
            "{:<20} {:<14} {:<8} {:>14} {:>14} {:>5} {:<28} {}",
            c.channel,
            c.connection,
            if c.active { "active" } else { "inactive" },
            format!("{}/{}", s_.users, s_.dirty_users),
            format!("{}/{}", s_.groups, s_.dirty_groups),
            s_.held,
            last,
            c.source
        );
    }
    s
}
