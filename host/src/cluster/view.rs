//! What `provisioner nodes` shows: the nodes sharing the state, their role and heartbeat, and the
//! leases (and so the connections) each holds. Read-only.

use crate::state::{BackendError, PgTarget};

/// One node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeInfo {
    /// Its id.
    pub node_id: String,
    /// `standalone`, `failover` or `cluster`.
    pub mode: String,
    /// `active`, `standby`, `stopped`, or `dead` (no heartbeat within a lease).
    pub role: String,
    /// Host name.
    pub hostname: String,
    /// Process id.
    pub pid: i64,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: i64,
    /// Leases it holds (valid ones).
    pub leases: Vec<String>,
    /// Connections it provisions (`*`: all, failover's active node).
    pub connections: Vec<String>,
}

/// One lease.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeaseInfo {
    /// Name.
    pub name: String,
    /// Holder (absent when free or lapsed).
    pub holder: Option<String>,
    /// Epoch.
    pub epoch: i64,
    /// Milliseconds until it lapses (negative: lapsed).
    pub expires_in_ms: i64,
}

/// Nodes and leases.
#[derive(Debug, Clone, serde::Serialize)]
pub struct View {
    /// Nodes, by id.
    pub nodes: Vec<NodeInfo>,
    /// Leases, by name.
    pub leases: Vec<LeaseInfo>,
}

/// Reads the view; `lease_seconds` decides when a silent node counts as dead.
pub fn read(target: &PgTarget, lease_seconds: u64) -> Result<View, BackendError> {
    let mut client = target.connect()?;
    // Read-only: a database no node has joined yet has no coordination tables.
    let ready: bool =
        client.query_one("SELECT to_regclass('leases') IS NOT NULL AND to_regclass('nodes') IS NOT NULL", &[])?.get(0);
    if !ready {
        return Ok(View { nodes: Vec::new(), leases: Vec::new() });
    }
    let leases: Vec<LeaseInfo> = client
        .query(
            "SELECT name, CASE WHEN expires_at > now() THEN holder END, epoch,
                    (EXTRACT(EPOCH FROM expires_at - now()) * 1000)::bigint
             FROM leases ORDER BY name",
            &[],
        )?
        .iter()
        .map(|r| LeaseInfo { name: r.get(0), holder: r.get(1), epoch: r.get(2), expires_in_ms: r.get(3) })
        .collect();
    let nodes = client
        .query(
            "SELECT node_id, mode, role, hostname, pid, (EXTRACT(EPOCH FROM now() - heartbeat_at) * 1000)::bigint,
                    stopped_at IS NOT NULL
             FROM nodes ORDER BY node_id",
            &[],
        )?
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            let age: i64 = r.get(5);
            let stopped: bool = r.get(6);
            let held: Vec<String> =
                leases.iter().filter(|l| l.holder.as_deref() == Some(id.as_str())).map(|l| l.name.clone()).collect();
            let connections = held
                .iter()
                .map(|l| l.strip_prefix("connection:").map_or_else(|| "*".to_owned(), str::to_owned))
                .collect();
            let role = if stopped {
                "stopped".to_owned()
            } else if age > (lease_seconds as i64) * 1000 {
                "dead".to_owned()
            } else if held.is_empty() {
                "standby".to_owned()
            } else {
                "active".to_owned()
            };
            NodeInfo {
                node_id: id,
                mode: r.get(1),
                role,
                hostname: r.get(3),
                pid: r.get(4),
                heartbeat_age_ms: age,
                leases: held,
                connections,
            }
        })
        .collect();
    Ok(View { nodes, leases })
}
