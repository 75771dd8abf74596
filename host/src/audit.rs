//! The audit log: one JSON line per provisioning event, with PingFederate's fields (time, cycle id,
//! channel, event type, source id, target id, success, non-success cause). No attribute values, so no
//! masked value or secret can reach it.

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One audit line.
#[derive(Debug, Serialize)]
pub struct AuditEvent<'a> {
    pub time: String,
    pub cycle_id: i64,
    pub channel: &'a str,
    pub event_type: &'a str,
    pub object_class: &'a str,
    pub source_id: &'a str,
    pub target_id: Option<&'a str>,
    pub is_success: bool,
    pub outcome: &'a str,
    pub non_success_cause: Option<&'a str>,
    /// What an administrator should know although the record succeeded (e.g. a guest the target
    /// refused as a group member). Ids only, never attribute values.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
}

/// An append-only JSON-lines file.
pub struct Audit {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Audit {
    /// Opens (appending, creating) the log.
    pub fn open(path: &Path) -> std::io::Result<Audit> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        use std::os::unix::fs::OpenOptionsExt as _;
        // Created private (0600): it names every record and its target account.
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        Ok(Audit { path: path.to_owned(), file: Mutex::new(file) })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends events (one write per batch).
    pub fn write(&self, events: &[AuditEvent<'_>]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(events.len() * 200);
        for e in events {
            serde_json::to_writer(&mut buf, e).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        let mut f = match self.file.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f.write_all(&buf)?;
        f.flush()
    }
}
