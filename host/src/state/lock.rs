//! One writer per state: `run`, `sync` and `reset` hold an exclusive advisory lock on a file beside
//! the database (`<state_db>.lock`, `flock`) for as long as they run. The lock file names its holder
//! (pid, host, since when), so a second writer can say who is in the way. The kernel releases the lock
//! when the holder exits, even after `kill -9`: a stale lock file never blocks anyone.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("the state {state} is in use by another provisioner ({holder}); only one process may write it at a time. Stop that one first (read-only commands such as plan, channels and held work meanwhile)")]
    Held {
        /// The database.
        state: String,
        /// What the lock file says about the holder.
        holder: String,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock the state {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
    path: PathBuf,
}

impl WriterLock {
    /// The lock file of a state database.
    pub fn path_for(state_db: &Path) -> PathBuf {
        let mut p = state_db.as_os_str().to_owned();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Takes the lock at once, or says who holds it.
    pub fn acquire(state_db: &Path) -> Result<WriterLock, LockError> {
        let path = Self::path_for(state_db);
        let io = |source| LockError::Io { path: path.display().to_string(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    state: state_db.display().to_string(),
                    holder: if holder.is_empty() { "holder unknown".into() } else { holder.to_owned() },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let me = format!("pid {} on {} since {}", std::process::id(), host.trim(), crate::clock::now_rfc3339());
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(me.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(WriterLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holder_named_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let first = WriterLock::acquire(&db).unwrap();
        let e = WriterLock::acquire(&db).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains("only one process may write it"), "{e}");
        drop(first);
        let again = WriterLock::acquire(&db).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(again.path()).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
