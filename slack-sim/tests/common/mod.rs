//! A blocking client for the simulator tests.
#![allow(dead_code)]

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use slack_sim::{SimConfig, SimServer};

pub(crate) const TOKEN: &str = "xoxp-test-token";

pub(crate) struct Sim {
    pub server: SimServer,
    pub http: Client,
    pub base: String,
}

pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
    pub raw: String,
}

impl Answer {
    /// The error description (either envelope).
    pub(crate) fn error(&self) -> String {
        self.body["Errors"]["description"].as_str().or(self.body["detail"].as_str()).unwrap_or("").to_owned()
    }
}

impl Sim {
    pub(crate) fn start(cfg: SimConfig) -> Sim {
        let server = SimServer::start(SimConfig { token: TOKEN.into(), ..cfg }).unwrap();
        let base = server.base_url();
        Sim { server, http: Client::new(), base }
    }

    pub(crate) fn default_off() -> Sim {
        Sim::start(SimConfig { rate_limits: false, ..SimConfig::default() })
    }

    fn answer(r: Response) -> Answer {
        let status = r.status().as_u16();
        let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let raw = r.text().unwrap_or_default();
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Answer { status, body, retry_after, raw }
    }

    pub(crate) fn req(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.req_token(method, path, body, Some(TOKEN))
    }

    pub(crate) fn req_token(&self, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, format!("{}{}", self.base, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b.to_string());
        }
        Sim::answer(rb.send().unwrap())
    }

    pub(crate) fn raw(&self, method: &str, path: &str, body: &str) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        Sim::answer(
            self.http
                .request(m, format!("{}{}", self.base, path))
                .bearer_auth(TOKEN)
                .body(body.to_owned())
                .send()
                .unwrap(),
        )
    }

    pub(crate) fn seed(&self, seed: Value) -> Value {
        let r = self.http.post(format!("{}/_sim/seed", self.base)).body(seed.to_string()).send().unwrap();
        assert!(r.status().is_success(), "seed failed");
        r.json().unwrap()
    }

    pub(crate) fn stats(&self) -> Value {
        self.http.get(format!("{}/_sim/stats", self.base)).send().unwrap().json().unwrap()
    }

    /// Creates a user on `v` ("v1"/"v2") and returns its id.
    pub(crate) fn create(&self, v: &str, user_name: &str, email: &str) -> String {
        let a = self.req("POST", &format!("/scim/{v}/Users"), Some(user_body(v, user_name, email)));
        assert_eq!(a.status, 201, "{}", a.raw);
        a.body["id"].as_str().unwrap().to_owned()
    }
}

pub(crate) fn core(v: &str) -> &'static str {
    if v == "v1" {
        "urn:scim:schemas:core:1.0"
    } else {
        "urn:ietf:params:scim:schemas:core:2.0:User"
    }
}

pub(crate) fn user_body(v: &str, user_name: &str, email: &str) -> Value {
    json!({"schemas": [core(v)], "userName": user_name, "emails": [{"value": email, "primary": true}]})
}

pub(crate) fn patch_op(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}
