//! Load benchmark of the `slack-sim` binary on loopback, rate limits off.
//!
//! Run: `cargo build --release -p slack-sim && cargo bench -p slack-sim --bench load`
//!
//! The load generator is this program: N tokio tasks, each with one keep-alive HTTP/1.1 connection,
//! sending requests back to back and reading each answer fully (Content-Length). It reports requests
//! per second for simple GETs (`GET /scim/v2/Users/<id>`) and user creates (`POST /scim/v2/Users`),
//! the binary's startup time (spawn to its first stdout line; median of 20) and its resident memory
//! holding 100,000 users.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "bench-token";

fn sim_binary() -> std::path::PathBuf {
    let bin = test_support::artifact_dir().join("slack-sim");
    if !bin.exists() {
        eprintln!("{} is missing: run `cargo build --release -p slack-sim` first", bin.display());
        std::process::exit(2);
    }
    bin
}

fn start() -> (Child, String, Duration) {
    let t = Instant::now();
    let mut child = Command::new(sim_binary())
        .args(["--listen", "127.0.0.1:0", "--token", TOKEN, "--rate-limits", "off"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn slack-sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
    let elapsed = t.elapsed();
    let addr = line.trim().trim_start_matches("listening on http://").to_owned();
    (child, addr, elapsed)
}

async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut tmp = [0u8; 16384];
    loop {
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
            let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp).await?;
                if n == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            return Ok(status);
        }
    }
}

/// Runs `conns` connections for `secs`; `make` builds request `i`. Returns (requests/s, non-2xx count).
async fn load(addr: &str, conns: usize, secs: f64, make: Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>) -> (f64, u64) {
    let count = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..conns {
        let (addr, count, errors, next, make) =
            (addr.to_owned(), count.clone(), errors.clone(), next.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            s.set_nodelay(true).ok();
            let mut buf = Vec::with_capacity(32768);
            while Instant::now() < deadline {
                let req = make(next.fetch_add(1, Ordering::Relaxed));
                s.write_all(&req).await.expect("write");
                match read_response(&mut s, &mut buf).await {
                    Ok(st) if (200..300).contains(&st) => {}
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(), errors.load(Ordering::Relaxed))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    // Startup: median of 20 spawns.
    let mut startups = Vec::new();
    for _ in 0..20 {
        let (mut c, _, t) = start();
        startups.push(t.as_secs_f64() * 1000.0);
        let _ = c.kill();
        let _ = c.wait();
    }
    println!("startup (spawn to 'listening on'): median {:.1} ms over 20", median(startups));

    let (mut child, addr, _) = start();
    let client = reqwest::blocking::Client::new();
    let created: serde_json::Value = client
        .post(format!("http://{addr}/scim/v2/Users"))
        .bearer_auth(TOKEN)
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bench.get","emails":[{"value":"bench.get@example.com"}]}"#)
        .send()
        .and_then(|r| r.json())
        .expect("create");
    let id = created["id"].as_str().expect("id").to_owned();
    let host = addr.clone();
    let get_req: Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync> = Arc::new(move |_| {
        format!("GET /scim/v2/Users/{id} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
            .into_bytes()
    });
    let host = addr.clone();
    let unique = Arc::new(AtomicU64::new(0));
    let post_req: Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync> = Arc::new(move |_| {
        // Unique across rounds: every create must succeed.
        let i = unique.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b{i}","emails":[{{"value":"b{i}@example.com"}}],"title":"Engineer","name":{{"givenName":"B","familyName":"{i}"}}}}"#
        );
        format!(
            "POST /scim/v2/Users HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    let mut gets = Vec::new();
    let mut posts = Vec::new();
    for round in 0..3 {
        let (g, ge) = rt.block_on(load(&addr, 32, 3.0, get_req.clone()));
        let (p, pe) = rt.block_on(load(&addr, 32, 2.0, post_req.clone()));
        println!("round {round}: GET /Users/<id> {g:.0} req/s ({ge} non-2xx); POST /Users {p:.0} req/s ({pe} non-2xx)");
        gets.push(g);
        posts.push(p);
    }
    println!("GET /scim/v2/Users/<id>: median {:.0} req/s (target >= 20000)", median(gets));
    println!("POST /scim/v2/Users:     median {:.0} creates/s (target >= 5000)", median(posts));
    let _ = child.kill();
    let _ = child.wait();

    // Memory: 100,000 users seeded through the control endpoint.
    let (mut child, addr, _) = start();
    let base_rss = rss_kib(child.id());
    let users: Vec<serde_json::Value> = (0..100_000)
        .map(|i| {
            serde_json::json!({"user_name": format!("m{i}"), "email": format!("m{i}@example.com"),
                               "given_name": "Member", "family_name": format!("N{i}"), "title": "Engineer"})
        })
        .collect();
    let t = Instant::now();
    let r = client
        .post(format!("http://{addr}/_sim/seed"))
        .timeout(Duration::from_secs(300))
        .body(serde_json::json!({"users": users}).to_string())
        .send()
        .expect("seed");
    assert!(r.status().is_success(), "seed failed");
    drop(r);
    std::thread::sleep(Duration::from_millis(300));
    let rss = rss_kib(child.id());
    println!(
        "100,000 users: RSS {:.1} MiB (empty: {:.1} MiB; target < 300 MB), seeded in {:.1} s",
        rss as f64 / 1024.0,
        base_rss as f64 / 1024.0,
        t.elapsed().as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
}
