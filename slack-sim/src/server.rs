//! HTTP framing: routing, auth, plan and version checks, rate limits, resource locks, faults, stats,
//! and the `/_sim` control endpoints.

use crate::errors::{self, Code, Envelope, SimError};
use crate::faults::{Fault, Faults};
use crate::model::Version;
use crate::ratelimit::Limiter;
use crate::scim::{self, discovery, ListQuery, Reply};
use crate::stats::Stats;
use crate::store::{Seed, Store};
use crate::SimConfig;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use futures_util::StreamExt as _;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Shared server state.
pub struct App {
    pub cfg: SimConfig,
    pub base: OnceLock<String>,
    pub store: Mutex<Store>,
    pub limiter: Mutex<Limiter>,
    pub faults: Faults,
    pub stats: Stats,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl App {
    /// Fresh state for `cfg`.
    pub fn new(cfg: SimConfig) -> Self {
        App {
            store: Mutex::new(Store::new(cfg.scaled(cfg.deactivate_delay_ms))),
            limiter: Mutex::new(Limiter::new(cfg.rate_limits, cfg.time_scale)),
            faults: Faults::new(cfg.fault_rate, cfg.seed),
            stats: Stats::with_trace(cfg.trace.as_deref()),
            base: OnceLock::new(),
            cfg,
        }
    }

    fn base(&self) -> &str {
        self.base.get().map(String::as_str).unwrap_or("http://127.0.0.1")
    }
}

/// The router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/scim/{*rest}", any(scim).layer(axum::extract::DefaultBodyLimit::max(64 << 20)))
        .route("/_sim/reset", post(reset))
        .route("/_sim/seed", post(seed).layer(axum::extract::DefaultBodyLimit::max(1 << 30)))
        .route("/_sim/users", get(sim_users))
        .route("/_sim/users/{id}/erase", post(erase_user))
        .route("/_sim/groups", get(sim_groups))
        .route("/_sim/stats", get(sim_stats))
        .fallback(fallback)
        .with_state(app)
}

/// Serialises like Slack: `/` escaped as `\/` (harmless, faithful).
fn json_bytes(v: &Value) -> Vec<u8> {
    let raw = serde_json::to_vec(v).unwrap_or_default();
    if !raw.contains(&b'/') {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + 16);
    for b in raw {
        if b == b'/' {
            out.extend_from_slice(b"\\/");
        } else {
            out.push(b);
        }
    }
    out
}

fn respond(status: u16, body: Option<Value>, retry_after: Option<u64>) -> Response {
    let mut builder =
        Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if let Some(s) = retry_after {
        builder = builder.header(header::RETRY_AFTER, s.to_string());
    }
    let resp = match body {
        Some(v) => builder
            .header(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))
            .body(Body::from(json_bytes(&v))),
        None => builder.body(Body::empty()),
    };
    resp.unwrap_or_else(|_| Response::new(Body::empty()))
}

fn error_response(e: &SimError, envelope: Envelope, retry_after: Option<u64>) -> Response {
    respond(e.code.status(), Some(errors::body(e, envelope)), retry_after)
}

fn envelope_of(v: Version) -> Envelope {
    match v {
        Version::V1 => Envelope::V1,
        Version::V2 => Envelope::V2,
    }
}

/// Label of the endpoint for stats and per-endpoint buckets.
fn endpoint_label(method: &Method, resource: &str, has_id: bool) -> (String, Option<&'static str>) {
    let res = match resource {
        "Users" | "Groups" => resource,
        other => return (format!("/{other}"), None),
    };
    let label = if has_id { format!("/{res}/{{id}}") } else { format!("/{res}") };
    let bucket = match (method.as_str(), res, has_id) {
        ("GET", "Users", true) => Some("GET /Users/<id>"),
        ("POST", "Users", false) => Some("POST /Users"),
        ("PUT" | "PATCH", "Users", true) => Some("PUT/PATCH /Users/<id>"),
        ("DELETE", "Users", true) => Some("DELETE /Users/<id>"),
        ("GET", "Groups", true) => Some("GET /Groups/<id>"),
        ("POST", "Groups", false) => Some("POST /Groups"),
        ("PUT" | "PATCH", "Groups", true) => Some("PUT/PATCH /Groups/<id>"),
        ("DELETE", "Groups", true) => Some("DELETE /Groups/<id>"),
        _ => None,
    };
    (label, bucket)
}

async fn scim(State(app): State<Arc<App>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let rest = uri.path().strip_prefix("/scim/").unwrap_or("");
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let resource = segs.get(1).copied().unwrap_or("");
    let (label, bucket) = endpoint_label(&method, resource, segs.len() > 2);
    let fault = app.faults.next();
    let resp = match fault {
        Fault::ServerError => error_response(&Code::InternalError.into(), Envelope::V1, None),
        Fault::Unavailable => error_response(&Code::ServiceUnavailable.into(), Envelope::V1, None),
        _ => dispatch(&app, &method, &segs, uri.query(), &headers, &body, bucket).await,
    };
    app.stats.record(method.as_str(), &label, resp.status().as_u16());
    match fault {
        Fault::Slow => {
            tokio::time::sleep(Duration::from_millis(app.cfg.slow_ms)).await;
            resp
        }
        Fault::Drop | Fault::Truncate => {
            let (mut parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let full = bytes.len().max(2);
            let keep = if fault == Fault::Drop { 0 } else { bytes.len() / 2 };
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(full));
            let partial = bytes.slice(..keep);
            // Flush the status line, headers and any partial body, then break the connection.
            let stream = futures_util::stream::iter((keep > 0).then(|| Ok::<Bytes, std::io::Error>(partial))).chain(
                futures_util::stream::once(async move {
                    if keep > 0 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "slack-sim fault: connection dropped",
                    ))
                }),
            );
            Response::from_parts(parts, Body::from_stream(stream))
        }
        _ => resp,
    }
}

async fn dispatch(
    app: &App,
    method: &Method,
    segs: &[&str],
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
    bucket: Option<&'static str>,
) -> Response {
    // Slack's limiter sees a request when it arrives, not when the org's data is free to serve it.
    let arrived = Instant::now();
    let version = match segs.first() {
        Some(&"v1") => Version::V1,
        Some(&"v2") => Version::V2,
        _ => return error_response(&Code::UnsupportedVersion.into(), Envelope::V1, None),
    };
    let env = envelope_of(version);
    let resource = segs.get(1).copied().unwrap_or("");
    let id = segs.get(2).copied();
    if segs.len() > 3 {
        return error_response(&Code::BadEndpoint.into(), env, None);
    }
    if !matches!(*method, Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return error_response(&Code::MethodNotAllowed.into(), env, None);
    }
    if matches!(resource, "ServiceProviderConfigs" | "ServiceProviderConfig") {
        return if *method == Method::GET {
            respond(200, Some(discovery::service_provider_config(version)), None)
        } else {
            error_response(&Code::MethodNotAllowed.into(), env, None)
        };
    }
    // Auth, then plan and version.
    let auth_env = if version == Version::V2 && app.cfg.v2_observed_auth_errors { Envelope::V1 } else { env };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim);
    let auth_error = match token {
        None => Some(Code::MissingAuthentication),
        Some(t) if t == app.cfg.token => None,
        Some(t) if app.cfg.workspace_token.as_deref() == Some(t) => {
            return error_response(&Code::NonOrgTeamsOnly.into(), env, None);
        }
        Some(_) => Some(Code::InvalidAuthentication),
    };
    if let Some(code) = auth_error {
        let code =
            if version == Version::V2 && app.cfg.v2_observed_auth_errors { Code::UnsupportedVersion } else { code };
        return error_response(&code.into(), auth_env, None);
    }
    // Off the async workers: another request's work can hold the store, and the requests behind this
    // one must still arrive at the limiter when they are sent.
    let (free, v2_enabled) = tokio::task::block_in_place(|| {
        let store = lock(&app.store);
        (store.settings.plan == "free", store.settings.v2_enabled)
    });
    if free {
        return error_response(&Code::PlusTeamsOnly.into(), env, None);
    }
    if version == Version::V2 && !v2_enabled {
        return error_response(&Code::UnsupportedVersion.into(), Envelope::V1, None);
    }
    // Routes that exist at all.
    let known = match (resource, version) {
        ("Users" | "Groups", _) => true,
        ("Schemas", _) => *method == Method::GET,
        ("ResourceTypes", Version::V2) => *method == Method::GET && id.is_none(),
        _ => false,
    };
    if !known {
        let code = if matches!(resource, "Schemas" | "ResourceTypes") && version == Version::V2 {
            Code::MethodNotAllowed
        } else {
            Code::BadEndpoint
        };
        return error_response(&code.into(), env, None);
    }
    let write = *method != Method::GET;
    if let Err(retry) = lock(&app.limiter).admit(write, bucket, arrived) {
        return error_response(&Code::TooManyRequests.into(), Envelope::V1, Some(retry));
    }
    // Resource locks and the org's data see the time the request is served.
    let now = Instant::now();
    let hold = app.cfg.scaled(app.cfg.lock_hold_ms);
    if let (true, Some(id)) = (write, id) {
        let key = format!("{resource}/{id}");
        if let Err(retry) = lock(&app.limiter).lock(&key, hold, now) {
            let code = if resource == "Groups" { Code::ResourceLocked } else { Code::TooManyRequests };
            return error_response(&code.into(), Envelope::V1, Some(retry));
        }
    }
    let parsed: Option<Value> = if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        match serde_json::from_slice(body) {
            Ok(v) => Some(v),
            Err(_) => return error_response(&Code::InvalidRequestPayload.into(), env, None),
        }
    } else {
        None
    };
    let base = app.base().to_owned();
    // The store's work (a page of 1,000 users takes milliseconds to render) runs off the async workers,
    // so other requests keep being admitted when they arrive, as Slack's limiter sees them, instead of
    // queueing behind a render and reaching the limiter all at once.
    let reply: Reply = tokio::task::block_in_place(|| {
        if let ("Users", "GET", None) = (resource, method.as_str(), id) {
            // A page of users is copied with the store held and rendered once it is released: Slack does
            // not hold writes back while it answers a list read.
            let page = ListQuery::parse(query).and_then(|q| scim::users::page(&lock(&app.store), &q, Instant::now()));
            return page.map(|p| (200, Some(p.render(version, &base))));
        }
        let mut store = lock(&app.store);
        let now = Instant::now();
        let body = parsed.as_ref().unwrap_or(&Value::Null);
        match (resource, method.as_str(), id) {
            ("Schemas", _, None) if version == Version::V2 => Ok((200, Some(discovery::all_schemas()))),
            ("Schemas", _, None) => Err(Code::BadEndpoint.into()),
            ("Schemas", _, Some("Users" | "User")) => Ok((200, Some(discovery::user_schema(version)))),
            ("Schemas", _, Some("Groups" | "Group")) => Ok((200, Some(discovery::group_schema(version)))),
            ("Schemas", _, Some(_)) => Err(Code::BadEndpoint.into()),
            ("ResourceTypes", _, _) => Ok((200, Some(discovery::resource_types(&base)))),
            ("Users", "GET", Some(id)) => scim::users::get(&store, version, &base, id, now),
            ("Users", "POST", None) => scim::users::create(&mut store, version, &base, body, now),
            ("Users", "PUT", Some(id)) => scim::users::put(&mut store, version, &base, id, body, now),
            ("Users", "PATCH", Some(id)) => scim::users::patch(&mut store, version, &base, id, body, now),
            ("Users", "DELETE", Some(id)) => scim::users::delete(&mut store, version, id, now),
            ("Users", "PUT" | "PATCH" | "DELETE", None) => Err(Code::MissingUserId.into()),
            ("Groups", "GET", None) => {
                ListQuery::parse(query).and_then(|q| scim::groups::list(&store, version, &base, &q))
            }
            ("Groups", "GET", Some(id)) => scim::groups::get(&store, version, &base, id),
            ("Groups", "POST", None) => scim::groups::create(&mut store, version, &base, body, now),
            ("Groups", "PUT", Some(id)) => scim::groups::put(&mut store, version, &base, id, body, now),
            ("Groups", "PATCH", Some(id)) => scim::groups::patch(&mut store, version, &base, id, body, now),
            ("Groups", "DELETE", Some(id)) => scim::groups::delete(&mut store, id),
            ("Groups", "PUT" | "PATCH" | "DELETE", None) => Err(Code::MissingGroupId.into()),
            _ => Err(Code::MethodNotAllowed.into()),
        }
    });
    if write && id.is_some() && !hold.is_zero() {
        // The update "runs" while the resource stays locked.
        tokio::time::sleep(hold).await;
    }
    match reply {
        Ok((status, body)) => respond(status, body, None),
        Err(e) => error_response(&e, env, None),
    }
}

async fn fallback() -> Response {
    error_response(&Code::BadEndpoint.into(), Envelope::V1, None)
}

fn loopback_only(addr: &SocketAddr) -> Option<Response> {
    if addr.ip().is_loopback() {
        None
    } else {
        Some(respond(403, Some(json!({"error": "control endpoints answer loopback clients only"})), None))
    }
}

async fn reset(State(app): State<Arc<App>>, ConnectInfo(addr): ConnectInfo<SocketAddr>) -> Response {
    if let Some(r) = loopback_only(&addr) {
        return r;
    }
    *lock(&app.store) = Store::new(app.cfg.scaled(app.cfg.deactivate_delay_ms));
    *lock(&app.limiter) = Limiter::new(app.cfg.rate_limits, app.cfg.time_scale);
    app.stats.reset();
    respond(200, Some(json!({"ok": true})), None)
}

async fn seed(State(app): State<Arc<App>>, ConnectInfo(addr): ConnectInfo<SocketAddr>, body: Bytes) -> Response {
    if let Some(r) = loopback_only(&addr) {
        return r;
    }
    let seed: Seed = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return respond(400, Some(json!({"error": format!("bad seed: {e}")})), None),
    };
    let result = lock(&app.store).seed(seed, Instant::now());
    match result {
        Ok(v) => respond(200, Some(v), None),
        Err(e) => error_response(&e, Envelope::V1, None),
    }
}

async fn sim_users(State(app): State<Arc<App>>, ConnectInfo(addr): ConnectInfo<SocketAddr>) -> Response {
    if let Some(r) = loopback_only(&addr) {
        return r;
    }
    let now = Instant::now();
    let base = app.base().to_owned();
    let store = lock(&app.store);
    let users: Vec<Value> = store
        .users
        .iter()
        .map(|u| {
            let mut v = store.render(u, Version::V2, &base, now);
            v["kind"] = json!(format!("{:?}", u.kind).to_lowercase());
            v
        })
        .collect();
    respond(200, Some(json!({"users": users})), None)
}

/// An org admin deletes the account for good: SCIM answers `no_such_user` for its id from now on.
async fn erase_user(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Some(r) = loopback_only(&addr) {
        return r;
    }
    if lock(&app.store).erase_user(&id) {
        respond(200, Some(json!({"ok": true})), None)
    } else {
        respond(404, Some(json!({"error": "no such user"})), None)
    }
}

async fn sim_groups(State(app): State<Arc<App>>, ConnectInfo(addr): ConnectInfo<SocketAddr>) -> Response {
    if let Some(r) = loopback_only(&addr) {
        return r;
    }
    let store = lock(&app.store);
    let groups: Vec<Value> = store
        .groups
        .values()
        .map(|g| json!({"id": g.id, "displayName": g.display_name, "members": g.members.iter().collect::<Vec<_>>()}))
        .collect();
    respond(200, Some(json!({"groups": groups})), None)
}

async fn sim_stats(State(app): State<Arc<App>>, ConnectInfo(addr): ConnectInfo<SocketAddr>) -> Response {
    if let Some(r) = loopback_only(&addr) {
        return r;
    }
    respond(200, Some(app.stats.to_json()), None)
}
