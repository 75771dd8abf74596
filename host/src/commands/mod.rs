//! One module per CLI command; each loads what it needs, runs, and renders its own output. This is the
//! binary's layer: errors are `anyhow` with context, classified into a [`CommandError`] whose
//! [`exit_code`](CommandError::exit_code) is the documented one.

pub mod channels;
pub mod held;
pub mod inspect;
pub mod nodes;
pub mod plan;
mod progress;
pub mod reset;
pub mod run;
pub mod sync;
pub mod test_connection;

use crate::audit::Audit;
use crate::compile::Compiled;
use crate::config::Loaded;
use crate::state::{PgTarget, State, StateLocation};
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Usage or configuration error (exit 2).
    #[error("{0:#}")]
    Usage(anyhow::Error),
    /// A connector could not be loaded (exit 3).
    #[error("{0:#}")]
    Load(anyhow::Error),
    /// The command ran but something failed (exit 1).
    #[error("{0:#}")]
    Failed(anyhow::Error),
    /// Another process is writing the state (exit 4).
    #[error("{0}")]
    Locked(crate::state::LockError),
}

impl CommandError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Failed(_) => 1,
            CommandError::Usage(_) => 2,
            CommandError::Load(_) => 3,
            CommandError::Locked(_) => 4,
        }
    }
}

impl From<anyhow::Error> for CommandError {
    /// Classifies by the typed error somewhere in the chain.
    fn from(e: anyhow::Error) -> Self {
        use crate::connections::ConnectionError;
        let conn = e.chain().find_map(|c| c.downcast_ref::<ConnectionError>());
        if matches!(conn, Some(ConnectionError::Load(_))) {
            CommandError::Load(e)
        } else if matches!(conn, Some(ConnectionError::Config(_))) {
            CommandError::Usage(e)
        } else if e.chain().any(|c| c.downcast_ref::<connector_abi::LoadError>().is_some()) {
            CommandError::Load(e)
        } else if e.chain().any(|c| c.downcast_ref::<crate::config::ConfigError>().is_some()) {
            CommandError::Usage(e)
        } else {
            CommandError::Failed(e)
        }
    }
}

/// What every command is given.
pub struct Context {
    /// The configuration file.
    pub config: PathBuf,
    /// Sets up logging once the configuration (and its `log_format`) is known.
    pub init_logging: fn(Option<&str>),
}

impl Context {
    /// Loads, checks and compiles the configuration, then sets up logging.
    pub fn load(&self) -> Result<Compiled, CommandError> {
        let c = crate::compile::load(&self.config).map_err(|e| CommandError::Usage(e.into()))?;
        (self.init_logging)(c.loaded.config.engine.log_format.as_deref());
        Ok(c)
    }
}

/// Where the configuration keeps the state (the PostgreSQL password read from its secret).
/// `application` names this process's PostgreSQL sessions.
pub fn state_location(l: &Loaded, application: &str) -> Result<StateLocation, CommandError> {
    let e = &l.config.engine;
    let Some(pg) = &e.state else { return Ok(StateLocation::Sqlite(e.state_db.clone())) };
    let password = match &pg.password {
        Some(r) => Some(
            crate::config::read_secret("state.password", r, e.strict_permissions)
                .map_err(|m| CommandError::Usage(anyhow::anyhow!(m)))?,
        ),
        None => None,
    };
    Ok(StateLocation::Postgres(PgTarget {
        url: pg.postgres.clone(),
        password,
        ca_certificate: pg.ca_certificate.clone(),
        application_name: application.to_owned(),
        // A paused node must not hold row locks a takeover waits for.
        idle_in_transaction: Some(std::time::Duration::from_secs(e.lease_seconds)),
    }))
}

/// The audit log.
pub fn open_audit(l: &Loaded) -> Result<Audit, CommandError> {
    Ok(Audit::open(&l.config.engine.audit_log)
        .with_context(|| format!("opening the audit log {}", l.config.engine.audit_log.display()))?)
}

/// The `application_name` of a one-off process's PostgreSQL sessions (names it in a refusal).
fn process_name() -> String {
    let mut s = format!("provisioner pid {} on {}", std::process::id(), crate::cluster::lease::hostname());
    s.truncate(63);
    s
}

/// Opens the state (for reading, or for a command that holds the writer lock) and the audit log.
pub fn open_state(l: &Loaded) -> Result<(State, Audit), CommandError> {
    let state = State::open_at(&state_location(l, &process_name())?).context("opening the state database")?;
    Ok((state, open_audit(l)?))
}

/// The single-writer lock of `sync`, `reset` and a standalone `run`: a `flock` beside an SQLite file,
/// or an exclusive advisory lock on a PostgreSQL state (which every failover or cluster node holds
/// shared: a one-off writer is refused while nodes run).
pub enum WriterGuard {
    /// SQLite: the lock file.
    File(crate::state::WriterLock),
    /// PostgreSQL: the state itself, opened on the session that holds the lock.
    Postgres(Box<State>),
}

/// Takes the single-writer lock; for PostgreSQL, returns the state opened on the locked session.
pub fn lock_state(l: &Loaded) -> Result<WriterGuard, CommandError> {
    match state_location(l, &process_name())? {
        StateLocation::Sqlite(path) => {
            crate::state::WriterLock::acquire(&path).map(WriterGuard::File).map_err(|e| match e {
                held @ crate::state::LockError::Held { .. } => CommandError::Locked(held),
                other => CommandError::Failed(other.into()),
            })
        }
        StateLocation::Postgres(target) => {
            let state = State::open_postgres_exclusive(&target).map_err(|e| match e {
                crate::state::OpenError::Locked(held) => CommandError::Locked(held),
                crate::state::OpenError::State(e) => {
                    CommandError::Failed(anyhow::Error::new(e).context("opening the state database"))
                }
            })?;
            Ok(WriterGuard::Postgres(Box::new(state)))
        }
    }
}

/// Opens the state under the writer lock (the state the lock was taken on, for PostgreSQL).
pub fn open_locked(l: &Loaded, guard: &mut Option<WriterGuard>) -> Result<(State, Audit), CommandError> {
    match guard.take() {
        Some(WriterGuard::Postgres(state)) => Ok((*state, open_audit(l)?)),
        other => {
            *guard = other;
            open_state(l)
        }
    }
}

/// A flag that SIGTERM and SIGINT set.
pub fn stop_flag() -> Result<Arc<AtomicBool>, CommandError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("registering the signal handlers")?;
    }
    Ok(stop)
}
