//! Results are bound to records by source id: a connector that reorders its results is handled; one
//! that omits, repeats or invents a result fails the batch closed (nothing recorded as done, records
//! stay dirty) and the next cycle, with a sane connector, finishes the work.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(users: usize) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        test_support::config::fresh_state();
        let people: Vec<Person> = (0..users).map(|i| person(&format!("u{i}"))).collect();
        std::fs::write(dir.path().join("directory.ldif"), ldif(&people, &[])).unwrap();
        Fake { dir }
    }

    fn config(&self, settings: &str) {
        let mut cfg = test_support::config::engine("state.db", "audit.jsonl", "retry_backoff_seconds = 0");
        cfg.push_str(&format!(
            r#"
[[connections]]
name = "fake"
connector = "{lib}"
[connections.settings]
{settings}

[[connections.channels]]
name = "people"
source = {{ type = "ldif", path = "directory.ldif" }}
batch_size = 4
[connections.channels.location]
base_dn = "ou=People,dc=example,dc=com"
[connections.channels.mapping]
userName = {{ attribute = "uid" }}
primaryEmail = {{ attribute = "mail" }}
"#,
            lib = fake_connector().display()
        ));
        std::fs::write(self.dir.path().join("provisioner.toml"), cfg).unwrap();
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_provisioner"))
            .arg("--config")
            .arg(self.dir.path().join("provisioner.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn channel(&self) -> Value {
        let out = self.run(&["channels", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        v[0].clone()
    }
}

#[test]
fn reordered_results_are_bound_to_their_records() {
    let f = Fake::new(10);
    f.config(r#"results = "reorder""#);
    let out = f.run(&["sync", "--once"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let events = f.audit();
    assert_eq!(events.len(), 10);
    for e in &events {
        assert_eq!(e["outcome"], "created", "{e}");
        // The fake names each target id after its record: a host binding by position would mismatch them.
        assert_eq!(e["target_id"].as_str().unwrap(), format!("T-{}", e["source_id"].as_str().unwrap()), "{e}");
    }
    assert_eq!(f.channel()["dirty_users"], 0);
}

#[test]
fn omitted_repeated_or_foreign_results_fail_the_batch_closed() {
    for (mode, cause) in [
        ("malformed = true", "results for"),
        (r#"results = "duplicate""#, "do not match the batch"),
        (r#"results = "foreign""#, "do not match the batch"),
    ] {
        let f = Fake::new(6);
        f.config(mode);
        let out = f.run(&["sync", "--once"]);
        assert_eq!(out.status.code(), Some(1), "{mode}: {}\n{}", stdout(&out), stderr(&out));
        let events = f.audit();
        assert_eq!(events.len(), 6, "{mode}");
        for e in &events {
            assert_eq!(e["is_success"], false, "{mode}: {e}");
            assert!(e["non_success_cause"].as_str().unwrap().contains(cause), "{mode}: {e}");
        }
        let ch = f.channel();
        assert_eq!(ch["dirty_users"], 6, "{mode}: {ch}");
        assert_eq!(ch["last_cycle"]["figures"]["created"], 0, "{mode}: {ch}");

        // A sane connector then provisions every record, once.
        f.config("");
        let out = f.run(&["sync", "--once"]);
        assert!(out.status.success(), "{mode}: {}\n{}", stdout(&out), stderr(&out));
        let ch = f.channel();
        assert_eq!(ch["dirty_users"], 0, "{mode}: {ch}");
        assert_eq!(ch["last_cycle"]["figures"]["created"], 6, "{mode}: {ch}");
    }
}

/// A connector instance that panics is discarded: no further batch goes to it, the next channel gets a
/// fresh instance, the audit has one clean cause, and the backtrace only reaches the debug log.
#[test]
fn a_panicking_instance_is_discarded_and_replaced() {
    let f = Fake::new(6);
    f.config(r#"panic_in = "provision""#);
    let cfg = std::fs::read_to_string(f.dir.path().join("provisioner.toml"))
        .unwrap()
        .replace("batch_size = 4", "batch_size = 2");
    let second = cfg[cfg.find("[[connections.channels]]").unwrap()..].replace("name = \"people\"", "name = \"more\"");
    std::fs::write(f.dir.path().join("provisioner.toml"), format!("{cfg}\n{second}")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .arg("--config")
        .arg(f.dir.path().join("provisioner.toml"))
        .args(["sync", "--once"])
        .env("PROVISIONER_LOG", "info")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("opened a fresh connector instance after a panic"), "{err}");
    assert!(!err.contains("stack backtrace") && !err.contains("panicked at"), "backtraces only at debug level: {err}");
    let audit = f.audit();
    // One batch per channel reached the connector (then its instance was discarded): 2 + 2 events.
    assert_eq!(audit.len(), 4, "{audit:?}");
    for e in &audit {
        let cause = e["non_success_cause"].as_str().unwrap();
        assert_eq!(cause.matches("connector panicked").count(), 1, "one clean cause: {cause}");
    }
    // Every record stays dirty for the next cycle.
    let out = f.run(&["channels", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v[0]["dirty_users"].as_u64(), v[1]["dirty_users"].as_u64()), (Some(6), Some(6)), "{v}");
}
