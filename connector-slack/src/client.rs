//! Slack SCIM over HTTPS: pacing, a concurrency limit, retries with `Retry-After` and jittered
//! backoff, and error parsing. The token is sent only in the `Authorization` header and never logged.

use crate::pacing::{Endpoint, Pacer, Ticket};
use crate::settings::Settings;
use crate::slack_errors::{self, SlackError};
use connector_abi::payload::{ErrorInfo, ErrorKind};
use connector_abi::Logger;
use rand::Rng;
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

tokio::task_local! {
    /// The deadline of the batch a task works for (the request's `deadline_ms`). Checked right before
    /// every request leaves, after pacing: a task that wakes after its deadline (the host process was
    /// paused, say, and its lease has lapsed) sends nothing.
    pub(crate) static DEADLINE: Option<tokio::time::Instant>;
}

/// Whether the current task's batch deadline has passed.
fn past_deadline() -> bool {
    DEADLINE.try_with(|d| d.is_some_and(|d| tokio::time::Instant::now() >= d)).unwrap_or(false)
}

/// Why a request did not produce a usable answer.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Slack answered with an error.
    Slack(SlackError),
    /// No usable answer: connection refused or dropped, timeout, truncated or undecodable body. The
    /// request may or may not have been applied.
    Transport {
        /// What happened (no secrets, no URL, no values).
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
    },
    /// A 3xx answer: never followed (the request would be re-sent elsewhere with users' data).
    Redirect {
        /// The status.
        status: u16,
    },
    /// The answer was larger than `maxResponseBytes` (not read whole).
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

impl Failure {
    /// The ABI error.
    pub fn to_error_info(&self) -> ErrorInfo {
        match self {
            Failure::Slack(e) => e.to_error_info(),
            Failure::Transport { message, timeout: true } => {
                ErrorInfo::new(ErrorKind::Timeout, format!("Slack did not answer in time: {message}")).retryable()
            }
            Failure::Transport { message, .. } => {
                ErrorInfo::new(ErrorKind::ConnectionFailed, format!("no usable answer from Slack: {message}"))
                    .retryable()
            }
            Failure::Redirect { status } => ErrorInfo::new(
                ErrorKind::Configuration,
                format!("Slack's address answered {status}, a redirect; redirects are never followed, so nothing was re-sent anywhere: check baseUrl (it must be Slack's SCIM base URL itself)"),
            ),
            Failure::TooLarge { limit } => ErrorInfo::new(
                ErrorKind::Other,
                format!("Slack's answer was larger than maxResponseBytes ({limit} bytes) and was not read: check baseUrl, or raise the limit if a list page legitimately needs it"),
            )
            .retryable(),
        }
    }

    /// The Slack error code, if Slack answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Failure::Slack(e) => Some(e.code.as_str()),
            Failure::Transport { .. } | Failure::Redirect { .. } | Failure::TooLarge { .. } => None,
        }
    }

    /// Whether the request might have been applied although we got no success answer.
    pub fn maybe_applied(&self) -> bool {
        match self {
            Failure::Transport { .. } | Failure::TooLarge { .. } => true,
            Failure::Redirect { .. } => false,
            Failure::Slack(e) => e.status >= 500,
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Parsed body (`Null` when empty).
    pub body: Value,
}

/// The Slack SCIM client of one connector instance.
pub struct Client {
    http: reqwest::Client,
    api_base: String,
    token: String,
    pacer: Pacer,
    /// Requests in flight per endpoint (`maxConcurrency` each): a request takes its slot before it is
    /// paced, so a paced request leaves at once (paced requests never queue for a slot and then arrive
    /// at Slack together), and one endpoint's waits never hold another endpoint's slots.
    permits: Vec<(Endpoint, tokio::sync::Semaphore)>,
    time_scale: f64,
    max_retries: u32,
    max_retry_wait: Duration,
    max_response_bytes: usize,
    /// Answer bytes held at once across this client's concurrent requests, in [`BODY_UNIT`]s: bounded
    /// by `maxResponseBytes` in total, not per request, so concurrency cannot multiply it.
    body_budget: tokio::sync::Semaphore,
    log: Logger,
}

/// Reads a list of chunks as one stream.
struct ChunkReader<'a> {
    chunks: &'a [bytes::Bytes],
    index: usize,
    offset: usize,
}

impl std::io::Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(c) = self.chunks.get(self.index) {
            if self.offset < c.len() {
                let n = buf.len().min(c.len() - self.offset);
                buf[..n].copy_from_slice(&c[self.offset..self.offset + n]);
                self.offset += n;
                return Ok(n);
            }
            self.index += 1;
            self.offset = 0;
        }
        Ok(0)
    }
}

/// The granularity of the answer-bytes budget.
const BODY_UNIT: usize = 64 * 1024;

fn transport(e: reqwest::Error) -> Failure {
    // reqwest's messages name the URL, whose query may carry a user's email (a filter): drop it. The
    // token lives in a header only and is never part of a message.
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Failure::Transport { message, timeout }
}

impl Client {
    /// A client for `settings` (no network is touched).
    pub fn new(settings: &Settings, log: Logger) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(!settings.base_url.starts_with("http://"))
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(settings.max_concurrency)
            // Never follow a redirect: it would re-send users' names and emails to another address.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("provisioner-connector-slack/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            api_base: settings.api_base(),
            token: settings.token.clone(),
            pacer: Pacer::new(settings.rate_limit_share, settings.rate_limit_time_scale),
            permits: Endpoint::EVERY
                .iter()
                .map(|e| (*e, tokio::sync::Semaphore::new(settings.max_concurrency)))
                .collect(),
            time_scale: settings.rate_limit_time_scale,
            max_retries: settings.max_retries,
            max_retry_wait: settings.max_retry_wait,
            max_response_bytes: settings.max_response_bytes,
            // At least one unit per concurrent request, so small limits do not make answers collide.
            body_budget: tokio::sync::Semaphore::new(
                settings.max_response_bytes.div_ceil(BODY_UNIT).max(settings.max_concurrency),
            ),
            log,
        })
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        endpoint: Endpoint,
        ticket: &mut Ticket,
    ) -> Result<Answer, Failure> {
        let slots = self.permits.iter().find(|(e, _)| *e == endpoint).map(|(_, s)| s);
        let _permit = match slots {
            Some(s) => Some(
                s.acquire()
                    .await
                    .map_err(|_| Failure::Transport { message: "client closed".into(), timeout: false })?,
            ),
            None => None,
        };
        *ticket = self.pacer.acquire(endpoint).await;
        if past_deadline() {
            return Err(Failure::Transport {
                message: "the call's deadline passed before the request was sent; nothing was sent".into(),
                timeout: true,
            });
        }
        let mut rb = self
            .http
            .request(method.clone(), format!("{}{}", self.api_base, path))
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            rb = rb.header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8").body(b.to_string());
        }
        let mut resp = rb.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            return Err(Failure::Redirect { status });
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::retry_after::parse(v, std::time::SystemTime::now()))
            .map(|d| d.as_secs_f64());
        // Bounded memory: the announced length first, then the bytes as they arrive.
        let limit = self.max_response_bytes;
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(Failure::TooLarge { limit });
        }
        // The chunks are kept as they arrive (no growing buffer to copy) and parsed through a reader.
        let mut chunks: Vec<bytes::Bytes> = Vec::new();
        let mut total = 0usize;
        let mut held = Vec::new();
        let mut held_units = 0usize;
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            total += chunk.len();
            if total > limit {
                return Err(Failure::TooLarge { limit });
            }
            // Reserve the bytes in the client-wide budget; when concurrent answers already hold it all,
            // this one is refused rather than letting memory grow with the concurrency.
            let units = total.div_ceil(BODY_UNIT);
            if units > held_units {
                let more = u32::try_from(units - held_units).unwrap_or(u32::MAX);
                held.push(self.body_budget.try_acquire_many(more).map_err(|_| Failure::TooLarge { limit })?);
                held_units = units;
            }
            chunks.push(chunk);
        }
        let reader = || ChunkReader { chunks: &chunks, index: 0, offset: 0 };
        if (200..300).contains(&status) {
            let parsed = match chunks.as_slice() {
                [] => Ok(Value::Null),
                [one] => serde_json::from_slice(one),
                _ => serde_json::from_reader(std::io::BufReader::with_capacity(64 * 1024, reader())),
            };
            let body = parsed.map_err(|e| Failure::Transport {
                message: format!("undecodable answer ({total} bytes): {e}"),
                timeout: false,
            })?;
            return Ok(Answer { body });
        }
        // Error bodies are small (Slack's envelopes); a large one is cut for parsing.
        let mut head = Vec::with_capacity(total.min(64 * 1024));
        std::io::Read::read_to_end(&mut std::io::Read::take(reader(), 64 * 1024), &mut head)
            .map_err(|e| Failure::Transport { message: e.to_string(), timeout: false })?;
        Err(Failure::Slack(slack_errors::parse(status, &head, retry_after)))
    }

    /// Sends a request, retrying throttling (after `Retry-After`), 5xx and transport failures with
    /// jittered exponential backoff. With `repeatable: false` (a create), a failure that may have been
    /// applied is returned at once so the caller can look the object up before trying again.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        endpoint: Endpoint,
        repeatable: bool,
    ) -> Result<Answer, Failure> {
        let mut attempt = 0u32;
        loop {
            let mut ticket = Ticket::default();
            let result = self.once(&method, path, body, endpoint, &mut ticket).await;
            let failure = match result {
                Ok(a) => return Ok(a),
                Err(f) => f,
            };
            let retry = match &failure {
                Failure::Slack(e)
                    if e.status == 429 || matches!(e.code.as_str(), "too_many_requests" | "resource_locked") =>
                {
                    true
                }
                f if f.maybe_applied() => repeatable,
                _ => false,
            };
            if !retry || attempt >= self.max_retries {
                return Err(failure);
            }
            let delay = match &failure {
                Failure::Slack(e) if e.status == 429 => {
                    // A group's lock (`resource_locked`) says nothing of the budgets. A user's lock is
                    // answered like the rate limit (`too_many_requests`) and slows the pace too; the
                    // connector never writes one user twice at once, so only another app's write meets it.
                    if e.code != "resource_locked" && self.pacer.throttled(endpoint, &ticket) {
                        self.log.info(&format!(
                            "Slack's rate limit answered 429 ({endpoint:?}): another app may share the org's budget; this endpoint now paces at {:.0} % and the org's {} at {:.0} % of their budgets (Slack's rates times rateLimitShare), a tenth faster again after each five minutes of Slack's time without a 429",
                            self.pacer.pace(endpoint) * 100.0,
                            if endpoint.is_write() { "writes" } else { "reads" },
                            self.pacer.org_pace(endpoint) * 100.0
                        ));
                    }
                    // Retry-After is in Slack seconds; default 20 s when absent (as slacktivate does);
                    // never longer than maxRetryWaitSeconds, whatever the header says.
                    let asked = e.retry_after_secs.and_then(|s| Duration::try_from_secs_f64(s).ok());
                    let jitter = rand::rng().random_range(1.0..1.1);
                    crate::retry_after::wait(
                        asked,
                        Duration::from_secs(20),
                        self.time_scale,
                        jitter,
                        self.max_retry_wait,
                    )
                }
                _ => {
                    let base = 0.1 * 2f64.powi(attempt.min(30) as i32);
                    Duration::from_secs_f64(base.min(5.0) * rand::rng().random_range(0.5..1.0)).min(self.max_retry_wait)
                }
            };
            // The path only: its query may carry a filter with a user's email.
            let path = path.split('?').next().unwrap_or(path);
            self.log.debug(&format!(
                "{method} {path}: retry {} in {:?} after {:?}",
                attempt + 1,
                delay,
                failure.code().unwrap_or("transport failure")
            ));
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}
