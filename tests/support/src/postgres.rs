//! A throwaway PostgreSQL server for tests and benchmarks: `initdb` into a temporary directory, started
//! on a free loopback port, stopped (immediately) when dropped. PostgreSQL refuses to run as root: as
//! root, the server runs as the `postgres` system user (Debian's package creates it) through `runuser`.
//!
//! `scripts/test.sh` runs the engine tests a second time on PostgreSQL: it starts one server with the
//! `pg-throwaway` binary and exports its URL as `PROVISIONER_TEST_POSTGRES`; [`crate::config::engine`]
//! then gives every test configuration a fresh database on it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The directory of PostgreSQL's server programs (the newest installed), if any.
pub fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    dirs.pop()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// A running throwaway server.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    stopped: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(bin: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let exe = bin.join(program);
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    c.args(args).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
}

impl Postgres {
    /// Starts a server (panics with the reason when it cannot: PostgreSQL not installed, say).
    pub fn start() -> Postgres {
        Postgres::start_with("")
    }

    /// [`start`](Self::start) with extra server options (`-c name=value ...`).
    pub fn start_with(extra: &str) -> Postgres {
        let bin = bin_dir().expect("PostgreSQL's server programs (Debian package `postgresql`) are not installed");
        let dir = tempfile::Builder::new().prefix("pg-throwaway-").tempdir().unwrap();
        if is_root() {
            let ok = Command::new("chown").arg("postgres").arg(dir.path()).status().unwrap().success();
            assert!(ok, "cannot give {} to the postgres user", dir.path().display());
        }
        let data = dir.path().join("data");
        let data_s = data.display().to_string();
        // A linguistic collation (ICU's English), as production servers usually have, not byte-wise `C`:
        // the state must not rely on the server sorting text as Rust does.
        let out = run(
            &bin,
            "initdb",
            &[
                "-D",
                &data_s,
                "-A",
                "trust",
                "-U",
                "prov",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale-provider=icu",
                "--icu-locale=en",
                "--locale=C",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let log = dir.path().join("log").display().to_string();
        for _attempt in 0..5 {
            let port = free_port();
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 {extra}",
                dir.path().display()
            );
            let out = run(&bin, "pg_ctl", &["-D", &data_s, "-l", &log, "-o", &opts, "-w", "-t", "60", "start"]);
            if out.status.success() {
                return Postgres { dir, bin, port, stopped: false };
            }
        }
        panic!("PostgreSQL did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://prov@127.0.0.1:<port>` (append `/<database>`).
    pub fn base_url(&self) -> String {
        format!("postgres://prov@127.0.0.1:{}", self.port)
    }

    /// Creates a fresh database; returns its URL.
    pub fn create_database(&self) -> String {
        create_database(&self.base_url())
    }

    /// Gives the `prov` role `password` and makes TCP connections authenticate with SCRAM from now on.
    pub fn require_password(&self, password: &str) {
        let mut c = postgres::Client::connect(&format!("{}/postgres", self.base_url()), postgres::NoTls).unwrap();
        c.batch_execute(&format!("ALTER ROLE prov PASSWORD '{password}'")).unwrap();
        let hba = self.dir.path().join("data/pg_hba.conf");
        let text = std::fs::read_to_string(&hba).unwrap();
        let text: String = text
            .lines()
            .map(|l| if l.starts_with("host") { l.replace("trust", "scram-sha-256") } else { l.to_owned() })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&hba, text + "\n").unwrap();
        let data = self.dir.path().join("data").display().to_string();
        let out = run(&self.bin, "pg_ctl", &["-D", &data, "reload"]);
        assert!(out.status.success(), "reload: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    /// Stops the server now (immediate shutdown), as if the machine lost power.
    pub fn stop(&mut self) {
        if !self.stopped {
            let data = self.dir.path().join("data").display().to_string();
            let _ = run(&self.bin, "pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
            self.stopped = true;
        }
    }

    /// Leaves the server running after this value is dropped (for `pg-throwaway start`).
    pub fn keep(mut self) -> PathBuf {
        self.stopped = true;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        dir.keep()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stops a server left running by [`Postgres::keep`] and removes its directory.
pub fn stop_kept(dir: &Path) {
    if let Some(bin) = bin_dir() {
        let data = dir.join("data").display().to_string();
        let _ = run(&bin, "pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
    let _ = std::fs::remove_dir_all(dir);
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Creates a fresh database on the server at `base` (`postgres://user@host:port`); returns its URL.
pub fn create_database(base: &str) -> String {
    let name = format!("t{}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst), nanos());
    let mut c = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {base}: {e}"));
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    format!("{base}/{name}")
}

fn nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

/// Runs SQL on a database and returns the rows, every column as text (for assertions).
pub fn query_texts(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    try_query_texts(url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// [`query_texts`], or the error (a table not created yet, say).
pub fn try_query_texts(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, postgres::Error> {
    let mut c = postgres::Client::connect(url, postgres::NoTls)?;
    Ok(c.simple_query(sql)?
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect()),
            _ => None,
        })
        .collect())
}
