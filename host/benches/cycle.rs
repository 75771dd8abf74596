//! Host benchmark: real `provisioner` processes, the release Slack connector, the `slack-sim` binary
//! with its limits off.
//!
//! Run: `cargo build --release -p provisioner -p connector-slack -p slack-sim && cargo bench -p provisioner --bench cycle`
//!
//! 1. First sync of 10,000 users: users per second.
//! 2. 100,000 users: after the first sync, cycles with no source change: wall time (median of 5),
//!    target requests during them (must be 0), and the process's peak resident memory (VmHWM, polled
//!    from /proc every 5 ms while it runs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "xoxp-bench-host";

fn write_ldif(path: &Path, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("ldif"));
    for i in 0..n {
        writeln!(
            f,
            "dn: uid=u{i},ou=People,dc=example,dc=com\nobjectClass: inetOrgPerson\nentryUUID: 00000000-0000-0000-0000-{i:012}\nuid: u{i}\ngivenName: User\nsn: Number {i}\nmail: u{i}@example.com\ntitle: Engineer\ndepartmentNumber: D{}\nemployeeNumber: {i}\n",
            i % 50
        )
        .expect("write");
    }
}

fn write_config(path: &Path, url: &str, ldif: &Path, state: &Path) {
    let cfg = format!(
        r#"[engine]
state_db = "{state}"
audit_log = "{audit}"

{connection}
[[connections.channels]]
name = "people"
source = {{ type = "ldif", path = "{ldif}" }}
batch_size = 500
threads = 2
[connections.channels.location]
base_dn = "ou=People,dc=example,dc=com"
filter = "(objectClass=inetOrgPerson)"
[connections.channels.mapping]
userName = {{ attribute = "uid" }}
primaryEmail = {{ attribute = "mail" }}
givenName = {{ attribute = "givenName" }}
familyName = {{ attribute = "sn" }}
displayName = {{ template = "{{givenName}} {{sn}}" }}
title = {{ attribute = "title" }}
department = {{ attribute = "departmentNumber" }}
employeeNumber = {{ attribute = "employeeNumber", masked = true }}
"#,
        state = state.display(),
        audit = state.with_extension("audit.jsonl").display(),
        connection = test_support::config::slack_connection(
            "slack",
            &test_support::cdylib("connector_slack"),
            url,
            "BENCH_TOKEN",
            "maxConcurrency = 16"
        ),
        ldif = ldif.display(),
    );
    std::fs::write(path, cfg).expect("config");
}

/// Runs `provisioner sync --once`; returns (seconds, peak KiB, stdout).
fn sync(config: &Path) -> (f64, u64, String) {
    let t = Instant::now();
    let mut child = Command::new(test_support::artifact_dir().join("provisioner"))
        .args(["--config"])
        .arg(config)
        .args(["sync", "--once"])
        .env("BENCH_TOKEN", TOKEN)
        .env("PROVISIONER_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("provisioner");
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        if let Some(k) = test_support::vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let secs = t.elapsed().as_secs_f64();
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut s, &mut out);
    }
    (secs, peak, out)
}

fn requests(url: &str) -> u64 {
    reqwest::blocking::get(format!("{url}/_sim/stats"))
        .and_then(|r| r.json::<serde_json::Value>())
        .map(|v| v["requests_total"].as_u64().unwrap_or(0))
        .unwrap_or(0)
}

fn main() {
    for bin in ["provisioner", "slack-sim", "libconnector_slack.so"] {
        if !test_support::artifact_dir().join(bin).exists() {
            eprintln!("{bin} missing: cargo build --release -p provisioner -p connector-slack -p slack-sim");
            std::process::exit(2);
        }
    }
    let tmp = std::env::temp_dir().join(format!("provisioner-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let mut sim = Command::new(test_support::artifact_dir().join("slack-sim"))
        .args(["--listen", "127.0.0.1:0", "--token", TOKEN, "--rate-limits", "off"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("slack-sim");
    let mut line = String::new();
    BufReader::new(sim.stdout.take().expect("stdout")).read_line(&mut line).expect("line");
    let url = line.trim().trim_start_matches("listening on ").to_owned();

    // 1. First sync of 10,000.
    let ldif10 = tmp.join("d10k.ldif");
    write_ldif(&ldif10, 10_000);
    let cfg10 = tmp.join("p10k.toml");
    write_config(&cfg10, &url, &ldif10, &tmp.join("s10k.db"));
    let (secs, peak, out) = sync(&cfg10);
    println!(
        "first sync of 10,000 users: {secs:.2} s = {:.0} users/s, peak RSS {:.1} MiB\n  {}",
        10_000.0 / secs,
        peak as f64 / 1024.0,
        out.trim()
    );
    let _ = reqwest::blocking::Client::new().post(format!("{url}/_sim/reset")).send();

    // 2. 100,000 unchanged.
    let ldif100 = tmp.join("d100k.ldif");
    write_ldif(&ldif100, 100_000);
    let cfg100 = tmp.join("p100k.toml");
    write_config(&cfg100, &url, &ldif100, &tmp.join("s100k.db"));
    let (secs, peak, out) = sync(&cfg100);
    println!(
        "first sync of 100,000 users: {secs:.2} s = {:.0} users/s, peak RSS {:.1} MiB\n  {}",
        100_000.0 / secs,
        peak as f64 / 1024.0,
        out.trim()
    );
    let mut times = Vec::new();
    let mut peaks = Vec::new();
    let before = requests(&url);
    for _ in 0..5 {
        let (s, p, _) = sync(&cfg100);
        times.push(s);
        peaks.push(p);
    }
    let calls = requests(&url) - before;
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "unchanged cycle over 100,000 users (whole process): median {:.3} s (min {:.3}, max {:.3}); target requests {calls}; peak RSS max {:.1} MiB (targets: < 2 s, 0 calls, < 200 MB)",
        times[2],
        times[0],
        times[4],
        peaks.iter().max().copied().unwrap_or(0) as f64 / 1024.0
    );
    let _ = sim.kill();
    let _ = sim.wait();
    let _ = std::fs::remove_dir_all(&tmp);
}
