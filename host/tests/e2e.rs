//! End to end: the real `provisioner` process, the real connector cdylib, slack-sim.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use slack_sim::SimConfig;

fn off() -> Host {
    Host::new(SimConfig { rate_limits: false, ..SimConfig::default() })
}

#[test]
fn lifecycle_first_sync_change_disable_leave_delete_reenable_groups() {
    let h = off();
    h.write_config("", "");
    let mut people: Vec<Person> = ["ann", "bob", "cid", "dee", "eve"].iter().map(|u| person(u)).collect();
    h.write_ldif(&ldif(&people, &[("team", vec!["ann", "bob"])]));
    let out = h.sync();
    assert!(stdout(&out).contains("created 6"), "{}", stdout(&out));
    for u in ["ann", "bob", "cid", "dee", "eve"] {
        assert_eq!(h.user(u).unwrap()["active"], true, "{u}");
    }
    assert_eq!(h.group_members("team"), vec!["ann", "bob"]);

    // A second cycle with no source change makes zero target requests.
    let before = h.stats()["requests_total"].as_u64().unwrap();
    let out = h.sync();
    assert!(stdout(&out).contains("created 0, updated 0"), "{}", stdout(&out));
    assert_eq!(h.stats()["requests_total"].as_u64().unwrap(), before, "unchanged records cost nothing");

    // Attribute change; disable by flag; leave the filter (moved out of ou=People); deletion; group change.
    people[0].title = "Principal".into();
    people[1].locked = true;
    people[2].ou = "Alumni".into();
    people.retain(|p| p.uid != "dee");
    h.write_ldif(&ldif(&people, &[("team", vec!["ann", "eve"])]));
    let before = h.stats();
    let out = h.sync();
    let s = stdout(&out);
    // Disabled in the source, left the location, deleted: all three deactivate (Remove User Action Disable).
    assert!(s.contains("updated 2") && s.contains("disabled 3") && s.contains("deleted 0"), "{s}");
    assert_eq!(h.user("ann").unwrap()["title"], "Principal");
    assert_eq!(h.user("bob").unwrap()["active"], false, "disabled in the source");
    assert_eq!(h.user("cid").unwrap()["active"], false, "left the source location: Remove User Action Disable");
    assert_eq!(h.user("dee").unwrap()["active"], false, "deleted from the source");
    assert_eq!(h.group_members("team"), vec!["ann", "eve"]);
    let after = h.stats();
    let patches = after["by_endpoint"]["PATCH /Users/{id}"].as_u64().unwrap()
        - before["by_endpoint"]["PATCH /Users/{id}"].as_u64().unwrap_or(0);
    assert!(patches >= 1, "changes go by PATCH");
    assert!(after["by_endpoint"].get("PUT /Groups/{id}").is_none(), "membership by PATCH");

    // Re-enable bob and bring cid back: reactivated, same Slack accounts.
    let bob_id = h.user("bob").unwrap()["id"].clone();
    people[1].locked = false;
    people[2].ou = "People".into();
    h.write_ldif(&ldif(&people, &[("team", vec!["ann", "eve", "bob"])]));
    let out = h.sync();
    assert!(stdout(&out).contains("reactivated 2"), "{}", stdout(&out));
    assert_eq!(h.user("bob").unwrap()["active"], true);
    assert_eq!(h.user("bob").unwrap()["id"], bob_id, "reactivated, not recreated");
    assert_eq!(h.user("cid").unwrap()["active"], true);
    assert_eq!(h.group_members("team"), vec!["ann", "bob", "eve"]);
    assert_eq!(h.users().len(), 6, "no duplicates: five people and the owner");

    // The group leaves the source: deleted in Slack.
    h.write_ldif(&ldif(&people, &[]));
    h.sync();
    assert!(h.groups().is_empty());

    // Audit lines carry PingFederate's fields.
    let audit = h.audit();
    let a = audit.iter().find(|e| e["event_type"] == "DISABLE").unwrap();
    for k in ["time", "cycle_id", "channel", "event_type", "source_id", "target_id", "is_success"] {
        assert!(a.get(k).is_some(), "audit lacks {k}");
    }
    assert!(audit.iter().any(|e| e["event_type"] == "GROUP_DELETE"));
    // channels shows the state.
    let out = h.run(&["channels", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["channel"], "people");
    assert_eq!(v[0]["dirty_users"], 0);
}

#[test]
fn plan_matches_what_sync_then_does_and_writes_nothing() {
    let h = off();
    h.write_config("", "");
    let people: Vec<Person> = ["p1", "p2", "p3"].iter().map(|u| person(u)).collect();
    h.write_ldif(&ldif(&people, &[("g", vec!["p1"])]));
    h.sync();
    let mut people = people;
    people[0].title = "Changed".into();
    people[1].locked = true;
    people.pop();
    people.push(person("p4"));
    h.write_ldif(&ldif(&people, &[("g", vec!["p1", "p4"])]));
    let requests = h.stats()["requests_total"].as_u64().unwrap();
    let audit_len = h.audit().len();
    let out = h.run(&["plan", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h.stats()["requests_total"].as_u64().unwrap(), requests, "plan sends nothing");
    assert_eq!(h.audit().len(), audit_len, "plan writes no audit");
    let mut planned: Vec<(String, String)> = plan[0]["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["event_type"].as_str().unwrap().to_owned(), p["source_id"].as_str().unwrap().to_owned()))
        .collect();
    planned.sort();
    // Masked values are hidden.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("E-p4") && text.contains("(masked)"), "{text}");
    let human = stdout(&h.run(&["plan"]));
    assert!(human.contains("UPDATE") && human.contains("title: \"Changed\""), "{human}");
    h.sync();
    let audit = h.audit();
    let last_cycle = audit.last().unwrap()["cycle_id"].clone();
    let mut done: Vec<(String, String)> = audit
        .iter()
        .filter(|e| e["cycle_id"] == last_cycle)
        .map(|e| (e["event_type"].as_str().unwrap().to_owned(), e["source_id"].as_str().unwrap().to_owned()))
        .collect();
    done.sort();
    assert_eq!(planned, done);
    assert!(planned.contains(&("CREATE".into(), "uuid-p4".into())));
    assert!(planned.contains(&("DISABLE".into(), "uuid-p2".into())));
    assert!(planned.contains(&("DELETE".into(), "uuid-p3".into())));
    assert!(planned.contains(&("UPDATE".into(), "uuid-p1".into())));
    assert!(planned.contains(&("GROUP_UPDATE".into(), "group-g".into())));
}

#[test]
fn a_failing_record_stays_dirty_and_is_retried_next_cycle() {
    let h = off();
    h.write_config("uniqueUserIdentifier = \"userName\"", "");
    // Slack holds fay's email on a deactivated account with another username.
    let ids: Value = h
        .http
        .post(format!("{}/_sim/seed", h.sim.base_url()))
        .body(r#"{"users":[{"user_name":"old.fay","email":"fay@example.com","active":false}]}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let old = ids["users"]["old.fay"].as_str().unwrap().to_owned();
    h.write_ldif(&ldif(&[person("fay"), person("gil")], &[]));
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(1), "failures exit 1");
    assert!(stdout(&out).contains("failed 1"), "{}", stdout(&out));
    let ch: Value = serde_json::from_slice(&h.run(&["channels", "--json"]).stdout).unwrap();
    assert_eq!(ch[0]["dirty_users"], 1);
    let fail = h.audit().into_iter().find(|e| e["is_success"] == false).unwrap();
    assert!(
        fail["non_success_cause"].as_str().unwrap().contains("email_taken")
            || fail["non_success_cause"].as_str().unwrap().contains("held by")
    );
    // An admin frees the email in Slack; the next cycle retries without any source change.
    h.http.patch(format!("{}/scim/v2/Users/{old}", h.sim.base_url())).bearer_auth(TOKEN)
        .body(r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails","value":[{"value":"old.fay@example.com","primary":true}]}]}"#)
        .send().unwrap();
    let out = h.sync();
    assert!(stdout(&out).contains("created 1"), "{}", stdout(&out));
    assert_eq!(h.user("fay").unwrap()["active"], true);
    let ch: Value = serde_json::from_slice(&h.run(&["channels", "--json"]).stdout).unwrap();
    assert_eq!(ch[0]["dirty_users"], 0);
}

#[test]
fn kill_9_mid_cycle_then_restart_ends_in_the_same_state_without_duplicates() {
    // Slack's limits at 10x: 60 creates take a few seconds, long enough to kill the host mid-cycle.
    let h = Host::new(SimConfig { time_scale: 10.0, ..SimConfig::default() });
    h.write_config("", "");
    let cfg = std::fs::read_to_string(h.path("provisioner.toml"))
        .unwrap()
        .replace("rateLimitTimeScale = 10000.0", "rateLimitTimeScale = 10.0");
    std::fs::write(h.path("provisioner.toml"), cfg).unwrap();
    let people: Vec<Person> = (0..60).map(|i| person(&format!("k{i:02}"))).collect();
    h.write_ldif(&ldif(&people, &[("all", people.iter().take(10).map(|p| p.uid.as_str()).collect())]));
    let mut child = h
        .cmd(&["sync", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    loop {
        let created = h.users().len();
        if created > 25 || t.elapsed().as_secs() > 30 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = h.users().len() - 1;
    assert!(partial > 0 && partial < 60, "killed mid-cycle ({partial} created)");
    h.sync();
    let users = h.users();
    assert_eq!(users.len(), 61, "every person exactly once, plus the owner");
    for p in &people {
        assert_eq!(users.iter().filter(|u| u["userName"] == p.uid.as_str()).count(), 1, "{}", p.uid);
    }
    assert_eq!(h.group_members("all").len(), 10);
    let ch: Value = serde_json::from_slice(&h.run(&["channels", "--json"]).stdout).unwrap();
    assert_eq!((ch[0]["users"].as_u64(), ch[0]["dirty_users"].as_u64()), (Some(60), Some(0)));
    // And the state is complete: one more cycle changes nothing.
    let before = h.stats()["writes"].as_u64().unwrap();
    h.sync();
    assert_eq!(h.stats()["writes"].as_u64().unwrap(), before);
}

#[test]
fn the_secret_and_masked_values_never_reach_logs_audit_or_state() {
    let h = off();
    h.write_config("", "");
    h.write_ldif(&ldif(&[person("sam"), Person { employee_number: MASKED.into(), ..person("tia") }], &[]));
    h.sync();
    h.run(&["plan"]);
    h.run(&["test-connection"]);
    h.run(&["channels"]);
    // A failing cycle too (the target rejects the token while there is something to send).
    h.write_ldif(&ldif(
        &[person("sam"), Person { employee_number: MASKED.into(), ..person("tia") }, person("uma")],
        &[],
    ));
    let bad = h.cmd(&["sync", "--once"]).env("E2E_SLACK_TOKEN", "xoxp-WRONG").output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let mut everything = file_bytes(&h.path("all-output.log"));
    everything.extend(bad.stdout);
    everything.extend(bad.stderr);
    everything.extend(file_bytes(&h.path("audit.jsonl")));
    for f in std::fs::read_dir(h.dir.path()).unwrap() {
        let p = f.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("state.db") {
            everything.extend(file_bytes(&p));
        }
    }
    let text = String::from_utf8_lossy(&everything);
    assert!(text.contains("created"), "the logs were captured");
    assert!(!text.contains(TOKEN), "the token leaked");
    assert!(!text.contains("xoxp-WRONG"), "the wrong token leaked");
    assert!(!text.contains(MASKED), "a masked value leaked");
    assert_eq!(
        h.user("tia").unwrap()["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        MASKED,
        "masked values are still provisioned"
    );
}

#[test]
fn test_connection_reports_each_connection() {
    let h = off();
    h.write_config("", "");
    let ok = h.run(&["test-connection"]);
    assert!(ok.status.success() && stdout(&ok).contains("slack: OK"), "{}", stdout(&ok));
    let bad = h.cmd(&["test-connection", "--json"]).env("E2E_SLACK_TOKEN", "nope").output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v[0]["ok"], false);
    assert!(v[0]["message"].as_str().unwrap().contains("unsupported_version"));
}

#[test]
fn reset_forgets_a_channel_and_rematching_links_without_duplicates() {
    let h = off();
    h.write_config("", "");
    h.write_ldif(&ldif(&[person("r1"), person("r2")], &[]));
    h.sync();
    let out = h.run(&["reset", "people"]);
    assert!(out.status.success() && stdout(&out).contains("reset people"));
    let out = h.sync();
    assert!(stdout(&out).contains("created 0") && stdout(&out).contains("unchanged 2"), "{}", stdout(&out));
    assert_eq!(h.users().len(), 3);
    assert_eq!(h.run(&["reset"]).status.code(), Some(2));
    assert_eq!(h.run(&["reset", "nope"]).status.code(), Some(2));
    assert!(h.run(&["reset", "--reset-all"]).status.success());
}

#[test]
fn csv_source_with_groups_from_member_of() {
    let h = off();
    h.write_config("", "");
    let cfg = std::fs::read_to_string(h.path("provisioner.toml"))
        .unwrap()
        .replace(
            r#"source = { type = "ldif", path = "directory.ldif" }"#,
            r#"source = { type = "csv", path = "people.csv" }"#,
        )
        .replace(
            "[connections.channels.groups]\nbase_dn = \"ou=Groups,dc=example,dc=com\"",
            "[connections.channels.groups]\nmember_of_attribute = \"memberOf\"",
        );
    std::fs::write(h.path("provisioner.toml"), cfg).unwrap();
    let row = |uid: &str, locked: &str, groups: &str| {
        format!("\"uid={uid},ou=People,dc=example,dc=com\",csv-{uid},inetOrgPerson,{uid},{uid},Csv,{uid}@example.com,Analyst,E{uid},{locked},\"{groups}\"\n")
    };
    let header = "dn,entryUUID,objectClass,uid,givenName,sn,mail,title,employeeNumber,nsAccountLock,memberOf\n";
    let team = "cn=csv-team,ou=Groups,dc=example,dc=com";
    std::fs::write(
        h.path("people.csv"),
        format!(
            "{header}{}{}{}",
            row("c1", "", &format!("{team};Readers")),
            row("c2", "", team),
            row("c3", "true", team)
        ),
    )
    .unwrap();
    let out = h.sync();
    assert!(stdout(&out).contains("created 4"), "c1, c2 and the groups csv-team and Readers: {}", stdout(&out));
    assert_eq!(h.user("c1").unwrap()["title"], "Analyst");
    assert!(h.user("c3").is_none(), "locked and never provisioned");
    assert_eq!(h.group_members("csv-team"), vec!["c1", "c2"]);
    assert_eq!(h.group_members("Readers"), vec!["c1"]);
    // c2 leaves the team; a malformed row fails the cycle without touching anything.
    std::fs::write(h.path("people.csv"), format!("{header}{}{}", row("c1", "", team), row("c2", "", ""))).unwrap();
    h.sync();
    assert_eq!(h.group_members("csv-team"), vec!["c1"]);
    assert!(h.groups().iter().all(|g| g["displayName"] != "Readers"), "a group no user lists any more is deleted");
    std::fs::write(h.path("people.csv"), format!("{header}only,three,cells\n")).unwrap();
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("people.csv:2"), "{}", stdout(&out));
    assert_eq!(h.user("c2").unwrap()["active"], true);
}

#[test]
fn run_loops_and_stops_cleanly_on_sigterm() {
    let h = off();
    h.write_config("", "");
    h.write_ldif(&ldif(&[person("r1")], &[]));
    let mut child =
        h.cmd(&["run"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("created 1"), "{first}");
    // The loop keeps cycling: a change made now is picked up by a later cycle.
    h.write_ldif(&ldif(&[person("r1"), person("r2")], &[]));
    let t = std::time::Instant::now();
    while h.user("r2").is_none() {
        assert!(t.elapsed().as_secs() < 20, "the next cycle did not come");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed().as_secs() < 10, "did not stop on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn json_logs_are_one_object_per_line_with_the_channel_summary() {
    let h = off();
    h.write_config("", "log_format = \"json\"");
    h.write_ldif(&ldif(&[person("j1")], &[]));
    let out = h.sync();
    let err = stderr(&out);
    let lines: Vec<serde_json::Value> =
        err.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let summary = lines.iter().find(|l| l["fields"]["message"] == "channel summary").expect("a summary event");
    assert_eq!(summary["fields"]["created"], 1);
    assert_eq!(summary["fields"]["channel"], "people");
    assert!(!err.contains(TOKEN));
}
