//! A harness: a temp directory with an LDIF source and a config, a slack-sim, and the real
//! `provisioner` binary with the real connector library.
#![allow(dead_code)]

pub(crate) mod cluster;
pub(crate) mod hostile;
pub(crate) mod slapd;

use serde_json::Value;
use slack_sim::{SimConfig, SimServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const TOKEN: &str = "xoxp-e2e-SECRET-4f8b2c91d7";
pub(crate) const MASKED: &str = "EMP-MASKED-77123";

/// The Slack connector library (fails loudly when missing or stale).
pub(crate) fn slack_connector() -> PathBuf {
    test_support::cdylib("connector_slack")
}

/// The fake connector library (fails loudly when missing or stale).
pub(crate) fn fake_connector() -> PathBuf {
    test_support::cdylib("fake_connector")
}

pub(crate) struct Person {
    pub uid: String,
    pub title: String,
    pub ou: String,
    pub locked: bool,
    pub employee_number: String,
}

pub(crate) fn person(uid: &str) -> Person {
    Person {
        uid: uid.into(),
        title: "Engineer".into(),
        ou: "People".into(),
        locked: false,
        employee_number: format!("E-{uid}"),
    }
}

pub(crate) fn ldif(people: &[Person], groups: &[(&str, Vec<&str>)]) -> String {
    let mut s = String::from("version: 1\n\n");
    for p in people {
        s.push_str(&format!(
            "dn: uid={uid},ou={ou},dc=example,dc=com\nobjectClass: inetOrgPerson\nentryUUID: uuid-{uid}\nuid: {uid}\ngivenName: {uid}\nsn: Test\nmail: {uid}@example.com\ntitle: {title}\nemployeeNumber: {emp}\n",
            uid = p.uid, ou = p.ou, title = p.title, emp = p.employee_number
        ));
        if p.locked {
            s.push_str("nsAccountLock: true\n");
        }
        s.push('\n');
    }
    for (cn, members) in groups {
        s.push_str(&format!(
            "dn: cn={cn},ou=Groups,dc=example,dc=com\nobjectClass: groupOfNames\nentryUUID: group-{cn}\ncn: {cn}\n"
        ));
        for m in members {
            s.push_str(&format!("member: uid={m},ou=People,dc=example,dc=com\n"));
        }
        s.push('\n');
    }
    s
}

pub(crate) struct Host {
    pub dir: tempfile::TempDir,
    pub sim: SimServer,
    pub http: reqwest::blocking::Client,
}

impl Host {
    pub(crate) fn new(sim: SimConfig) -> Host {
        let sim = SimServer::start(SimConfig { token: TOKEN.into(), ..sim }).unwrap();
        test_support::config::fresh_state();
        Host { dir: tempfile::tempdir().unwrap(), sim, http: reqwest::blocking::Client::new() }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write_ldif(&self, text: &str) {
        std::fs::write(self.path("directory.ldif"), text).unwrap();
    }

    /// Writes the config; `extra_settings` are TOML lines appended to [connections.settings].
    pub(crate) fn write_config(&self, extra_settings: &str, engine_extra: &str) {
        let mut cfg = test_support::config::engine(
            "state.db",
            "audit.jsonl",
            &format!("cycle_interval_seconds = 1\nretry_backoff_seconds = 0\n{engine_extra}"),
        );
        cfg.push_str(&test_support::config::slack_connection(
            "slack",
            &slack_connector(),
            &self.sim.base_url(),
            "E2E_SLACK_TOKEN",
            extra_settings,
        ));
        cfg.push_str(&format!(
            r#"
[[connections.channels]]
name = "people"
source = {{ type = "ldif", path = "directory.ldif" }}
batch_size = 10

[connections.channels.location]
base_dn = "ou=People,dc=example,dc=com"
filter = "(objectClass=inetOrgPerson)"

[connections.channels.account_status]
algorithm = "flag"
attribute = "nsAccountLock"

[connections.channels.groups]
base_dn = "ou=Groups,dc=example,dc=com"

[connections.channels.mapping]
{mapping}employeeNumber = {{ attribute = "employeeNumber", masked = true }}
"#,
            mapping = test_support::config::BASIC_MAPPING
        ));
        std::fs::write(self.path("provisioner.toml"), cfg).unwrap();
    }

    /// Replaces `from` (which must be there) with `to` in the configuration file.
    pub(crate) fn edit_config(&self, from: &str, to: &str) {
        let cfg = std::fs::read_to_string(self.path("provisioner.toml")).unwrap();
        assert!(cfg.contains(from), "`{from}` is not in the configuration:\n{cfg}");
        std::fs::write(self.path("provisioner.toml"), cfg.replace(from, to)).unwrap();
    }

    /// Runs a query on the state, whichever engine keeps it; every column as text (NULL: `None`).
    pub(crate) fn state_query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let cfg = std::fs::read_to_string(self.path("provisioner.toml")).unwrap();
        if let Some(url) = cfg.lines().find_map(|l| l.strip_prefix("state = { postgres = \"")) {
            return test_support::postgres::query_texts(url.trim_end_matches("\" }"), sql);
        }
        let db = rusqlite::Connection::open(self.path("state.db")).unwrap();
        let mut st = db.prepare(sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => None,
                        rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                        rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            Some(String::from_utf8_lossy(t).into_owned())
                        }
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// Runs a statement on the state (to prove the schema refuses something); `Err` with the message.
    pub(crate) fn state_execute(&self, sql: &str) -> Result<(), String> {
        let cfg = std::fs::read_to_string(self.path("provisioner.toml")).unwrap();
        if let Some(url) = cfg.lines().find_map(|l| l.strip_prefix("state = { postgres = \"")) {
            let mut c = postgres::Client::connect(url.trim_end_matches("\" }"), postgres::NoTls).unwrap();
            return c.batch_execute(sql).map_err(|e| e.to_string());
        }
        let db = rusqlite::Connection::open(self.path("state.db")).unwrap();
        db.execute_batch(sql).map_err(|e| e.to_string())
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_provisioner"));
        c.arg("--config")
            .arg(self.path("provisioner.toml"))
            .args(args)
            .env("E2E_SLACK_TOKEN", TOKEN)
            .env("PROVISIONER_LOG", "debug");
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(self.path("all-output.log")).unwrap();
        std::io::Write::write_all(&mut log, &out.stdout).unwrap();
        std::io::Write::write_all(&mut log, &out.stderr).unwrap();
        out
    }

    pub(crate) fn sync(&self) -> Output {
        let out = self.run(&["sync", "--once"]);
        assert!(
            out.status.success(),
            "sync failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub(crate) fn users(&self) -> Vec<Value> {
        let v: Value = self.http.get(format!("{}/_sim/users", self.sim.base_url())).send().unwrap().json().unwrap();
        v["users"].as_array().unwrap().clone()
    }

    pub(crate) fn user(&self, name: &str) -> Option<Value> {
        self.users().into_iter().find(|u| u["userName"] == name)
    }

    pub(crate) fn groups(&self) -> Vec<Value> {
        let v: Value = self.http.get(format!("{}/_sim/groups", self.sim.base_url())).send().unwrap().json().unwrap();
        v["groups"].as_array().unwrap().clone()
    }

    pub(crate) fn group_members(&self, name: &str) -> Vec<String> {
        let g = self.groups().into_iter().find(|g| g["displayName"] == name).unwrap();
        let ids: Vec<String> =
            g["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_owned()).collect();
        let users = self.users();
        let mut names: Vec<String> = ids
            .iter()
            .map(|id| users.iter().find(|u| u["id"] == id.as_str()).unwrap()["userName"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    pub(crate) fn stats(&self) -> Value {
        self.http.get(format!("{}/_sim/stats", self.sim.base_url())).send().unwrap().json().unwrap()
    }

    pub(crate) fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn file_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}
