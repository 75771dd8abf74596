//! A failover or cluster of real `provisioner run` nodes on a throwaway PostgreSQL, each node its own
//! process with its own configuration file (its `node_id`), against slack-sims. Shared by the HA tests
//! and the HA benchmark (included there by path, so it depends on nothing else of `common`).

use serde_json::Value;
use slack_sim::{SimConfig, SimServer};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_support::postgres::{try_query_texts, Postgres};

/// One connection of the cluster: its slack-sim and token.
pub(crate) struct Org {
    pub sim: SimServer,
    pub token: String,
}

/// The deployment.
pub(crate) struct Deployment {
    pub pg: Postgres,
    pub db: String,
    pub dir: tempfile::TempDir,
    pub orgs: Vec<Org>,
    pub nodes: Vec<(String, Option<Child>)>,
    pub mode: &'static str,
    pub lease_seconds: u64,
    pub time_scale: f64,
    pub cycle_interval_seconds: u64,
    pub http: reqwest::blocking::Client,
}

/// `uid=<prefix><i>` people, `title` "T0".
pub(crate) fn people_ldif(n: usize, title_of: impl Fn(usize) -> String) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "dn: uid=p{i},ou=People,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: p{i}\nentryUUID: uuid-p{i}\ncn: Person {i}\ngivenName: Person\nsn: N{i}\nmail: p{i}@example.com\ntitle: {}\n\n",
            title_of(i)
        ));
    }
    s
}

impl Deployment {
    /// A PostgreSQL, `orgs` slack-sims (rate limits on at `time_scale`), and the directory.
    pub(crate) fn new(mode: &'static str, orgs: usize, lease_seconds: u64, time_scale: f64) -> Deployment {
        Deployment::with_server(Postgres::start(), mode, orgs, lease_seconds, time_scale)
    }

    /// [`new`](Self::new) on a server started by the caller.
    pub(crate) fn with_server(
        pg: Postgres,
        mode: &'static str,
        orgs: usize,
        lease_seconds: u64,
        time_scale: f64,
    ) -> Deployment {
        let db = pg.create_database();
        let orgs = (0..orgs)
            .map(|i| {
                let token = format!("xoxp-org{i}-{}", std::process::id());
                let sim = SimServer::start(SimConfig {
                    token: token.clone(),
                    rate_limits: true,
                    time_scale,
                    ..SimConfig::default()
                })
                .unwrap();
                Org { sim, token }
            })
            .collect();
        Deployment {
            pg,
            db,
            dir: tempfile::tempdir().unwrap(),
            orgs,
            nodes: Vec::new(),
            mode,
            lease_seconds,
            time_scale,
            cycle_interval_seconds: 1,
            http: reqwest::blocking::Client::new(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write_ldif(&self, text: &str) {
        let tmp = self.path("directory.ldif.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, self.path("directory.ldif")).unwrap();
    }

    /// The configuration of node `id`: one connection (and channel) per org.
    pub(crate) fn config(&self, id: &str, library: &Path) -> PathBuf {
        let mut cfg = format!(
            "[engine]\nstate = {{ postgres = \"{}\" }}\naudit_log = \"audit-{id}.jsonl\"\nmode = \"{}\"\nnode_id = \"{id}\"\nlease_seconds = {}\ncycle_interval_seconds = {}\nretry_backoff_seconds = 0\n",
            self.db, self.mode, self.lease_seconds, self.cycle_interval_seconds
        );
        for (i, org) in self.orgs.iter().enumerate() {
            cfg.push_str(
                &test_support::config::slack_connection(
                    &format!("org{i}"),
                    library,
                    &org.sim.base_url(),
                    &format!("ORG{i}_TOKEN"),
                    "",
                )
                .replace("rateLimitTimeScale = 10000.0", &format!("rateLimitTimeScale = {:.1}", self.time_scale)),
            );
            cfg.push_str(&format!(
                r#"
[[connections.channels]]
name = "people{i}"
source = {{ type = "ldif", path = "directory.ldif" }}
batch_size = 20
threads = 2

[connections.channels.location]
base_dn = "ou=People,dc=example,dc=com"
filter = "(objectClass=inetOrgPerson)"

[connections.channels.mapping]
{}"#,
                test_support::config::BASIC_MAPPING
            ));
        }
        let p = self.path(&format!("{id}.toml"));
        std::fs::write(&p, cfg).unwrap();
        p
    }

    /// A command of the real binary as node `id`.
    pub(crate) fn cmd(&self, id: &str, library: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_provisioner"));
        c.arg("--config").arg(self.config(id, library)).args(args).env("PROVISIONER_LOG", "info");
        for (i, org) in self.orgs.iter().enumerate() {
            c.env(format!("ORG{i}_TOKEN"), &org.token);
        }
        c
    }

    /// Starts `provisioner run` as node `id` (stdout and stderr to `<id>.out` / `<id>.log`).
    pub(crate) fn start(&mut self, id: &str, library: &Path) {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(self.path(&format!("{id}.out"))).unwrap();
        let err = std::fs::OpenOptions::new().create(true).append(true).open(self.path(&format!("{id}.log"))).unwrap();
        let child = self.cmd(id, library, &["run"]).stdout(Stdio::from(out)).stderr(Stdio::from(err)).spawn().unwrap();
        match self.nodes.iter_mut().find(|(n, _)| n == id) {
            Some(slot) => slot.1 = Some(child),
            None => self.nodes.push((id.to_owned(), Some(child))),
        }
    }

    /// The process of node `id`.
    pub(crate) fn pid(&self, id: &str) -> u32 {
        self.nodes.iter().find(|(n, _)| n == id).and_then(|(_, c)| c.as_ref()).map(Child::id).unwrap()
    }

    /// Sends a signal (`KILL`, `STOP`, `CONT`, `TERM`) to node `id`; after `KILL`, reaps it.
    pub(crate) fn signal(&mut self, id: &str, sig: &str) {
        let pid = self.pid(id);
        assert!(Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap().success());
        if sig == "KILL" {
            if let Some((_, Some(mut c))) =
                self.nodes.iter_mut().find(|(n, _)| n == id).map(|(n, c)| (n.clone(), c.take()))
            {
                let _ = c.wait();
            }
        }
    }

    /// A node's log so far.
    pub(crate) fn log(&self, id: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{id}.log"))).unwrap_or_default()
    }

    /// Current (valid) holder and epoch of each lease.
    pub(crate) fn holders(&self) -> Vec<(String, Option<String>, i64)> {
        try_query_texts(
            &self.db,
            "SELECT name, CASE WHEN expires_at > now() THEN holder END, epoch FROM leases ORDER BY name",
        )
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone(), r[2].as_deref().unwrap().parse().unwrap()))
        .collect()
    }

    /// Waits until `check` holds (polling every 50 ms), up to `limit`; returns the time it took.
    pub(crate) fn wait(&self, what: &str, limit: Duration, mut check: impl FnMut(&Self) -> bool) -> Duration {
        let t = Instant::now();
        while !check(self) {
            assert!(t.elapsed() < limit, "timed out after {limit:?} waiting for {what}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
        t.elapsed()
    }

    /// Every node's log (for a failure message).
    pub(crate) fn logs(&self) -> String {
        self.nodes.iter().map(|(n, _)| format!("--- {n} ---\n{}", tail(&self.log(n), 4000))).collect()
    }

    /// The org's users as Slack holds them (the directory's people: the org's own owner aside).
    pub(crate) fn users(&self, org: usize) -> Vec<Value> {
        let v: Value =
            self.http.get(format!("{}/_sim/users", self.orgs[org].sim.base_url())).send().unwrap().json().unwrap();
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["userName"].as_str().is_some_and(|n| n.starts_with('p') && n[1..].parse::<u32>().is_ok()))
            .cloned()
            .collect()
    }

    /// The org's request counters.
    pub(crate) fn stats(&self, org: usize) -> Value {
        self.http.get(format!("{}/_sim/stats", self.orgs[org].sim.base_url())).send().unwrap().json().unwrap()
    }

    /// Non-GET requests the org received (answered or not).
    pub(crate) fn writes_received(&self, org: usize) -> u64 {
        let s = self.stats(org);
        ["POST", "PATCH", "PUT", "DELETE"].iter().map(|m| s["by_method"][m].as_u64().unwrap_or(0)).sum()
    }

    /// Stops every node still running (TERM, then KILL).
    pub(crate) fn stop_all(&mut self) {
        for (_, c) in self.nodes.iter_mut() {
            if let Some(mut c) = c.take() {
                let _ = Command::new("kill").args(["-CONT", &c.id().to_string()]).status();
                let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
                let t = Instant::now();
                while t.elapsed() < Duration::from_secs(10) {
                    if let Ok(Some(_)) = c.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let start = (start..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(s.len());
    &s[start..]
}
