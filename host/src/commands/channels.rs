//! `provisioner channels`: per channel, status, users, groups, dirty counts and the last cycle
//! (PingFederate's `provmgr --show-channels`).

use crate::config::Loaded;
use crate::state::{State, StateError};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The channels as JSON.
pub fn collect(loaded: &Loaded, state: &State) -> Result<Value, StateError> {
    let mut out = Vec::new();
    for conn in &loaded.config.connections {
        for ch in &conn.channels {
            let mut s = state.channel_summary(&ch.name)?;
            s["channel"] = json!(ch.name);
            s["connection"] = json!(conn.name);
            s["active"] = json!(conn.active && ch.active);
            s["source"] = json!(match &ch.source {
                crate::config::SourceConfig::Ldif { path } => format!("ldif:{}", path.display()),
                crate::config::SourceConfig::Csv { path } => format!("csv:{}", path.display()),
                crate::config::SourceConfig::Ldap(l) => l.url.clone(),
            });
            out.push(s);
        }
    }
    Ok(Value::Array(out))
}

/// A readable table.
pub fn render(v: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<20} {:<14} {:<8} {:>14} {:>14} {:<28} source",
        "channel", "connection", "status", "users/dirty", "groups/dirty", "last cycle"
    );
    for c in v.as_array().into_iter().flatten() {
        let last = match &c["last_cycle"] {
            Value::Null => "never".to_owned(),
            l => {
                let f = &l["figures"];
                match l["error"].as_str() {
                    Some(e) => format!("failed: {}", e.chars().take(40).collect::<String>()),
                    None => format!(
                        "+{} ~{} -{} !{}",
                        f["created"].as_u64().unwrap_or(0),
                        f["updated"].as_u64().unwrap_or(0) + f["reactivated"].as_u64().unwrap_or(0),
                        f["disabled"].as_u64().unwrap_or(0) + f["deleted"].as_u64().unwrap_or(0),
                        f["failed"].as_u64().unwrap_or(0)
                    ),
                }
            }
        };
        let _ = writeln!(
            s,
            "{:<20} {:<14} {:<8} {:>14} {:>14} {:<28} {}",
            c["channel"].as_str().unwrap_or(""),
            c["connection"].as_str().unwrap_or(""),
            if c["active"] == true { "active" } else { "inactive" },
            format!("{}/{}", c["users"], c["dirty_users"]),
            format!("{}/{}", c["groups"], c["dirty_groups"]),
            last,
            c["source"].as_str().unwrap_or("")
        );
    }
    s
}
