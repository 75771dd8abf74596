//! Hostile or broken targets: a small loopback server (`common/hostile.rs`) answers the real binary and
//! the real Slack connector the ways a proxy, a bug on Slack's side or a wrong `baseUrl` do. Each case
//! ends within its bound, the records stay dirty, nothing is recorded as done, nothing panics, and the
//! token and the users' values never appear in the output, the audit log or the state.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::hostile::{Hostile, Mode};
use common::*;
use serde_json::Value;
use slack_sim::SimConfig;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any case may take (a correctness bound, far above what each needs).
const BOUND: Duration = Duration::from_secs(120);

const PEOPLE: [&str; 3] = ["hx0", "hx1", "hx2"];

/// A host whose connection points at `target` (settings keep every wait short).
fn host_against(target: &str, settings: &str) -> Host {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    h.write_config(settings, "");
    let cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
    let cfg = cfg
        .replace(&format!("baseUrl = \"{}/scim\"", h.sim.base_url()), &format!("baseUrl = \"{target}/scim\""))
        .replace("batch_size = 10", "batch_size = 10\ntimeout_seconds = 30");
    std::fs::write(h.path("provisioner.toml"), cfg).unwrap();
    h.write_ldif(&ldif(&PEOPLE.map(person), &[]));
    h
}

const QUICK: &str = "requestTimeoutSeconds = 2\nmaxRetries = 2\nmaxRetryWaitSeconds = 2";

/// `sync --once`, killed (and failed) past `BOUND`.
fn bounded_sync(h: &Host) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = h.cmd(&["sync", "--once"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            panic!("sync --once did not end within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

/// The common verdict: failed, dirty, nothing done, no panic, no secret or value anywhere.
fn check_failed_cleanly(h: &Host, out: &Output, case: &str) -> Vec<Value> {
    let (o, e) = (stdout(out), stderr(out));
    assert_eq!(out.status.code(), Some(1), "{case}: {o}\n{e}");
    assert!(!e.contains("panicked") && !o.contains("panicked"), "{case}: {e}");
    let ch: Value = serde_json::from_slice(&h.run(&["channels", "--json"]).stdout).unwrap();
    assert_eq!(ch[0]["dirty_users"], PEOPLE.len(), "{case}: the records stay dirty: {ch}");
    assert_eq!(ch[0]["last_cycle"]["figures"]["created"], 0, "{case}: nothing recorded as done: {ch}");
    let audit = h.audit();
    assert_eq!(audit.len(), PEOPLE.len(), "{case}");
    assert!(audit.iter().all(|a| a["is_success"] == false), "{case}: {audit:?}");
    let state = file_bytes(&h.path("state.db"));
    let audit_text = std::fs::read_to_string(h.path("audit.jsonl")).unwrap();
    for (what, text) in
        [("stdout", o.as_bytes()), ("stderr", e.as_bytes()), ("audit", audit_text.as_bytes()), ("state", &state)]
    {
        let text = String::from_utf8_lossy(text);
        assert!(!text.contains(TOKEN), "{case}: the token reached {what}");
        for p in PEOPLE {
            assert!(!text.contains(&format!("{p}@example.com")), "{case}: an email reached {what}: {text}");
        }
    }
    audit
}

#[test]
fn retry_after_huge_negative_non_finite_garbage_or_a_date_is_capped_and_never_panics() {
    let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3));
    for value in ["999999", "-1", "inf", "1e30", "NaN", "soon, maybe", &soon] {
        let server = Hostile::start(Mode::RetryAfter(value.to_owned()));
        let h = host_against(&server.url(), QUICK);
        let (out, _) = bounded_sync(&h);
        let audit = check_failed_cleanly(&h, &out, value);
        assert!(
            audit.iter().all(|a| a["non_success_cause"].as_str().unwrap().starts_with("rate_limited")),
            "{audit:?}"
        );
    }
}

#[test]
fn a_huge_body_with_or_without_content_length_is_not_read_whole() {
    for (case, mode) in [("with length", Mode::HugeWithLength(4 << 30)), ("streamed", Mode::HugeStreamed)] {
        let server = Hostile::start(mode);
        let h = host_against(&server.url(), QUICK);
        let (out, _) = bounded_sync(&h);
        let audit = check_failed_cleanly(&h, &out, case);
        assert!(
            audit.iter().all(|a| a["non_success_cause"].as_str().unwrap().contains("maxResponseBytes")),
            "{case}: {audit:?}"
        );
    }
}

#[test]
fn an_endless_page_sequence_is_cut_and_matching_falls_back_to_filters() {
    let server = Hostile::start(Mode::EndlessPages);
    let h = host_against(&server.url(), QUICK);
    let (out, _) = bounded_sync(&h);
    check_failed_cleanly(&h, &out, "endless pages");
    let lists =
        server.seen.lock().unwrap().iter().filter(|r| r.starts_with("GET ") && r.contains("startIndex")).count();
    assert!(lists <= 6, "the list read stopped at the frozen total: {lists} list requests");
}

#[test]
fn a_redirect_is_never_followed_and_nothing_is_re_sent() {
    let elsewhere = Hostile::start(Mode::Accept);
    let server = Hostile::start(Mode::Redirect(format!("{}/scim/v2/Users", elsewhere.url())));
    let h = host_against(&server.url(), QUICK);
    let (out, _) = bounded_sync(&h);
    let audit = check_failed_cleanly(&h, &out, "redirect");
    assert!(audit.iter().all(|a| a["non_success_cause"].as_str().unwrap().contains("check baseUrl")), "{audit:?}");
    assert_eq!(
        elsewhere.requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached the redirect's target"
    );
}

#[test]
fn slow_loris_html_truncated_json_and_resets_fail_the_records_retryably() {
    for (case, mode) in [
        ("slow-loris", Mode::SlowLoris),
        ("html", Mode::Html),
        ("truncated json", Mode::TruncatedJson),
        ("connection reset", Mode::Reset),
    ] {
        let server = Hostile::start(mode);
        let h = host_against(&server.url(), QUICK);
        let (out, _) = bounded_sync(&h);
        check_failed_cleanly(&h, &out, case);
    }
}

#[test]
fn sigterm_stops_a_run_waiting_on_a_throttled_target_within_seconds() {
    // Retry-After 100 s, under the default 300 s cap: the connector is waiting when the signal comes.
    let server = Hostile::start(Mode::RetryAfter("100".into()));
    let h = host_against(&server.url(), "maxRetries = 50");
    let mut child = h.cmd(&["run"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let t = Instant::now();
    while server.requests.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(t.elapsed() < Duration::from_secs(30), "the target was never called");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let signalled = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(signalled.elapsed() < Duration::from_secs(20), "run did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
    // The records stay dirty and resume on the next start.
    let ch: Value = serde_json::from_slice(&h.run(&["channels", "--json"]).stdout).unwrap();
    assert_eq!(ch[0]["dirty_users"], PEOPLE.len(), "{ch}");
}
