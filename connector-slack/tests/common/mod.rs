//! Helpers: the built connector library through the loader, against an in-process slack-sim.
#![allow(dead_code)]

use connector_abi::payload::*;
use connector_abi::{ConnectorLibrary, Instance};
use serde_json::{json, Value};
use slack_sim::{SimConfig, SimServer};
use std::sync::Arc;

pub(crate) const TOKEN: &str = "xoxp-connector-test-secret-0123456789";

pub(crate) fn library() -> Arc<ConnectorLibrary> {
    ConnectorLibrary::load(test_support::cdylib("connector_slack")).unwrap()
}

pub(crate) struct Env {
    pub sim: SimServer,
    /// The connector's `rateLimitTimeScale`: the simulator's, or very fast when its limits are off.
    pub scale: f64,
    pub http: reqwest::blocking::Client,
    pub version: &'static str,
}

impl Env {
    pub(crate) fn new(version: &'static str, cfg: SimConfig) -> Env {
        let scale = if cfg.rate_limits { cfg.time_scale } else { 10_000.0 };
        let sim = SimServer::start(SimConfig { token: TOKEN.into(), ..cfg }).unwrap();
        Env { sim, scale, http: reqwest::blocking::Client::new(), version }
    }

    pub(crate) fn off(version: &'static str) -> Env {
        Env::new(version, SimConfig { rate_limits: false, ..SimConfig::default() })
    }

    pub(crate) fn settings(&self, extra: Value) -> TargetSettings {
        let mut s = json!({"accessToken": TOKEN, "baseUrl": format!("{}/scim", self.sim.base_url()), "apiVersion": self.version, "rateLimitTimeScale": self.scale});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        TargetSettings { v: 1, settings: s.as_object().unwrap().clone() }
    }

    pub(crate) fn open(&self, extra: Value) -> Instance {
        library().open(&self.settings(extra)).unwrap()
    }

    pub(crate) fn users(&self) -> Vec<Value> {
        let v: Value = self.http.get(format!("{}/_sim/users", self.sim.base_url())).send().unwrap().json().unwrap();
        v["users"].as_array().unwrap().clone()
    }

    pub(crate) fn user(&self, user_name: &str) -> Option<Value> {
        self.users().into_iter().find(|u| u["userName"] == user_name)
    }

    pub(crate) fn groups(&self) -> Vec<Value> {
        let v: Value = self.http.get(format!("{}/_sim/groups", self.sim.base_url())).send().unwrap().json().unwrap();
        v["groups"].as_array().unwrap().clone()
    }

    pub(crate) fn stats(&self) -> Value {
        self.http.get(format!("{}/_sim/stats", self.sim.base_url())).send().unwrap().json().unwrap()
    }

    pub(crate) fn seed(&self, seed: Value) -> Value {
        let r = self.http.post(format!("{}/_sim/seed", self.sim.base_url())).body(seed.to_string()).send().unwrap();
        assert!(r.status().is_success());
        r.json().unwrap()
    }

    /// Deactivates a user directly in Slack (as an admin would).
    pub(crate) fn deactivate(&self, id: &str) {
        let r =
            self.http.delete(format!("{}/scim/v2/Users/{id}", self.sim.base_url())).bearer_auth(TOKEN).send().unwrap();
        assert!(r.status().is_success());
    }
}

pub(crate) fn user(source_id: &str, attrs: Value) -> Record {
    Record {
        object_class: ObjectClass::User,
        source_id: source_id.into(),
        target_id: None,
        event: Event::Upsert,
        attributes: attrs.as_object().unwrap().clone(),
        changed: None,
        members: vec![],
        previous_members: None,
    }
}

pub(crate) fn basic(name: &str) -> Record {
    user(
        name,
        json!({"userName": name, "primaryEmail": format!("{name}@example.com"), "givenName": "Given", "familyName": "Family"}),
    )
}

pub(crate) fn group(source_id: &str, name: &str, members: Vec<MemberRef>) -> Record {
    Record {
        object_class: ObjectClass::Group,
        source_id: source_id.into(),
        target_id: None,
        event: Event::Upsert,
        attributes: json!({"displayName": name}).as_object().unwrap().clone(),
        changed: None,
        members,
        previous_members: None,
    }
}

pub(crate) fn member(source_id: &str, target_id: Option<&str>) -> MemberRef {
    MemberRef { source_id: source_id.into(), target_id: target_id.map(str::to_owned) }
}

pub(crate) fn run(inst: &Instance, records: Vec<Record>) -> Vec<RecordResult> {
    inst.provision(&ProvisionRequest { v: 1, records, deadline_ms: None }).unwrap().results
}

pub(crate) fn run1(inst: &Instance, r: Record) -> RecordResult {
    run(inst, vec![r]).remove(0)
}

pub(crate) const VERSIONS: [&str; 2] = ["v1", "v2"];
