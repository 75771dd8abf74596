//! End-to-end provisioning benchmark: this process (the host) → loader → ABI → the connector cdylib →
//! HTTP → the `slack-sim` binary.
//!
//! Run: `cargo build --release -p connector-slack -p slack-sim && cargo bench -p connector-slack --bench provision`
//!
//! 1. Slack's limits enforced at `--time-scale 60`: 2,000 new users, then 2,000 updates, in batches of
//!    200. Reports wall time against the minimum the limits allow, failed records and the 429 share.
//! 2. Limits off: 10,000 creates; reports creates per second and requests per changed record.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design

use connector_abi::payload::*;
use connector_abi::ConnectorLibrary;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const TOKEN: &str = "xoxp-bench";

fn sim(args: &[&str]) -> (Child, String) {
    let bin = test_support::artifact_dir().join("slack-sim");
    if !bin.exists() {
        eprintln!("{} missing: cargo build --release -p slack-sim", bin.display());
        std::process::exit(2);
    }
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--token", TOKEN])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn slack-sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
    (child, line.trim().trim_start_matches("listening on ").to_owned())
}

fn stats(url: &str) -> Value {
    reqwest::blocking::get(format!("{url}/_sim/stats")).and_then(|r| r.json()).expect("stats")
}

fn user(i: usize, title: &str, target: Option<String>) -> Record {
    let mut a = Attributes::new();
    a.insert("userName".into(), json!(format!("bench.{i}")));
    a.insert("primaryEmail".into(), json!(format!("bench.{i}@example.com")));
    a.insert("givenName".into(), json!("Bench"));
    a.insert("familyName".into(), json!(format!("User {i}")));
    a.insert("title".into(), json!(title));
    a.insert("department".into(), json!("Engineering"));
    let changed = target.as_ref().map(|_| vec!["title".to_owned()]);
    Record {
        object_class: ObjectClass::User,
        source_id: format!("src-{i}"),
        target_id: target,
        event: Event::Upsert,
        attributes: a,
        changed,
        members: vec![],
        previous_members: None,
    }
}

/// Runs `records` in batches; returns (results, seconds).
fn provision(inst: &connector_abi::Instance, records: Vec<Record>, batch: usize) -> (Vec<RecordResult>, f64) {
    let t = Instant::now();
    let mut out = Vec::new();
    for chunk in records.chunks(batch) {
        let r =
            inst.provision(&ProvisionRequest { v: 1, records: chunk.to_vec(), deadline_ms: None }).expect("provision");
        out.extend(r.results);
    }
    (out, t.elapsed().as_secs_f64())
}

fn main() {
    let lib = ConnectorLibrary::load(test_support::cdylib("connector_slack"))
        .expect("load the connector (cargo build --release -p connector-slack)");
    let settings = |url: &str, extra: Value| {
        let mut s = json!({"accessToken": TOKEN, "baseUrl": format!("{url}/scim"), "apiVersion": "v2"});
        for (k, v) in extra.as_object().expect("object") {
            s[k] = v.clone();
        }
        TargetSettings { v: 1, settings: s.as_object().expect("object").clone() }
    };

    // 1. Limits on, 60x.
    let n = 2000;
    let (mut child, url) = sim(&["--time-scale", "60", "--rate-limits", "slack"]);
    let inst = lib.open(&settings(&url, json!({"rateLimitTimeScale": 60.0, "maxConcurrency": 8}))).expect("open");
    let (created, t_create) = provision(&inst, (0..n).map(|i| user(i, "Engineer", None)).collect(), 200);
    let failed_c = created.iter().filter(|r| r.outcome != Outcome::Created).count();
    let targets: Vec<Option<String>> = created.iter().map(|r| r.target_id.clone()).collect();
    let (updated, t_update) =
        provision(&inst, (0..n).map(|i| user(i, "Senior Engineer", targets[i].clone())).collect(), 200);
    let failed_u = updated.iter().filter(|r| r.outcome != Outcome::Updated).count();
    let s = stats(&url);
    let total = s["requests_total"].as_u64().unwrap_or(0);
    let throttled = s["throttled"].as_u64().unwrap_or(0);
    // POST /Users and PATCH /Users/<id> are 180/min with a burst of 20 each; at 60x, 3 per Slack-second.
    let min_create = (n as f64 - 20.0) / 3.0 / 60.0;
    let min_update = (n as f64 - 20.0) / 3.0 / 60.0;
    let wall = t_create + t_update;
    println!("limits on (--time-scale 60), batches of 200, v2:");
    println!("  2000 creates: {t_create:.2} s (minimum {min_create:.2} s), failed {failed_c}");
    println!("  2000 updates: {t_update:.2} s (minimum {min_update:.2} s), failed {failed_u}");
    println!(
        "  wall {wall:.2} s = {:.3}x the minimum {:.2} s; requests {total}, 429s {throttled} ({:.2}%)",
        wall / (min_create + min_update),
        min_create + min_update,
        100.0 * throttled as f64 / total.max(1) as f64
    );
    drop(inst);
    let _ = child.kill();
    let _ = child.wait();

    // 2. Limits off.
    let n = 10_000;
    let (mut child, url) = sim(&["--rate-limits", "off"]);
    let inst = lib.open(&settings(&url, json!({"rateLimitTimeScale": 10000.0, "maxConcurrency": 16}))).expect("open");
    let (created, t_create) = provision(&inst, (0..n).map(|i| user(i, "Engineer", None)).collect(), 500);
    let failed = created.iter().filter(|r| r.outcome != Outcome::Created).count();
    let s1 = stats(&url);
    let targets: Vec<Option<String>> = created.iter().map(|r| r.target_id.clone()).collect();
    let (updated, t_update) = provision(&inst, (0..n).map(|i| user(i, "Lead", targets[i].clone())).collect(), 500);
    let failed_u = updated.iter().filter(|r| r.outcome != Outcome::Updated).count();
    let s2 = stats(&url);
    let req_c = s1["requests_total"].as_u64().unwrap_or(0);
    let req_u = s2["requests_total"].as_u64().unwrap_or(0) - req_c;
    println!("limits off, batches of 500, concurrency 16, v2:");
    println!(
        "  {n} creates in {t_create:.2} s = {:.0} users/s, failed {failed}, requests per created record {:.4}",
        n as f64 / t_create,
        req_c as f64 / n as f64
    );
    println!(
        "  {n} updates in {t_update:.2} s = {:.0} users/s, failed {failed_u}, requests per updated record {:.4}",
        n as f64 / t_update,
        req_u as f64 / n as f64
    );
    drop(inst);
    let _ = child.kill();
    let _ = child.wait();
}
