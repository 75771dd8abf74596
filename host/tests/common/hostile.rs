//! A small HTTP/1.1 server on loopback that misbehaves the ways a proxy, a bug on Slack's side or a
//! wrong `baseUrl` do. One mode per server; every connection is answered then closed. It counts the
//! requests it received and keeps their raw text (to prove what was, or was not, sent).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server answers.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// 429 with this `Retry-After` value, for ever.
    RetryAfter(String),
    /// 200 announcing a body of this many bytes (Content-Length) it never sends whole.
    HugeWithLength(u64),
    /// 200 without Content-Length, streaming bytes until the client goes away.
    HugeStreamed,
    /// Every list page is full and announces a larger total than the last; writes answer 503.
    EndlessPages,
    /// 307 to this URL.
    Redirect(String),
    /// Status line and headers, then one byte of body every second, for ever.
    SlowLoris,
    /// 200 with an HTML page.
    Html,
    /// 200 announcing more JSON than it sends, then closes.
    TruncatedJson,
    /// Reads the request and closes without answering.
    Reset,
    /// Answers 200 `{}` to everything (the redirect's destination: it must never be reached).
    Accept,
    /// Writes a plain-text HTTP answer as soon as a client connects (a TLS client sees no TLS).
    PlainAtOnce,
}

pub(crate) struct Hostile {
    pub(crate) port: u16,
    pub(crate) requests: Arc<AtomicUsize>,
    pub(crate) seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    pub(crate) fn start(mode: Mode) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (Arc::clone(&requests), Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut page = 0u64;
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        page += 1;
                        let (mode, r, s, st) = (mode.clone(), Arc::clone(&r), Arc::clone(&s), Arc::clone(&st));
                        std::thread::spawn(move || serve(conn, &mode, page, &r, &s, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Hostile { port, requests, seen, stop }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn read_request(conn: &mut TcpStream) -> Option<String> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).ok()?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
    }
}

fn users_page(page: u64) -> String {
    let users: Vec<String> = (0..1000)
        .map(|i| {
            let n = page * 1000 + i;
            format!(r#"{{"id":"UX{n}","userName":"x{n}","emails":[{{"value":"x{n}@example.com","primary":true}}],"active":true}}"#)
        })
        .collect();
    format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":{},"itemsPerPage":1000,"startIndex":1,"Resources":[{}]}}"#,
        (page + 2) * 1000,
        users.join(",")
    )
}

fn serve(
    mut conn: TcpStream,
    mode: &Mode,
    page: u64,
    requests: &AtomicUsize,
    seen: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let Some(request) = read_request(&mut conn) else { return };
    requests.fetch_add(1, Ordering::SeqCst);
    let is_get = request.starts_with("GET ");
    if let Ok(mut s) = seen.lock() {
        s.push(request);
    }
    let _ = conn.set_write_timeout(Some(Duration::from_secs(30)));
    let answer = |conn: &mut TcpStream, status: &str, headers: &str, body: &str| {
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
            body.len()
        );
    };
    match mode {
        Mode::RetryAfter(v) => answer(
            &mut conn,
            "429 Too Many Requests",
            &format!("Retry-After: {v}\r\nContent-Type: application/json\r\n"),
            r#"{"Errors":{"description":"too_many_requests","code":429}}"#,
        ),
        Mode::HugeWithLength(n) => {
            let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n\r\n");
            let chunk = vec![b' '; 1 << 16];
            let mut sent = 0u64;
            while sent < *n && !stop.load(Ordering::SeqCst) && conn.write_all(&chunk).is_ok() {
                sent += chunk.len() as u64;
            }
        }
        Mode::HugeStreamed => {
            let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[");
            let chunk = vec![b'0'; 1 << 16];
            while !stop.load(Ordering::SeqCst) && conn.write_all(&chunk).is_ok() {}
        }
        Mode::EndlessPages if is_get => {
            answer(&mut conn, "200 OK", "Content-Type: application/json\r\n", &users_page(page))
        }
        Mode::EndlessPages => answer(
            &mut conn,
            "503 Service Unavailable",
            "Content-Type: application/json\r\n",
            r#"{"Errors":{"description":"service_unavailable","code":503}}"#,
        ),
        Mode::Redirect(to) => answer(&mut conn, "307 Temporary Redirect", &format!("Location: {to}\r\n"), ""),
        Mode::SlowLoris => {
            let _ =
                write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{");
            while !stop.load(Ordering::SeqCst) && conn.write_all(b" ").is_ok() {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Mode::Html => answer(
            &mut conn,
            "200 OK",
            "Content-Type: text/html\r\n",
            "<html><body><h1>Welcome to the proxy</h1></body></html>",
        ),
        Mode::TruncatedJson => {
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"id\":\"U1\",\"userNa"
            );
        }
        Mode::Reset => {}
        Mode::Accept => answer(&mut conn, "200 OK", "Content-Type: application/json\r\n", "{}"),
        Mode::PlainAtOnce => {}
    }
}
