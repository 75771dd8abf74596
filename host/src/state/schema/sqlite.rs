//! The SQLite schema and its versioned migrations (`user_version`). Each step runs once, in
//! order, in one transaction; a database from a newer version is refused rather than guessed at.

use crate::state::backend::BackendError;
use rusqlite::Connection;

/// The schema version this build writes.
pub(crate) const VERSION: i64 = 3;

/// Version 1: the first release's tables (created as they were, so old databases match).
const V1: &str = "
CREATE TABLE IF NOT EXISTS users (
   channel TEXT NOT NULL, source_id TEXT NOT NULL, target_id TEXT, hash TEXT NOT NULL DEFAULT '',
   attr_hashes TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, dirty INTEGER NOT NULL DEFAULT 0,
   attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,
   updated_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (channel, source_id));
CREATE TABLE IF NOT EXISTS groups (
   channel TEXT NOT NULL, source_id TEXT NOT NULL, target_id TEXT, hash TEXT NOT NULL DEFAULT '',
   attr_hashes TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, dirty INTEGER NOT NULL DEFAULT 0,
   attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,
   updated_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (channel, source_id));
CREATE TABLE IF NOT EXISTS memberships (
   channel TEXT NOT NULL, group_source_id TEXT NOT NULL, user_source_id TEXT NOT NULL,
   PRIMARY KEY (channel, group_source_id, user_source_id));
CREATE TABLE IF NOT EXISTS cycles (
   id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, started_at INTEGER NOT NULL,
   finished_at INTEGER, figures TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS channel_meta (
   channel TEXT PRIMARY KEY, token TEXT, last_cycle_at INTEGER);
";

/// Version 2: identity integrity and the deprovisioning guard.
/// - `connection` on users and groups, so one Slack account maps to at most one record per connection
///   (the unique indexes are created by `State::bind_channels`, once rows know their connection);
/// - `ident_hash`: a hash of the unique user identifier's value (never the value); on groups, since the
///   group-name check, of the display name (trimmed, lower-cased);
/// - `skipped_hash`: the desired state a connector skipped (an option was off), not re-sent while the
///   connection's settings are unchanged;
/// - `holds`: deprovisioning actions held by the guard, approved or rejected;
/// - `connection_meta`: per connection, the settings fingerprint and the unique user identifier in use.
const V2: &str = "
ALTER TABLE users ADD COLUMN connection TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN ident_hash TEXT;
ALTER TABLE users ADD COLUMN skipped_hash TEXT;
ALTER TABLE groups ADD COLUMN connection TEXT NOT NULL DEFAULT '';
ALTER TABLE groups ADD COLUMN ident_hash TEXT;
ALTER TABLE groups ADD COLUMN skipped_hash TEXT;
CREATE INDEX IF NOT EXISTS users_ident ON users (connection, ident_hash);
CREATE TABLE IF NOT EXISTS holds (
   channel TEXT NOT NULL, action TEXT NOT NULL, source_id TEXT NOT NULL, member_id TEXT NOT NULL DEFAULT '',
   object_class TEXT NOT NULL, target_id TEXT, reason TEXT NOT NULL, decision TEXT NOT NULL,
   since INTEGER NOT NULL, PRIMARY KEY (channel, action, source_id, member_id));
CREATE TABLE IF NOT EXISTS connection_meta (
   connection TEXT PRIMARY KEY, settings_hash TEXT, unique_identifier TEXT);
";

/// Version 3: references between users (managers): `dn_hash`, a hash of the user's normalised DN (never
/// the DN), so a mapped DN can be resolved to the user's target id.
const V3: &str = "
ALTER TABLE users ADD COLUMN dn_hash TEXT;
CREATE INDEX IF NOT EXISTS users_dn ON users (connection, dn_hash);
";

/// Brings the database to [`VERSION`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), BackendError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Err(BackendError::Newer { found, supported: VERSION });
    }
    let tx = conn.transaction()?;
    // Version 0 is a new file or a first-release database (which had no user_version): V1 is idempotent.
    if found < 1 {
        tx.execute_batch(V1)?;
    }
    if found < 2 {
        tx.execute_batch(V2)?;
    }
    if found < 3 {
        tx.execute_batch(V3)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {VERSION}"))?;
    Ok(tx.commit()?)
}
