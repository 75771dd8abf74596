//! Bad configuration and bad input: clear errors with file, line and key, and nothing lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use slack_sim::SimConfig;

fn host() -> Host {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    h.write_config("", "");
    h.write_ldif(&ldif(&[person("a1")], &[]));
    h
}

fn edit(h: &Host, from: &str, to: &str) {
    let p = h.path("provisioner.toml");
    let s = std::fs::read_to_string(&p).unwrap();
    assert!(s.contains(from), "{from}");
    std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
}

fn fails_with(h: &Host, code: i32, needles: &[&str]) {
    let out = h.run(&["sync", "--once"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

#[test]
fn unknown_keys_and_syntax_errors_name_file_and_line() {
    let h = host();
    edit(&h, "batch_size = 10", "batch_size = 10\nbatch_sise = 5");
    fails_with(&h, 2, &["provisioner.toml:", "batch_sise"]);
    let h = host();
    edit(&h, "[engine]", "[engine\n");
    fails_with(&h, 2, &["provisioner.toml:2"]);
}

#[test]
fn semantic_errors_name_the_key() {
    let h = host();
    edit(&h, "filter = \"(objectClass=inetOrgPerson)\"", "filter = \"(objectClass=inetOrgPerson\"");
    fails_with(&h, 2, &["location.filter", "invalid LDAP filter"]);
    let h = host();
    edit(&h, "title = { attribute = \"title\" }", "title = { template = \"{title|shout}\" }");
    fails_with(&h, 2, &["mapping.title", "unknown filter"]);
    let h = host();
    edit(&h, "apiVersion = \"v2\"", "apiVersion = \"v9\"");
    fails_with(&h, 2, &["settings.apiVersion", "one of v1, v2"]);
    let h = host();
    edit(&h, "apiVersion = \"v2\"", "apiVersion = \"v2\"\nnoSuchSetting = 1");
    fails_with(&h, 2, &["settings.noSuchSetting", "has no setting"]);
    let h = host();
    edit(&h, "apiVersion = \"v2\"", &format!("apiVersion = \"v2\"\naccessToken = \"{TOKEN}\""));
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("confidential") && !stderr(&out).contains(TOKEN), "{}", stderr(&out));
    let h = host();
    let out = h.cmd(&["sync", "--once"]).env_remove("E2E_SLACK_TOKEN").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("E2E_SLACK_TOKEN") && stderr(&out).contains("not set"), "{}", stderr(&out));
}

#[test]
fn a_missing_connector_exits_3() {
    let h = host();
    edit(&h, "libconnector_slack.so", "libnothing_here.so");
    fails_with(&h, 3, &["connector library not found"]);
}

#[test]
fn a_malformed_source_fails_the_cycle_and_changes_nothing() {
    let h = host();
    h.sync();
    let writes = h.stats()["writes"].as_u64().unwrap();
    std::fs::write(h.path("directory.ldif"), "dn: uid=x,ou=People,dc=example,dc=com\nthis line has no colon\n")
        .unwrap();
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("directory.ldif:2"), "{}", stdout(&out));
    assert_eq!(h.stats()["writes"].as_u64().unwrap(), writes, "nothing deprovisioned because of a broken file");
    assert_eq!(h.user("a1").unwrap()["active"], true);
    std::fs::remove_file(h.path("directory.ldif")).unwrap();
    let out = h.run(&["sync", "--once"]);
    assert!(stdout(&out).contains("cannot read"), "{}", stdout(&out));
    assert_eq!(h.user("a1").unwrap()["active"], true);
}

#[test]
fn plaintext_ldap_to_a_remote_host_is_refused_at_load() {
    let h = host();
    edit(
        &h,
        r#"source = { type = "ldif", path = "directory.ldif" }"#,
        r#"source = { type = "ldap", url = "ldap://dc01.example.com" }"#,
    );
    fails_with(&h, 2, &["source.url", "in clear"]);
}

#[test]
fn high_availability_settings_are_checked_before_anything_runs() {
    let h = host();
    edit(&h, "[engine]", "[engine]\nmode = \"failover\"");
    if !test_support::config::on_postgres() {
        fails_with(&h, 2, &["engine.mode", "`failover` needs a state the nodes share"]);
    }
    let h = host();
    edit(&h, "[engine]", "[engine]\nmode = \"active-active\"");
    fails_with(&h, 2, &["provisioner.toml:3", "active-active", "`standalone`, `failover`, `cluster`"]);
    let h = host();
    edit(&h, "[engine]", "[engine]\nlease_seconds = 1");
    fails_with(&h, 2, &["engine.lease_seconds", "3 to 3600"]);
    let h = host();
    edit(&h, "[engine]", "[engine]\nnode_id = \"node one\"");
    fails_with(&h, 2, &["engine.node_id"]);
    // A password in the state's URL is refused, and not repeated.
    let h = host();
    let secret = "pg-S3CRET-never-echo-9931";
    let cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
    let cfg = cfg
        .lines()
        .filter(|l| !l.starts_with("state =") && !l.starts_with("state_db ="))
        .collect::<Vec<_>>()
        .join("\n")
        .replacen(
            "[engine]",
            &format!("[engine]\nstate = {{ postgres = \"postgres://prov:{secret}@db.example.com/state\" }}"),
            1,
        );
    std::fs::write(h.path("provisioner.toml"), cfg).unwrap();
    let out = h.run(&["sync", "--once"]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("engine.state.postgres") && e.contains("carries a password"), "{e}");
    assert!(!o.contains(secret) && !e.contains(secret), "{e}");
}

#[test]
fn nodes_needs_a_shared_state() {
    if test_support::config::on_postgres() {
        return; // the PostgreSQL pass gives every test a shared state
    }
    let h = host();
    let out = h.run(&["nodes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`nodes` needs a shared state"), "{}", stderr(&out));
}
