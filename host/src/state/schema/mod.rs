//! The state schema, one versioned migration list per engine. Each step runs once, in order, in one
//! transaction; a database written by a newer version is refused rather than guessed at. Both engines
//! hold the same tables with the same meaning; PostgreSQL also holds the coordination tables of the
//! failover and cluster modes (`nodes`, `leases`).

pub(crate) mod postgres;
pub(crate) mod sqlite;
