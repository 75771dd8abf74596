//! Request counters served at `GET /_sim/stats`.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Inner {
    total: u64,
    by_method: BTreeMap<String, u64>,
    by_endpoint: BTreeMap<String, u64>,
    by_status: BTreeMap<u16, u64>,
    throttled: u64,
    writes: u64,
}

/// Counters for SCIM requests (control endpoints are not counted), and the optional trace file.
#[derive(Debug, Default)]
pub struct Stats(Mutex<Inner>, Mutex<Option<(std::time::Instant, std::fs::File)>>);

impl Stats {
    /// Counters, with a trace appended to `path` when given (unwritable: no trace, a warning).
    pub fn with_trace(path: Option<&std::path::Path>) -> Self {
        let file = path.and_then(|p| match std::fs::OpenOptions::new().create(true).append(true).open(p) {
            Ok(mut f) => {
                // The wall-clock time the lines' milliseconds count from, so a reader can line them up
                // with its own clock (e.g. a process's start and end).
                use std::io::Write as _;
                let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                let _ = writeln!(f, "# start unix_ms {:.3}", since_epoch.unwrap_or_default().as_secs_f64() * 1000.0);
                Some((std::time::Instant::now(), f))
            }
            Err(e) => {
                eprintln!("slack-sim: cannot open the trace {}: {e}", p.display());
                None
            }
        });
        Stats(Mutex::default(), Mutex::new(file))
    }

    /// Records one answered request.
    pub fn record(&self, method: &str, endpoint: &str, status: u16) {
        if let Ok(mut t) = self.1.lock() {
            if let Some((start, f)) = t.as_mut() {
                use std::io::Write as _;
                let _ = writeln!(f, "{:.3} {method} {endpoint} {status}", start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let mut s = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        s.total += 1;
        *s.by_method.entry(method.to_owned()).or_default() += 1;
        *s.by_endpoint.entry(format!("{method} {endpoint}")).or_default() += 1;
        *s.by_status.entry(status).or_default() += 1;
        if status == 429 {
            s.throttled += 1;
        }
        if method != "GET" && (200..300).contains(&status) {
            s.writes += 1;
        }
    }

    /// The counters as JSON.
    pub fn to_json(&self) -> Value {
        let s = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        json!({
            "requests_total": s.total,
            "by_method": s.by_method,
            "by_endpoint": s.by_endpoint,
            "by_status": s.by_status.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "throttled": s.throttled,
            "writes": s.writes,
        })
    }

    /// Zeroes every counter.
    pub fn reset(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = Inner::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_starts_with_its_wall_clock_start_then_a_line_per_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.txt");
        let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1e3;
        let stats = Stats::with_trace(Some(&path));
        stats.record("PATCH", "/Users/{id}", 200);
        let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1e3;
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        let start: f64 = lines.next().and_then(|l| l.strip_prefix("# start unix_ms ")).unwrap().parse().unwrap();
        assert!(before <= start && start <= after, "{before} <= {start} <= {after}");
        let answer: Vec<&str> = lines.next().unwrap().split(' ').collect();
        assert_eq!(answer[1..], ["PATCH", "/Users/{id}", "200"]);
        let ms: f64 = answer[0].parse().unwrap();
        assert!(ms >= 0.0 && start + ms <= after + 1.0, "{ms}");
    }
}
