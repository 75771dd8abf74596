//! Groups, lists and filters, auth and discovery, rate limits and locks, faults, control endpoints, the
//! binary, and the README's error table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use slack_sim::errors::Code;
use slack_sim::SimConfig;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn group_schema(v: &str) -> &'static str {
    if v == "v1" {
        "urn:scim:schemas:core:1.0"
    } else {
        "urn:ietf:params:scim:schemas:core:2.0:Group"
    }
}

fn members(g: &Value) -> BTreeSet<String> {
    g["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn groups_lifecycle_both_versions() {
    let sim = Sim::default_off();
    let u: Vec<String> = (0..4).map(|i| sim.create("v2", &format!("gm{i}"), &format!("gm{i}@example.com"))).collect();
    for v in ["v1", "v2"] {
        let a = sim.req("POST", &format!("/scim/{v}/Groups"), Some(json!({"schemas": [group_schema(v)], "displayName": format!("Eng {v}"), "members": [{"value": u[0]}, {"value": u[1]}]})));
        assert_eq!(a.status, 201, "{}", a.raw);
        let gid = a.body["id"].as_str().unwrap().to_owned();
        assert!(gid.starts_with('S'));
        assert_eq!(a.body["members"][0]["display"], "gm0", "members inline with display");
        let user = sim.req("GET", &format!("/scim/{v}/Users/{}", u[0]), None).body;
        assert!(
            user["groups"].as_array().unwrap().iter().any(|g| g["value"] == gid.as_str()),
            "user.groups reflects membership"
        );
        let path = format!("/scim/{v}/Groups/{gid}");
        if v == "v1" {
            let a = sim.req("PATCH", &path, Some(json!({"schemas": [group_schema(v)], "members": [{"value": u[2]}, {"value": u[0], "operation": "delete"}]})));
            assert_eq!((a.status, a.raw.as_str()), (204, ""), "v1 group PATCH answers 204");
            assert_eq!(members(&sim.req("GET", &path, None).body), [u[1].clone(), u[2].clone()].into());
            let a = sim.req("PATCH", &path, Some(json!({"schemas": [group_schema(v)], "displayName": "Renamed v1"})));
            assert_eq!(a.status, 204);
        } else {
            let p = |ops| sim.req("PATCH", &path, Some(patch_op(ops)));
            let a = p(json!([{"op": "add", "path": "members", "value": [{"value": u[2]}, {"value": u[3]}]}]));
            assert_eq!((a.status, members(&a.body).len()), (200, 4));
            let a = p(json!([{"op": "remove", "path": format!("members[value eq {}]", u[3])}]));
            assert_eq!(members(&a.body).len(), 3, "unquoted value filter");
            let a = p(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", u[2])}]));
            assert_eq!(members(&a.body).len(), 2, "quoted value filter");
            let a = p(json!([{"op": "remove", "path": "members", "value": [{"value": u[1]}]}]));
            assert_eq!(members(&a.body), [u[0].clone()].into(), "remove with a value list");
            let a = p(json!([{"op": "replace", "path": "members", "value": [{"value": u[2]}, {"value": u[3]}]}]));
            assert_eq!(members(&a.body), [u[2].clone(), u[3].clone()].into());
            let a = p(json!([{"op": "remove", "path": "members"}]));
            assert!(members(&a.body).is_empty(), "remove all");
            let a = p(json!([{"op": "replace", "path": "displayName", "value": "Renamed v2"}]));
            assert_eq!(a.body["displayName"], "Renamed v2");
        }
        let a = sim.req("PUT", &path, Some(json!({"schemas": [group_schema(v)], "displayName": "Put"})));
        assert_eq!((a.status, a.body["members"].clone()), (200, json!([])), "PUT without members empties the group");
        let a = sim.req("DELETE", &path, None);
        assert_eq!(a.status, 204);
        assert_eq!(sim.req("GET", &path, None).error(), "no_such_group");
        assert_eq!(sim.req("GET", &path, None).status, 404);
    }
}

#[test]
fn group_errors() {
    let sim = Sim::default_off();
    let u1 = sim.create("v2", "ge1", "ge1@example.com");
    let u2 = sim.create("v2", "ge2", "ge2@example.com");
    sim.req("DELETE", &format!("/scim/v2/Users/{u2}"), None);
    let post = |body: Value| sim.req("POST", "/scim/v2/Groups", Some(body));
    let s = group_schema("v2");
    assert_eq!(post(json!({"schemas": [s], "members": []})).error(), "group_creation_failed");
    assert_eq!(
        post(json!({"schemas": [s], "displayName": "x", "members": [{"value": "UNOBODY0000"}]})).error(),
        "no_such_group_members"
    );
    assert_eq!(
        post(json!({"schemas": [s], "displayName": "x", "members": [{"value": u2}]})).error(),
        "unable_to_add_deleted_or_guest_to_group"
    );
    let many: Vec<Value> = (0..15_001).map(|i| json!({"value": format!("U{i:010}")})).collect();
    assert_eq!(post(json!({"schemas": [s], "displayName": "x", "members": many})).error(), "too_many_users");
    sim.seed(json!({"settings": {"max_group_members": 1}}));
    let u3 = sim.create("v2", "ge3", "ge3@example.com");
    assert_eq!(
        post(json!({"schemas": [s], "displayName": "x", "members": [{"value": u1}, {"value": u3}]})).error(),
        "group_member_max_exceeded"
    );
    let ids = sim.seed(json!({"groups": [{"display_name": "linked", "members": [], "linked_to_channels": true}]}));
    let gid = ids["groups"]["linked"].as_str().unwrap();
    assert_eq!(sim.req("DELETE", &format!("/scim/v2/Groups/{gid}"), None).error(), "idp_group_linked_to_channels");
    assert_eq!(sim.req("DELETE", "/scim/v2/Groups", None).error(), "missing_group_id");
    assert_eq!(sim.req("DELETE", "/scim/v1/Users", None).error(), "missing_user_id");
    // Deactivated users leave their groups.
    let ids = sim.seed(json!({"groups": [{"display_name": "team", "members": ["ge1"]}]}));
    let team = ids["groups"]["team"].as_str().unwrap();
    sim.req("DELETE", &format!("/scim/v2/Users/{u1}"), None);
    assert!(members(&sim.req("GET", &format!("/scim/v2/Groups/{team}"), None).body).is_empty());
}

#[test]
fn lists_pagination_and_filters() {
    let sim = Sim::default_off();
    for i in 0..25 {
        sim.create("v1", &format!("user{i:02}"), &format!("user{i:02}@corp.example"));
    }
    let l = |q: &str| sim.req("GET", &format!("/scim/v2/Users?{q}"), None);
    let a = l("");
    assert_eq!(
        (a.body["totalResults"].as_u64(), a.body["itemsPerPage"].as_u64(), a.body["startIndex"].as_u64()),
        (Some(26), Some(10), Some(1)),
        "default count 10; the owner counts"
    );
    assert_eq!(a.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
    let a = l("startIndex=25&count=5");
    assert_eq!(
        (a.body["itemsPerPage"].as_u64(), a.body["startIndex"].as_u64()),
        (Some(2), Some(25)),
        "itemsPerPage counts what came back"
    );
    let a = l("count=5000");
    assert_eq!(a.body["itemsPerPage"], 26, "count clamps to 1000 silently");
    let a = l("startIndex=100");
    assert_eq!((a.body["itemsPerPage"].as_u64(), a.body["totalResults"].as_u64()), (Some(0), Some(26)));
    let v1 = sim.req("GET", "/scim/v1/Users?count=1&startIndex=2", None).body;
    assert_eq!(v1["schemas"], json!(["urn:scim:schemas:core:1.0"]));
    assert_eq!((v1["itemsPerPage"].as_u64(), v1["startIndex"].as_u64()), (Some(1), Some(2)));
    let total = |q: &str| l(&format!("filter={}", urlenc(q))).body["totalResults"].as_u64().unwrap();
    assert_eq!(total("userName eq \"USER03\""), 1, "case-insensitive values");
    assert_eq!(total("UserName Eq \"user03\""), 1, "case-insensitive names and operators");
    assert_eq!(total("email eq \"user04@corp.example\""), 1);
    assert_eq!(total("emails eq \"user04@corp.example\""), 1);
    assert_eq!(total("emails.value eq \"user04@corp.example\""), 1);
    assert_eq!(total("userName sw \"user1\""), 10);
    assert_eq!(total("email co \"corp\""), 25);
    assert_eq!(total("email pr"), 26);
    assert_eq!(total("userName eq \"user01\" or userName eq \"user02\""), 2);
    assert_eq!(total("(userName sw \"user0\" or userName sw \"user1\") and email co \"user1\""), 10);
    assert_eq!(total("userName eq \"user01\" and email eq \"nope@x.io\""), 0);
    assert_eq!(total("restricted eq 1"), 0);
    assert_eq!(total("ultra_restricted eq '1'"), 0);
    let err = |q: &str| l(&format!("filter={}", urlenc(q))).error();
    assert_eq!(err("foo"), "no_filters (is_aggregate_call=1)");
    assert_eq!(err("userName"), "no_filters (is_aggregate_call=1)");
    assert_eq!(l("filter=").error(), "no_filters (is_aggregate_call=1)");
    assert_eq!(err("userName  eq \"a\""), "incomplete_filter");
    assert_eq!(err("(userName eq \"a\""), "invalid_filter_group");
    assert_eq!(err("userName zz \"a\""), "invalid_query");
    assert_eq!(err("shoeSize eq \"9\""), "invalid_query");
    assert_eq!(l("sortOrder=sideways").error(), "invalid_sort_order");
    let desc = l("sortOrder=descending&count=1").body;
    assert_eq!(desc["Resources"][0]["userName"], "user24");
    // Groups filter by displayName.
    sim.seed(json!({"groups": [{"display_name": "Alpha", "members": []}, {"display_name": "Beta", "members": []}]}));
    let g = sim.req("GET", &format!("/scim/v2/Groups?filter={}", urlenc("displayName eq \"alpha\"")), None).body;
    assert_eq!(g["totalResults"], 1);
    let g = sim.req("GET", "/scim/v1/Groups?count=1", None).body;
    assert_eq!((g["totalResults"].as_u64(), g["itemsPerPage"].as_u64()), (Some(2), Some(1)));
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn auth_plan_version_and_discovery() {
    let sim = Sim::start(SimConfig {
        rate_limits: false,
        workspace_token: Some("xoxp-workspace".into()),
        ..SimConfig::default()
    });
    for v in ["v1", "v2"] {
        for p in ["ServiceProviderConfigs", "ServiceProviderConfig"] {
            let a = sim.req_token("GET", &format!("/scim/{v}/{p}"), None, Some("dummy"));
            assert_eq!(a.status, 200, "readable without a valid token");
            assert_eq!(a.body["filter"]["supported"], false, "Slack misreports filter support");
            assert!(a.body["authenticationSchemes"].is_array());
        }
    }
    let a = sim.req_token("GET", "/scim/v1/Users", None, Some("bad"));
    assert_eq!(
        (a.status, a.body.clone()),
        (401, json!({"Errors": {"description": "invalid_authentication", "code": 401}}))
    );
    let a = sim.req_token("GET", "/scim/v1/Users", None, None);
    assert_eq!((a.status, a.error()), (401, "missing_authentication".into()));
    let a = sim.req_token("GET", "/scim/v2/Users", None, Some("bad"));
    assert_eq!(
        (a.status, a.body.clone()),
        (400, json!({"Errors": {"description": "unsupported_version", "code": 400}})),
        "v1 envelope on v2, as observed"
    );
    let a = sim.req_token("GET", "/scim/v2/Users", None, Some("xoxp-workspace"));
    assert_eq!((a.status, a.error()), (403, "non_org_teams_only".into()));
    assert_eq!(sim.req("GET", "/scim/v3/Users", None).error(), "unsupported_version");
    assert_eq!(sim.req("GET", "/scim/v2/Nope", None).error(), "bad_endpoint");
    assert_eq!(sim.req("GET", "/scim/v2/Nope", None).status, 404);
    assert_eq!(sim.req("GET", "/elsewhere", None).error(), "bad_endpoint");
    assert_eq!(sim.req("OPTIONS", "/scim/v2/Users", None).error(), "method_not_allowed");
    assert_eq!(sim.req("OPTIONS", "/scim/v2/Users", None).status, 405);
    assert_eq!(sim.req("POST", "/scim/v2/Schemas", Some(json!({}))).error(), "method_not_allowed");
    assert_eq!(sim.req("GET", "/scim/v1/ResourceTypes", None).error(), "bad_endpoint", "not applicable to v1.1");
    let rt = sim.req("GET", "/scim/v2/ResourceTypes", None).body;
    assert_eq!(rt["Resources"][0]["schemaExtensions"].as_array().unwrap().len(), 3);
    assert_eq!(sim.req("GET", "/scim/v2/Schemas", None).body["totalResults"], 5);
    let us = sim.req("GET", "/scim/v1/Schemas/Users", None).body;
    assert_eq!(us["id"], "urn:scim:schemas:core:1.0:User");
    assert!(us["attributes"].as_array().unwrap().iter().any(|a| a["name"] == "active" && a["type"] == "string"));
    assert_eq!(sim.req("GET", "/scim/v2/Schemas/Groups", None).body["name"], "Group");
    sim.seed(json!({"settings": {"v2_enabled": false}}));
    assert_eq!(sim.req("GET", "/scim/v2/Users", None).error(), "unsupported_version");
    assert_eq!(sim.req("GET", "/scim/v1/Users", None).status, 200);
    sim.seed(json!({"settings": {"plan": "free"}}));
    let a = sim.req("GET", "/scim/v1/Users", None);
    assert_eq!((a.status, a.error()), (403, "plus_teams_only".into()));
    // The documented v2 form, switchable.
    let doc = Sim::start(SimConfig { rate_limits: false, v2_observed_auth_errors: false, ..SimConfig::default() });
    let a = doc.req_token("GET", "/scim/v2/Users", None, Some("bad"));
    assert_eq!(a.status, 401);
    assert_eq!(
        a.body,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "detail": "invalid_authentication", "status": 401})
    );
}

#[test]
fn rate_limits_throttle_with_retry_after_and_time_scale_shortens_the_window() {
    let sim = Sim::start(SimConfig { time_scale: 10.0, ..SimConfig::default() });
    let mut statuses = Vec::new();
    let mut retry = None;
    for i in 0..25 {
        let a =
            sim.req("POST", "/scim/v2/Users", Some(user_body("v2", &format!("rl{i}"), &format!("rl{i}@example.com"))));
        if a.status == 429 {
            retry = a.retry_after;
            assert_eq!(a.error(), "too_many_requests");
        }
        statuses.push(a.status);
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert!((20..=22).contains(&created), "burst of 20 POST /Users, then 429: {statuses:?}");
    assert_eq!(retry, Some(1), "Retry-After in whole seconds");
    // At 10x a token comes every 33 ms.
    std::thread::sleep(Duration::from_millis(120));
    let a = sim.req("POST", "/scim/v2/Users", Some(user_body("v2", "after", "after@example.com")));
    assert_eq!(a.status, 201);
    let stats = sim.stats();
    assert!(stats["throttled"].as_u64().unwrap() >= 3);
    assert_eq!(stats["by_status"]["201"].as_u64().unwrap() as usize, created + 1);
    // Off: no 429 at all.
    let off = Sim::default_off();
    for i in 0..60 {
        assert_eq!(
            off.req("POST", "/scim/v2/Users", Some(user_body("v2", &format!("o{i}"), &format!("o{i}@example.com"))))
                .status,
            201
        );
    }
}

#[test]
fn group_patch_has_a_burst_of_80() {
    let sim = Sim::start(SimConfig { time_scale: 1.0, ..SimConfig::default() });
    let ids = sim.seed(json!({"groups": [{"display_name": "burst", "members": []}]}));
    let gid = ids["groups"]["burst"].as_str().unwrap();
    let mut ok = 0;
    for i in 0..90 {
        let a = sim.req(
            "PATCH",
            &format!("/scim/v2/Groups/{gid}"),
            Some(patch_op(json!([{"op": "replace", "path": "displayName", "value": format!("b{i}")}]))),
        );
        if a.status == 200 {
            ok += 1;
        }
    }
    assert!((80..=81).contains(&ok), "{ok}");
}

#[test]
fn per_resource_lock() {
    let sim =
        Sim::start(SimConfig { rate_limits: false, lock_hold_ms: 3000, time_scale: 10.0, ..SimConfig::default() });
    let id = sim.create("v2", "locked", "locked@example.com");
    let ids = sim.seed(json!({"groups": [{"display_name": "lockg", "members": []}]}));
    let gid = ids["groups"]["lockg"].as_str().unwrap().to_owned();
    for (path, code) in
        [(format!("/scim/v2/Users/{id}"), "too_many_requests"), (format!("/scim/v2/Groups/{gid}"), "resource_locked")]
    {
        let body = patch_op(
            json!([{"op": "replace", "path": if path.contains("Users") { "title" } else { "displayName" }, "value": "x"}]),
        );
        let (base, b2, p2) = (sim.base.clone(), body.clone(), path.clone());
        let first = std::thread::spawn(move || {
            reqwest::blocking::Client::new()
                .patch(format!("{base}{p2}"))
                .bearer_auth(TOKEN)
                .body(b2.to_string())
                .send()
                .unwrap()
                .status()
                .as_u16()
        });
        std::thread::sleep(Duration::from_millis(80));
        let second = sim.req("PATCH", &path, Some(body.clone()));
        assert_eq!((second.status, second.error()), (429, code.to_owned()));
        assert!(second.retry_after.unwrap() >= 1);
        let t = Instant::now();
        assert_eq!(first.join().unwrap(), 200);
        assert!(t.elapsed() < Duration::from_millis(400));
        // Reads are not locked, and after the hold the resource is free again.
        assert_eq!(sim.req("PATCH", &path, Some(body)).status, 200);
    }
}

#[test]
fn faults_are_deterministic_and_cover_every_kind() {
    let run = || {
        let sim = Sim::start(SimConfig {
            rate_limits: false,
            fault_rate: 0.5,
            seed: 42,
            slow_ms: 50,
            ..SimConfig::default()
        });
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let mut seen = Vec::new();
        for _ in 0..60 {
            let r = client.get(format!("{}/scim/v2/Users?count=1", sim.base)).bearer_auth(TOKEN).send();
            let outcome = match r {
                Err(_) => "transport".to_owned(),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes() {
                        Ok(b) if serde_json::from_slice::<Value>(&b).is_ok() => status.to_string(),
                        _ => format!("{status}-broken-body"),
                    }
                }
            };
            seen.push(outcome);
        }
        seen
    };
    let a = run();
    let b = run();
    assert_eq!(a, b, "same seed, same sequence");
    for kind in ["500", "503", "200-broken-body", "transport"] {
        assert!(a.iter().any(|s| s == kind), "{kind} missing from {a:?}");
    }
    assert!(a.iter().filter(|s| *s == "200").count() >= 20);
}

#[test]
fn faulted_writes_are_applied_when_the_answer_is_lost() {
    let sim =
        Sim::start(SimConfig { rate_limits: false, fault_rate: 1.0, seed: 3, slow_ms: 10, ..SimConfig::default() });
    let client = reqwest::blocking::Client::new();
    let mut lost_but_applied = 0;
    for i in 0..30 {
        let r = client
            .post(format!("{}/scim/v2/Users", sim.base))
            .bearer_auth(TOKEN)
            .body(user_body("v2", &format!("f{i}"), &format!("f{i}@x.io")).to_string())
            .send();
        let ok = match r {
            Ok(resp) => resp.status() == 201 && resp.bytes().is_ok_and(|b| serde_json::from_slice::<Value>(&b).is_ok()),
            Err(_) => false,
        };
        let users: Value = client.get(format!("{}/_sim/users", sim.base)).send().unwrap().json().unwrap();
        let exists = users["users"].as_array().unwrap().iter().any(|u| u["userName"] == format!("f{i}"));
        if !ok && exists {
            lost_but_applied += 1;
        }
    }
    assert!(lost_but_applied > 0, "dropped/truncated answers still apply the write");
}

#[test]
fn control_endpoints() {
    let sim = Sim::default_off();
    let ids = sim.seed(
        json!({"users": [{"user_name": "seeded", "email": "seeded@example.com", "title": "T", "active": false},
                                        {"user_name": "member", "email": "member@example.com"}],
                              "groups": [{"display_name": "G", "members": ["member"]}], "channels": ["announcements"]}),
    );
    let uid = ids["users"]["seeded"].as_str().unwrap();
    let users: Value = sim.http.get(format!("{}/_sim/users", sim.base)).send().unwrap().json().unwrap();
    let u = users["users"].as_array().unwrap().iter().find(|u| u["id"] == uid).unwrap();
    assert_eq!((u["active"].as_bool(), u["kind"].as_str()), (Some(false), Some("member")));
    let groups: Value = sim.http.get(format!("{}/_sim/groups", sim.base)).send().unwrap().json().unwrap();
    assert_eq!(groups["groups"][0]["displayName"], "G");
    assert!(sim
        .req("POST", "/scim/v2/Users", Some(user_body("v2", "announcements", "a@x.io")))
        .error()
        .starts_with("username_taken"));
    sim.req("GET", "/scim/v2/Users", None);
    sim.req("GET", &format!("/scim/v2/Users/{uid}"), None);
    let s = sim.stats();
    assert_eq!(s["by_endpoint"]["GET /Users/{id}"], 1);
    assert!(s["requests_total"].as_u64().unwrap() >= 3);
    assert_eq!(s["by_method"]["POST"], 1);
    let r = sim.http.post(format!("{}/_sim/reset", sim.base)).send().unwrap();
    assert!(r.status().is_success());
    assert_eq!(sim.req("GET", "/scim/v2/Users", None).body["totalResults"], 1, "only the primary owner after reset");
    assert_eq!(sim.stats()["requests_total"], 1);
    let bad = sim.http.post(format!("{}/_sim/seed", sim.base)).body("{oops").send().unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}

#[test]
fn the_binary_prints_its_address_first_and_stops_on_sigterm() {
    let t = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slack-sim"))
        .args(["--listen", "127.0.0.1:0", "--token", "tok", "--rate-limits", "off"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let startup = t.elapsed();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    let url = line.trim().trim_start_matches("listening on ").to_owned();
    let r = reqwest::blocking::Client::new().get(format!("{url}/scim/v1/Users")).bearer_auth("tok").send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    eprintln!("slack-sim startup (spawn to first line): {startup:?}");
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_slack-sim")).args(["--fault-rate", "2"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// Every code the simulator can produce is in the README table, and every row is a real code.
#[test]
fn readme_error_table_matches_the_codes() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme.split("## Error codes the simulator produces").nth(1).unwrap();
    let documented: BTreeSet<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    let produced: BTreeSet<String> = Code::all().iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(documented, produced);
    for c in Code::all() {
        let row = table.lines().find(|l| l.starts_with(&format!("| `{}` |", c.name()))).unwrap();
        assert!(row.contains(&format!("| {} |", c.status())), "README status of {} disagrees: {row}", c.name());
    }
}
