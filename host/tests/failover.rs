//! Failover (active/standby) and cluster (connections spread over nodes) on a throwaway PostgreSQL,
//! through real `provisioner run` processes, the real Slack connector and slack-sims: a standby
//! finishes a first sync after `kill -9` of the active node; a paused node that lost its lease writes
//! nothing when it wakes; connections move when a node dies and rebalance when it returns.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::cluster::{people_ldif, Deployment};
use common::slack_connector;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use test_support::postgres::query_texts;

const LEASE: u64 = 3;

/// The deployments run one at a time: three nodes with three-second leases on a shared two-core
/// machine should not also compete with the other deployments of this file.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn active(d: &Deployment) -> Option<(String, i64)> {
    d.holders().into_iter().find(|(n, _, _)| n == "active").and_then(|(_, h, e)| h.map(|h| (h, e)))
}

/// Source id → (Slack id, status, dirty) of a channel in the state.
fn state_rows(d: &Deployment, channel: &str) -> BTreeMap<String, (Option<String>, String, String)> {
    test_support::postgres::try_query_texts(
        &d.db,
        &format!("SELECT source_id, target_id, status, dirty FROM users WHERE channel = '{channel}'"),
    )
    .unwrap_or_default()
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), (r[1].clone(), r[2].clone().unwrap(), r[3].clone().unwrap())))
    .collect()
}

/// Slack holds each of the `n` people exactly once, and the state links each to its own account.
fn assert_converged(d: &Deployment, org: usize, n: usize) {
    let users = d.users(org);
    let names: HashSet<&str> = users.iter().map(|u| u["userName"].as_str().unwrap()).collect();
    let mut seen = HashSet::new();
    let dups: Vec<&serde_json::Value> =
        users.iter().filter(|u| !seen.insert(u["userName"].as_str().unwrap().to_owned())).collect();
    assert!(dups.is_empty(), "org{org}: duplicate accounts {dups:?}");
    assert_eq!(users.len(), n, "org{org}: one account per person");
    assert_eq!(names.len(), n, "org{org}: no duplicate userName");
    let by_name: BTreeMap<&str, &str> =
        users.iter().map(|u| (u["userName"].as_str().unwrap(), u["id"].as_str().unwrap())).collect();
    let rows = state_rows(d, &format!("people{org}"));
    assert_eq!(rows.len(), n, "org{org}: one state row per person");
    for i in 0..n {
        let (target, status, dirty) = &rows[&format!("uuid-p{i}")];
        assert_eq!(target.as_deref(), Some(by_name[format!("p{i}").as_str()]), "p{i} linked to its own account");
        assert_eq!((status.as_str(), dirty.as_str()), ("active", "0"), "p{i}");
    }
}

fn converged(d: &Deployment, org: usize, n: usize) -> bool {
    let rows = state_rows(d, &format!("people{org}"));
    rows.len() == n && rows.values().all(|(t, s, dirty)| t.is_some() && s == "active" && dirty == "0")
}

#[test]
fn a_standby_finishes_the_first_sync_after_kill_9_of_the_active_node() {
    let _serial = serial();
    let lib = slack_connector();
    let mut d = Deployment::new("failover", 1, LEASE, 30.0);
    d.write_ldif(&people_ldif(2000, |_| "T0".into()));
    for n in ["n1", "n2", "n3"] {
        d.start(n, &lib);
    }
    d.wait("an active node", Duration::from_secs(30), |d| active(d).is_some());
    d.wait("the first sync under way", Duration::from_secs(60), |d| d.users(0).len() >= 300);
    let (old, epoch) = active(&d).unwrap();
    let created = d.users(0).len();
    assert!(created < 2000, "killed in the middle of the first sync ({created} created)");
    d.signal(&old, "KILL");
    d.wait("a standby takes over", Duration::from_secs(LEASE + 10), |d| {
        active(d).is_some_and(|(h, e)| h != old && e > epoch)
    });
    d.wait("the first sync finished", Duration::from_secs(180), |d| converged(d, 0, 2000));
    assert_converged(&d, 0, 2000);
    let (new, _) = active(&d).unwrap();
    assert!(d.log(&new).contains("took the lease"), "{}", d.log(&new));
}

#[test]
fn a_paused_node_that_lost_its_lease_writes_nothing_when_it_wakes_and_steps_down() {
    let _serial = serial();
    let lib = slack_connector();
    let mut d = Deployment::new("failover", 1, LEASE, 30.0);
    d.write_ldif(&people_ldif(1500, |_| "T0".into()));
    for n in ["n1", "n2", "n3"] {
        d.start(n, &lib);
    }
    d.wait("an active node", Duration::from_secs(30), |d| active(d).is_some());
    d.wait("the first sync under way", Duration::from_secs(60), |d| d.users(0).len() >= 200);
    let (old, epoch) = active(&d).unwrap();
    d.signal(&old, "STOP");
    d.wait("a standby takes over", Duration::from_secs(LEASE + 15), |d| {
        active(d).is_some_and(|(h, e)| h != old && e > epoch)
    });
    let (new, _) = active(&d).unwrap();
    d.wait("the first sync finished", Duration::from_secs(180), |d| converged(d, 0, 1500));
    // The new active node changes some users.
    d.write_ldif(&people_ldif(1500, |i| if i < 5 { "Changed".into() } else { "T0".into() }));
    d.wait("the change reached Slack", Duration::from_secs(60), |d| {
        d.users(0).iter().filter(|u| u["title"] == "Changed").count() == 5
    });
    d.wait("the change settled", Duration::from_secs(30), |d| converged(d, 0, 1500));
    std::thread::sleep(Duration::from_secs(2));
    let writes = d.writes_received(0);
    let snapshot =
        query_texts(&d.db, "SELECT source_id, target_id, hash, status, dirty, updated_at FROM users ORDER BY 1");
    // Wake the old node: it must notice it lost the lease, send nothing, write nothing, step down.
    d.signal(&old, "CONT");
    d.wait("the old node steps down", Duration::from_secs(20), |d| {
        let log = d.log(&old);
        log.contains("stepped down") || log.contains("stepping down")
    });
    std::thread::sleep(Duration::from_secs(LEASE + 2));
    assert_eq!(d.writes_received(0), writes, "the woken node sent nothing to Slack\n{}", d.logs());
    let after =
        query_texts(&d.db, "SELECT source_id, target_id, hash, status, dirty, updated_at FROM users ORDER BY 1");
    assert!(after == snapshot, "the woken node wrote nothing to the state");
    assert_eq!(active(&d).map(|(h, _)| h), Some(new.clone()), "the new active node keeps the lease");
    assert_converged(&d, 0, 1500);
    let out = d.cmd(&old, &lib, &["nodes", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let role = |id: &str| v["nodes"].as_array().unwrap().iter().find(|n| n["node_id"] == id).unwrap()["role"].clone();
    assert_eq!(role(&old), "standby", "{v}");
    assert_eq!(role(&new), "active", "{v}");
}

/// Per node, the connections it holds.
fn spread(d: &Deployment) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (name, holder, _) in d.holders() {
        if name.starts_with("connection:") {
            *m.entry(holder.unwrap_or_else(|| "(none)".into())).or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn cluster_connections_spread_move_when_a_node_dies_and_rebalance_when_it_returns() {
    let _serial = serial();
    let lib = slack_connector();
    let mut d = Deployment::new("cluster", 9, LEASE, 60.0);
    d.write_ldif(&people_ldif(20, |_| "T0".into()));
    for n in ["n1", "n2", "n3"] {
        d.start(n, &lib);
    }
    let even = |d: &Deployment, nodes: &[&str], each: &[usize]| {
        let s = spread(d);
        let mut counts: Vec<usize> = nodes.iter().map(|n| s.get(*n).copied().unwrap_or(0)).collect();
        counts.sort();
        !s.contains_key("(none)") && counts == each && s.len() == nodes.len()
    };
    d.wait("every connection owned, three each", Duration::from_secs(30), |d| even(d, &["n1", "n2", "n3"], &[3, 3, 3]));
    d.wait("every org provisioned", Duration::from_secs(60), |d| (0..9).all(|o| converged(d, o, 20)));

    // One-off writers and a second process with a node's id are refused while the nodes run.
    let cfg =
        std::fs::read_to_string(d.config("n9", &lib)).unwrap().replace("mode = \"cluster\"", "mode = \"standalone\"");
    std::fs::write(d.path("standalone.toml"), cfg).unwrap();
    let mut sync = d.cmd("n9", &lib, &["sync", "--once"]);
    sync.args(["--config", d.path("standalone.toml").to_str().unwrap()]);
    let out = sync.output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let out = d.cmd("n1", &lib, &["run"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("node id `n1` is in use"), "{err}");

    // A node dies: its connections move to the others within the lease (and a little).
    d.signal("n2", "KILL");
    let moved = d.wait("n2's connections moved", Duration::from_secs(LEASE + 10), |d| even(d, &["n1", "n3"], &[4, 5]));
    assert!(moved < Duration::from_secs(LEASE + 10));
    d.write_ldif(&people_ldif(25, |_| "T0".into()));
    d.wait("joiners provisioned in every org", Duration::from_secs(60), |d| (0..9).all(|o| converged(d, o, 25)));

    // It comes back: the connections rebalance.
    d.start("n2", &lib);
    d.wait("rebalanced, three each", Duration::from_secs(30), |d| even(d, &["n1", "n2", "n3"], &[3, 3, 3]));
    d.write_ldif(&people_ldif(30, |_| "T0".into()));
    d.wait("more joiners provisioned in every org", Duration::from_secs(60), |d| (0..9).all(|o| converged(d, o, 30)));
    for o in 0..9 {
        assert_converged(&d, o, 30);
    }
    let out = d.cmd("n1", &lib, &["nodes"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("n2") && text.contains("connection:org0"), "{text}");
    // Any node reads the shared state: every channel, whoever provisions it.
    let out = d.cmd("n3", &lib, &["channels", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v.to_string();
    for o in 0..9 {
        assert!(text.contains(&format!("people{o}")), "{text}");
    }
    let users: Vec<u64> = v.as_array().unwrap().iter().filter_map(|c| c["users"].as_u64()).collect();
    assert_eq!(users, vec![30; 9], "{text}");
    let out = d.cmd("n2", &lib, &["held", "--no-names"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_node_stopped_with_sigterm_hands_over_at_once() {
    let _serial = serial();
    let lib = slack_connector();
    // A long lease: a takeover well before it lapses proves the lease was released.
    let mut d = Deployment::new("failover", 1, 60, 60.0);
    d.write_ldif(&people_ldif(20, |_| "T0".into()));
    for n in ["n1", "n2"] {
        d.start(n, &lib);
    }
    d.wait("an active node", Duration::from_secs(30), |d| active(d).is_some());
    d.wait("the first sync", Duration::from_secs(60), |d| converged(d, 0, 20));
    let (old, epoch) = active(&d).unwrap();
    d.signal(&old, "TERM");
    let took = d.wait("the standby takes over", Duration::from_secs(20), |d| {
        active(d).is_some_and(|(h, e)| h != old && e > epoch)
    });
    assert!(took < Duration::from_secs(20), "released, not lapsed");
    d.write_ldif(&people_ldif(21, |_| "T0".into()));
    d.wait("the new active node provisions", Duration::from_secs(30), |d| converged(d, 0, 21));
    assert_converged(&d, 0, 21);
}

#[test]
fn the_state_password_comes_from_the_environment_and_is_never_shown() {
    let _serial = serial();
    let lib = slack_connector();
    let d = Deployment::new("failover", 1, LEASE, 60.0);
    let password = "pg-Pa55-never-shown-7731";
    d.pg.require_password(password);
    let cfg = d.config("n1", &lib);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("\" }\naudit_log", "\", password = { env = \"STATE_PASSWORD\" } }\naudit_log");
    std::fs::write(d.path("pw.toml"), text).unwrap();
    let run = |pw: &str| {
        let mut c = d.cmd("n1", &lib, &["channels"]);
        c.args(["--config", d.path("pw.toml").to_str().unwrap()]).env("STATE_PASSWORD", pw);
        c.output().unwrap()
    };
    let ok = run(password);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let bad = run("wrong-Pa55-9981");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("password authentication failed"), "{err}");
    for out in [&ok, &bad] {
        for text in [&out.stdout, &out.stderr] {
            let t = String::from_utf8_lossy(text);
            assert!(!t.contains(password) && !t.contains("wrong-Pa55-9981"), "{t}");
        }
    }
    // A password written into the URL is refused before any connection.
    let text =
        std::fs::read_to_string(&cfg).unwrap().replace("postgres://prov@", &format!("postgres://prov:{password}@"));
    std::fs::write(d.path("inline.toml"), text).unwrap();
    let mut c = d.cmd("n1", &lib, &["channels"]);
    c.args(["--config", d.path("inline.toml").to_str().unwrap()]);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains(password), "{err}");
}

#[test]
fn a_lone_node_whose_lease_lapsed_takes_it_again_and_goes_on() {
    let _serial = serial();
    let lib = slack_connector();
    let mut d = Deployment::new("failover", 1, LEASE, 60.0);
    d.write_ldif(&people_ldif(20, |_| "T0".into()));
    d.start("n1", &lib);
    d.wait("the first sync", Duration::from_secs(60), |d| converged(d, 0, 20));
    let (_, epoch) = active(&d).unwrap();
    // Paused longer than the lease, with nobody to take over: when it wakes, its lease lapsed here.
    d.signal("n1", "STOP");
    std::thread::sleep(Duration::from_secs(LEASE + 2));
    d.signal("n1", "CONT");
    d.wait("the lease taken again at a new epoch", Duration::from_secs(20), |d| {
        active(d).is_some_and(|(h, e)| h == "n1" && e > epoch)
    });
    d.write_ldif(&people_ldif(22, |_| "T0".into()));
    d.wait("provisioning goes on", Duration::from_secs(30), |d| converged(d, 0, 22));
    assert_converged(&d, 0, 22);
}
