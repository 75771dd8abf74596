//! One module per CLI command; each loads what it needs, runs, and renders its own output. This is the
//! binary's layer: errors are `anyhow` with context, classified into a [`CommandError`] whose
//! [`exit_code`](CommandError::exit_code) is the documented one.

pub mod channels;
pub mod held;
pub mod inspect;
pub mod plan;
mod progress;
pub mod reset;
pub mod run;
pub mod sync;
pub mod test_connection;

use crate::audit::Audit;
use crate::compile::Compiled;
use crate::config::Loaded;
use crate::state::State;
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

/// Opens the state database and the audit log.
pub fn open_state(l: &Loaded) -> Result<(State, Audit), CommandError> {
    let state = State::open(&l.config.engine.state_db).context("opening the state database")?;
    let audit = Audit::open(&l.config.engine.audit_log)
        .with_context(|| format!("opening the audit log {}", l.config.engine.audit_log.display()))?;
    Ok((state, audit))
}

/// Takes the state's single-writer lock (for `run`, `sync` and `reset`).
pub fn lock_state(l: &Loaded) -> Result<crate::state::WriterLock, CommandError> {
    crate::state::WriterLock::acquire(&l.config.engine.state_db).map_err(|e| match e {
        held @ crate::state::LockError::Held { .. } => CommandError::Locked(held),
        other => CommandError::Failed(other.into()),
    })
}

/// A flag that SIGTERM and SIGINT set.
pub fn stop_flag() -> Result<Arc<AtomicBool>, CommandError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("registering the signal handlers")?;
    }
    Ok(stop)
}
