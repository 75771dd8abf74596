//! Failover and cluster modes on a shared PostgreSQL state (PingFederate's FAILOVER mode, and
//! connections spread over active nodes). PostgreSQL is the only coordinator: leases are rows with an
//! epoch, plus advisory locks; there is no consensus of our own.
//!
//! Invariants (see ARCHITECTURE.md):
//! - a lease is taken only when free or lapsed in the server's clock, and taking it raises its epoch;
//! - every state write checks, inside its transaction, that this node still holds the lease at its
//!   epoch (`FOR SHARE`: a takeover waits for the write, and the write after a takeover fails);
//! - every connector call's deadline ends before the lease can lapse in the server's clock, and the
//!   connector checks the deadline before each request leaves: a paused node that wakes sends nothing.

pub mod balance;
pub mod coordinator;
pub mod lease;
pub mod view;

pub use coordinator::{Coordinator, Plan};
pub use lease::JoinError;

/// The lease name of a connection (cluster mode).
pub fn connection_lease(connection: &str) -> String {
    format!("connection:{connection}")
}

/// The one lease of failover mode.
pub const ACTIVE_LEASE: &str = "active";
