//! High availability figures, on a throwaway PostgreSQL with real `provisioner run` nodes, the release
//! Slack connector and slack-sims:
//!
//! - failover: takeover after `kill -9` of the active node (default lease, 15 s), median of 5: the time
//!   until a standby holds the lease, and until a change made at the kill reaches Slack;
//! - cluster, 3 nodes and 60 connections: the time until every connection of a killed node is owned
//!   again; then the coordination cost when idle: PostgreSQL statements per node per minute (counted
//!   from the server's statement log, by session), coordination and state apart.
//!
//! `cargo build --release -p provisioner -p connector-slack && cargo bench -p provisioner --bench ha`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

#[path = "../tests/common/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use cluster::{people_ldif, Deployment};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use test_support::postgres::{query_texts, Postgres};

const LEASE: u64 = 15;

fn active(d: &Deployment) -> Option<(String, i64)> {
    d.holders().into_iter().find(|(n, _, _)| n == "active").and_then(|(_, h, e)| h.map(|h| (h, e)))
}

fn provisioned(d: &Deployment) -> usize {
    query_texts(&d.db, "SELECT COUNT(*) FROM users WHERE target_id IS NOT NULL AND dirty = 0")[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn takeover(lib: &std::path::Path) -> (f64, f64) {
    let mut d = Deployment::new("failover", 1, LEASE, 60.0);
    d.write_ldif(&people_ldif(50, |_| "T0".into()));
    for n in ["n1", "n2", "n3"] {
        d.start(n, lib);
    }
    d.wait("an active node", Duration::from_secs(60), |d| active(d).is_some());
    d.wait("the first sync", Duration::from_secs(120), |d| provisioned(d) == 50);
    let (old, epoch) = active(&d).unwrap();
    let t0 = Instant::now();
    d.signal(&old, "KILL");
    d.write_ldif(&people_ldif(50, |i| if i == 0 { "After".into() } else { "T0".into() }));
    d.wait("a takeover", Duration::from_secs(LEASE + 30), |d| active(d).is_some_and(|(h, e)| h != old && e > epoch));
    let taken = t0.elapsed().as_secs_f64();
    d.wait("the change in Slack", Duration::from_secs(LEASE + 60), |d| {
        d.users(0).iter().any(|u| u["userName"] == "p0" && u["title"] == "After")
    });
    (taken, t0.elapsed().as_secs_f64())
}

fn spread(d: &Deployment) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, holder, _) in d.holders() {
        m.entry(holder.unwrap_or_else(|| "(none)".into())).or_default().push(name);
    }
    m
}

/// Statements logged per session name since `from` (byte offset of the server log).
fn statements(log: &std::path::Path, from: u64) -> BTreeMap<String, u64> {
    let text = std::fs::read(log).unwrap();
    let text = String::from_utf8_lossy(&text[from as usize..]);
    let mut m = BTreeMap::new();
    for line in text.lines() {
        if let Some((app, rest)) = line.split_once('|') {
            if rest.starts_with("LOG:  statement:") || rest.starts_with("LOG:  execute") {
                *m.entry(app.to_owned()).or_insert(0) += 1;
            }
        }
    }
    m
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let lib = test_support::cdylib("connector_slack");
    println!("failover: 3 nodes, lease {LEASE} s, kill -9 of the active node (5 runs)");
    let runs: Vec<(f64, f64)> = (0..5).map(|_| takeover(&lib)).collect();
    for (i, (t, c)) in runs.iter().enumerate() {
        println!("  run {}: lease taken over after {t:.2} s, change in Slack after {c:.2} s", i + 1);
    }
    let (taken, change) = (median(runs.iter().map(|r| r.0).collect()), median(runs.iter().map(|r| r.1).collect()));
    println!(
        "  median: takeover {taken:.2} s, change in Slack {change:.2} s (target: under lease + 5 = {} s)",
        LEASE + 5
    );

    println!("cluster: 3 nodes, 60 connections (each its own slack-sim), lease {LEASE} s, cycle interval 60 s");
    let pg = Postgres::start_with("-c log_statement=all -c log_line_prefix='%a|'");
    let log = pg.log_path();
    let mut d = Deployment::with_server(pg, "cluster", 60, LEASE, 60.0);
    d.cycle_interval_seconds = 60;
    d.write_ldif(&people_ldif(5, |_| "T0".into()));
    for n in ["n1", "n2", "n3"] {
        d.start(n, &lib);
    }
    let t = d.wait("20 connections each", Duration::from_secs(120), |d| {
        let s = spread(d);
        ["n1", "n2", "n3"].iter().all(|n| s.get(*n).map_or(0, Vec::len) == 20)
    });
    println!("  all 60 connections owned, 20 per node, {:.2} s after start", t.as_secs_f64());
    d.wait("every org provisioned", Duration::from_secs(180), |d| provisioned(d) == 300);
    let held_by_n2 = spread(&d)["n2"].clone();
    let t0 = Instant::now();
    d.signal("n2", "KILL");
    d.wait("n2's connections owned again", Duration::from_secs(LEASE + 60), |d| {
        let s = spread(d);
        !s.contains_key("n2") && !s.contains_key("(none)")
    });
    let reowned = t0.elapsed().as_secs_f64();
    println!(
        "  kill -9 of a node holding {} connections: all owned again after {reowned:.2} s (lease {LEASE} s)",
        held_by_n2.len()
    );
    // Idle: nothing changes in the directory; count a minute of statements.
    std::thread::sleep(Duration::from_secs(5));
    let from = std::fs::metadata(&log).unwrap().len();
    let minute = Instant::now();
    std::thread::sleep(Duration::from_secs(60));
    let per_app = statements(&log, from);
    let scale = 60.0 / minute.elapsed().as_secs_f64();
    for n in ["n1", "n3"] {
        let coord = per_app.get(&format!("provisioner:{n}")).copied().unwrap_or(0) as f64 * scale;
        let state = per_app.get(&format!("provisioner:{n}:state")).copied().unwrap_or(0) as f64 * scale;
        println!(
            "  idle, node {n} (30 connections): {coord:.0} coordination statements per minute, {state:.0} state statements per minute (one cycle of its 30 connections)"
        );
    }
    d.stop_all();
}
