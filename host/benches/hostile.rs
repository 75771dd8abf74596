//! Bounds against hostile targets: real `provisioner` processes and the release Slack connector against
//! the loopback hostile server of the tests (`host/tests/common/hostile.rs`).
//!
//! Run: `cargo build --release -p provisioner -p connector-slack && cargo bench -p provisioner --bench hostile`
//!
//! 1. Peak resident memory (VmHWM, polled from /proc every 5 ms) of `sync --once` against a multi-GiB
//!    answer with Content-Length, one streamed without it, and an endless page sequence (target < 100 MB).
//! 2. Time from SIGTERM to exit of `run` while the connector waits on a throttled target (429 with
//!    `Retry-After: 100`), median of 5 (target < 5 s).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design
#![allow(dead_code)] // the hostile server's other modes serve the tests

#[path = "../tests/common/hostile.rs"]
mod hostile;

use hostile::{Hostile, Mode};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "xoxp-bench-hostile";

fn write_config(dir: &Path, target: &str, settings: &str) -> std::path::PathBuf {
    let mut cfg = test_support::config::engine(
        &dir.join("state.db").display().to_string(),
        &dir.join("audit.jsonl").display().to_string(),
        "",
    );
    cfg.push_str(&test_support::config::slack_connection(
        "slack",
        &test_support::cdylib("connector_slack"),
        target,
        "BENCH_TOKEN",
        settings,
    ));
    cfg.push_str(&format!(
        "\n[[connections.channels]]\nname = \"people\"\nsource = {{ type = \"ldif\", path = \"{}\" }}\ntimeout_seconds = 60\n[connections.channels.mapping]\n{}",
        dir.join("people.ldif").display(),
        test_support::config::BASIC_MAPPING
    ));
    let mut ldif = String::new();
    for i in 0..20 {
        ldif.push_str(&format!(
            "dn: uid=b{i},ou=People,dc=example,dc=com\nobjectClass: inetOrgPerson\nentryUUID: b-{i}\nuid: b{i}\ngivenName: B\nsn: {i}\nmail: b{i}@example.com\ntitle: T\n\n"
        ));
    }
    std::fs::write(dir.join("people.ldif"), ldif).unwrap();
    let path = dir.join("provisioner.toml");
    // Real seconds: Retry-After is not scaled down as it is for slack-sim.
    std::fs::write(&path, cfg.replace("rateLimitTimeScale = 10000.0", "rateLimitTimeScale = 1.0")).unwrap();
    path
}

fn provisioner(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(test_support::artifact_dir().join("provisioner"));
    c.arg("--config").arg(config).args(args).env("BENCH_TOKEN", TOKEN).env("PROVISIONER_LOG", "error");
    if let Ok(v) = std::env::var("BENCH_MALLOC_ARENA_MAX") {
        c.env("MALLOC_ARENA_MAX", v);
    }
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// `sync --once` against `mode`: (seconds, peak MiB).
fn peak(mode: Mode) -> (f64, f64) {
    let extra = std::env::var("BENCH_EXTRA").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let server = Hostile::start(mode);
    let config =
        write_config(dir.path(), &server.url(), &format!("requestTimeoutSeconds = 30\nmaxRetries = 1\n{extra}"));
    let t = Instant::now();
    let mut child = provisioner(&config, &["sync", "--once"]).spawn().unwrap();
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(test_support::vm_hwm_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
    (t.elapsed().as_secs_f64(), peak as f64 / 1024.0)
}

/// Seconds from SIGTERM to the end of `run` while throttled.
fn sigterm_to_exit() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let server = Hostile::start(Mode::RetryAfter("100".into()));
    let config = write_config(dir.path(), &server.url(), "maxRetries = 50");
    let mut child = provisioner(&config, &["run"]).spawn().unwrap();
    while server.requests.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let t = Instant::now();
    child.wait().unwrap();
    t.elapsed().as_secs_f64()
}

fn main() {
    for bin in ["provisioner", "libconnector_slack.so"] {
        if !test_support::artifact_dir().join(bin).exists() {
            eprintln!("{bin} missing: cargo build --release -p provisioner -p connector-slack");
            std::process::exit(2);
        }
    }
    println!("peak RSS of `sync --once` against hostile targets (target < 100 MiB):");
    for (name, mode) in [
        ("4 GiB answer with Content-Length", Mode::HugeWithLength(4 << 30)),
        ("answer streamed without length", Mode::HugeStreamed),
        ("endless page sequence", Mode::EndlessPages),
    ] {
        let (secs, mib) = peak(mode);
        println!("  {name:<34} {mib:>7.1} MiB peak, {secs:>5.2} s");
    }
    let mut times: Vec<f64> = (0..5).map(|_| sigterm_to_exit()).collect();
    times.sort_by(f64::total_cmp);
    println!(
        "SIGTERM to exit while throttled (Retry-After 100): median {:.2} s of 5 (min {:.2}, max {:.2}; target < 5 s)",
        times[2], times[0], times[4]
    );
}
