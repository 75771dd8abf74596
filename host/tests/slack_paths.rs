//! Slack completeness through the real binary, the Slack connector and slack-sim: managers resolved to
//! Slack ids, multi-channel guests from the directory, and paths nothing tested before (create-only
//! attributes, Remove User Action Delete, Provision Disabled Users).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::*;
use serde_json::Value;
use slack_sim::SimConfig;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GUEST: &str = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User";

fn off() -> Host {
    Host::new(SimConfig { rate_limits: false, ..SimConfig::default() })
}

/// An LDIF person with extra attribute lines.
fn entry(uid: &str, extra: &str) -> String {
    format!(
        "dn: uid={uid},ou=People,dc=example,dc=com\nobjectClass: inetOrgPerson\nentryUUID: uuid-{uid}\nuid: {uid}\ngivenName: {uid}\nsn: Test\nmail: {uid}@example.com\ntitle: Engineer\nemployeeNumber: E-{uid}\n{}\n",
        if extra.is_empty() { String::new() } else { format!("{extra}\n") }
    )
}

fn map(h: &Host, extra_mapping: &str) {
    let cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
    std::fs::write(
        h.path("provisioner.toml"),
        cfg.replace("[connections.channels.mapping]\n", &format!("[connections.channels.mapping]\n{extra_mapping}\n")),
    )
    .unwrap();
}

fn manager_of(h: &Host, uid: &str) -> Value {
    h.user(uid).unwrap()[ENT]["manager"]["managerId"].clone()
}

#[test]
fn managers_are_sent_as_slack_ids_filled_in_later_and_cleared_when_they_leave() {
    let h = off();
    h.write_config("", "");
    map(&h, r#"manager = { attribute = "manager", resolve = "dn" }"#);
    let boss = entry("boss", "");
    let with_boss = |uid: &str| entry(uid, "manager: uid=boss, ou=People, dc=example, dc=com");
    h.write_ldif(&format!("version: 1\n\n{}{}{boss}", with_boss("ann"), with_boss("bob")));
    h.sync();
    // The manager was not provisioned when ann and bob were decided: no manager yet.
    assert!(manager_of(&h, "ann").is_null(), "{}", h.user("ann").unwrap());
    // The next cycle fills it in with the boss's Slack id (not a name Slack would refuse).
    let out = h.sync();
    assert!(stdout(&out).contains("updated 2"), "{}", stdout(&out));
    let boss_id = h.user("boss").unwrap()["id"].clone();
    assert_eq!(manager_of(&h, "ann"), boss_id);
    assert_eq!(manager_of(&h, "bob"), boss_id);
    // Unchanged afterwards.
    let before = h.stats()["requests_total"].as_u64().unwrap();
    h.sync();
    assert_eq!(h.stats()["requests_total"].as_u64().unwrap(), before);
    // The boss leaves: deprovisioned, then the reports' manager is cleared.
    h.write_ldif(&format!("version: 1\n\n{}{}", with_boss("ann"), with_boss("bob")));
    h.sync();
    assert_eq!(h.user("boss").unwrap()["active"], false);
    h.sync();
    assert!(manager_of(&h, "ann").is_null(), "{}", h.user("ann").unwrap());
}

#[test]
fn managers_by_source_id() {
    let h = off();
    h.write_config("", "");
    map(&h, r#"manager = { attribute = "managerUuid", resolve = "source_id" }"#);
    h.write_ldif(&format!("version: 1\n\n{}{}", entry("boss", ""), entry("cat", "managerUuid: uuid-boss")));
    h.sync();
    h.sync();
    assert_eq!(manager_of(&h, "cat"), h.user("boss").unwrap()["id"]);
}

#[test]
fn directory_guests_are_created_converted_and_expire() {
    let h = off();
    h.http
        .post(format!("{}/_sim/seed", h.sim.base_url()))
        .body(r#"{"settings":{"plan":"enterprise"}}"#)
        .send()
        .unwrap();
    h.write_config("", "");
    map(&h, "accountType = { attribute = \"employeeType\", default = \"member\" }\nguestExpiration = { attribute = \"guestUntil\" }");
    h.write_ldif(&format!(
        "version: 1\n\n{}{}",
        entry("gus", "employeeType: multi_channel_guest\nguestUntil: 2099-12-31T23:59:59Z"),
        entry("mia", "")
    ));
    h.sync();
    let gus = h.user("gus").unwrap();
    assert_eq!(
        (gus[GUEST]["type"].clone(), gus[GUEST]["expiration"].clone()),
        ("multi".into(), "2099-12-31T23:59:59Z".into())
    );
    assert!(h.user("mia").unwrap().get(GUEST).is_none_or(Value::is_null));
    // mia becomes a guest, gus a member: converted in place (same Slack ids).
    let (gus_id, mia_id) = (gus["id"].clone(), h.user("mia").unwrap()["id"].clone());
    h.write_ldif(&format!("version: 1\n\n{}{}", entry("gus", ""), entry("mia", "employeeType: multi_channel_guest")));
    h.sync();
    assert!(h.user("gus").unwrap().get(GUEST).is_none_or(Value::is_null));
    assert_eq!(h.user("mia").unwrap()[GUEST]["type"], "multi");
    assert_eq!((h.user("gus").unwrap()["id"].clone(), h.user("mia").unwrap()["id"].clone()), (gus_id, mia_id));
    // An expiration that has passed: Slack deactivates the guest.
    h.write_ldif(&format!(
        "version: 1\n\n{}{}",
        entry("gus", ""),
        entry("mia", "employeeType: multi_channel_guest\nguestUntil: 2001-01-01T00:00:00Z")
    ));
    h.sync();
    assert_eq!(h.user("mia").unwrap()["active"], false);
}

/// A create-only attribute is set on create and never updated afterwards.
#[test]
fn create_only_attributes_are_set_once() {
    let h = off();
    h.write_config("", "");
    h.edit_config("title = { attribute = \"title\" }", "title = { attribute = \"title\", create_only = true }");
    let mut people = vec![person("cre")];
    h.write_ldif(&ldif(&people, &[]));
    h.sync();
    assert_eq!(h.user("cre").unwrap()["title"], "Engineer");
    people[0].title = "Director".into();
    let before = h.stats()["requests_total"].as_u64().unwrap();
    let out = h.sync();
    assert!(stdout(&out).contains("updated 0"), "{}", stdout(&out));
    assert_eq!(h.user("cre").unwrap()["title"], "Engineer", "not updated");
    assert_eq!(h.stats()["requests_total"].as_u64().unwrap(), before, "nothing sent");
}

/// Remove User Action = Delete: a leaver is deleted (`DELETE /Users/{id}`, which Slack turns into a
/// deactivation), through the host.
#[test]
fn remove_user_action_delete_through_the_host() {
    let h = off();
    h.write_config("removeUserAction = \"Delete\"", "");
    h.write_ldif(&ldif(&[person("stay"), person("go")], &[]));
    h.sync();
    h.write_ldif(&ldif(&[person("stay")], &[]));
    let deletes = h.stats()["by_method"]["DELETE"].as_u64().unwrap_or(0);
    let out = h.sync();
    assert!(stdout(&out).contains("deleted 1"), "{}", stdout(&out));
    assert_eq!(h.stats()["by_method"]["DELETE"].as_u64().unwrap(), deletes + 1);
    assert_eq!(h.user("go").unwrap()["active"], false);
    assert_eq!(h.audit().iter().filter(|e| e["event_type"] == "DELETE" && e["outcome"] == "deleted").count(), 1);
}

/// Provision Disabled Users: a user disabled in the directory and never provisioned is created
/// deactivated, through the host; without the option, nothing is created.
#[test]
fn provision_disabled_users_through_the_host() {
    for on in [false, true] {
        let h = off();
        h.write_config(if on { "provisionDisabledUsers = true" } else { "" }, "");
        let mut locked = person("lck");
        locked.locked = true;
        h.write_ldif(&ldif(&[person("act"), locked], &[]));
        let out = h.sync();
        assert!(out.status.success(), "{}", stderr(&out));
        match (on, h.user("lck")) {
            (false, u) => assert!(u.is_none(), "not created without the option"),
            (true, Some(u)) => assert_eq!(u["active"], false, "created deactivated"),
            (true, None) => panic!("Provision Disabled Users created nothing"),
        }
        // A second cycle sends nothing more for it.
        let before = h.stats()["requests_total"].as_u64().unwrap();
        h.sync();
        assert_eq!(h.stats()["requests_total"].as_u64().unwrap(), before, "on = {on}");
    }
}

/// Active Directory's `userAccountControl` from a file source: bit 2 set disables.
#[test]
fn user_account_control_from_a_file_source() {
    let h = off();
    h.write_config("", "");
    let cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
    std::fs::write(
        h.path("provisioner.toml"),
        cfg.replace("algorithm = \"flag\"\nattribute = \"nsAccountLock\"", "algorithm = \"active_directory\""),
    )
    .unwrap();
    h.write_ldif(&format!(
        "version: 1\n\n{}{}",
        entry("uac1", "userAccountControl: 512"),
        entry("uac2", "userAccountControl: 512")
    ));
    h.sync();
    h.write_ldif(&format!(
        "version: 1\n\n{}{}",
        entry("uac1", "userAccountControl: 512"),
        entry("uac2", "userAccountControl: 66050")
    ));
    let out = h.sync();
    assert!(stdout(&out).contains("disabled 1"), "{}", stdout(&out));
    assert_eq!(h.user("uac2").unwrap()["active"], false);
    assert_eq!(h.user("uac1").unwrap()["active"], true);
}

/// Groups go beside the users' updates (each has its own Slack budget) once the records they depend on
/// have settled: with Slack's budgets on, a joiner's group membership is sent, with the joiner's new
/// Slack id, while the day's user updates are still being paced out; a user disabled in the directory
/// leaves the group (a disable is settled before the groups are decided).
#[test]
fn groups_go_beside_user_updates_once_creates_settle() {
    let trace = tempfile::NamedTempFile::new().unwrap();
    let h = Host::new(SimConfig { time_scale: 10.0, trace: Some(trace.path().to_owned()), ..SimConfig::default() });
    h.write_config("", "");
    // The connector paces itself at the simulator's speed.
    h.edit_config("rateLimitTimeScale = 10000.0", "rateLimitTimeScale = 10.0");
    let uids: Vec<String> = (0..90).map(|i| format!("p{i:02}")).collect();
    let people = |title: &str, extra: &[&str]| -> Vec<Person> {
        uids.iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
            .map(|u| Person { title: title.into(), ..person(u) })
            .collect()
    };
    let team: Vec<&str> = uids.iter().take(30).map(String::as_str).collect();
    h.write_ldif(&ldif(&people("Engineer", &[]), &[("team", team.clone())]));
    h.sync();

    // Every title changes, and a joiner joins the team.
    let from = std::fs::metadata(trace.path()).unwrap().len() as usize;
    let mut with_joiner = team.clone();
    with_joiner.push("newbie");
    h.write_ldif(&ldif(&people("Senior Engineer", &["newbie"]), &[("team", with_joiner.clone())]));
    h.sync();
    let text = std::fs::read_to_string(trace.path()).unwrap();
    let times = |key: &str| -> Vec<f64> {
        text[from..]
            .lines()
            .filter(|l| l.split(' ').skip(1).take(2).collect::<Vec<_>>().join(" ") == key)
            .map(|l| l.split(' ').next().unwrap().parse().unwrap())
            .collect()
    };
    let (user_patches, group_patches, creates) =
        (times("PATCH /Users/{id}"), times("PATCH /Groups/{id}"), times("POST /Users"));
    assert_eq!(user_patches.len(), 90, "one PATCH per updated user");
    assert_eq!((creates.len(), group_patches.len()), (1, 1));
    let last_user_patch = user_patches.iter().copied().fold(f64::MIN, f64::max);
    assert!(creates[0] < group_patches[0], "the group waits for the joiner's account");
    assert!(
        group_patches[0] < last_user_patch,
        "the group was sent at {} ms, after the users' updates ended at {last_user_patch} ms",
        group_patches[0]
    );
    let mut expected: Vec<String> = with_joiner.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(h.group_members("team"), expected);

    // A member disabled in the directory leaves the group in the same cycle.
    let mut all = people("Staff Engineer", &["newbie"]);
    all[0].locked = true;
    h.write_ldif(&ldif(&all, &[("team", with_joiner.clone())]));
    h.sync();
    assert_eq!(h.user("p00").unwrap()["active"], false);
    expected.retain(|u| u != "p00");
    assert_eq!(h.group_members("team"), expected);
}

#[test]
fn a_replaced_account_rejoins_its_groups() {
    let h = Host::new(SimConfig::default());
    h.write_config("", "");
    let uids = ["p0", "p1", "p2", "p3"];
    let people = |title: &str, extra: &[&str]| -> Vec<Person> {
        uids.iter().chain(extra).map(|u| Person { title: title.into(), ..person(u) }).collect()
    };
    let team = vec!["p0", "p1", "p2"];
    let crew = vec!["p1", "p3"];
    h.write_ldif(&ldif(&people("Engineer", &[]), &[("team", team.clone()), ("crew", crew.clone())]));
    h.sync();
    assert_eq!(h.group_members("team"), ["p0", "p1", "p2"]);

    // An org admin deletes p1's account for good; then p1's title changes and crew gains a member.
    let old_id = h.user("p1").unwrap()["id"].as_str().unwrap().to_owned();
    let erased = h.http.post(format!("{}/_sim/users/{old_id}/erase", h.sim.base_url())).send().unwrap();
    assert!(erased.status().is_success());
    assert_eq!(h.group_members("team"), ["p0", "p2"]);
    let mut crew2 = crew.clone();
    crew2.push("p0");
    h.write_ldif(&ldif(&people("Senior Engineer", &[]), &[("team", team.clone()), ("crew", crew2.clone())]));
    let out = h.sync();
    let new_id = h.user("p1").unwrap()["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id, "the update found the account gone and created another");
    assert!(stderr(&out).contains("accounts were replaced"), "{}", stderr(&out));

    // The next cycle sends both groups again, with the new account: team had not changed in the source
    // (so nothing else would ever send it), crew was sent beside the update with the old one.
    h.sync();
    assert_eq!(h.group_members("team"), ["p0", "p1", "p2"]);
    assert_eq!(h.group_members("crew"), ["p0", "p1", "p3"]);
    let rows = h.state_query("SELECT COUNT(*) FROM memberships");
    assert_eq!(rows[0][0].as_deref(), Some("6"), "the recorded memberships are Slack's again");

    // And then all is quiet.
    let before = h.stats()["writes"].as_u64().unwrap();
    h.sync();
    assert_eq!(h.stats()["writes"].as_u64().unwrap(), before);
}
