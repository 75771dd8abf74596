//! Never deprovision by accident: the deprovisioning guard (thresholds, empty reads, held actions,
//! approve, reject), identity integrity (duplicate identifiers never touch a live account) and options
//! that re-converge. Every case runs the real binary, the Slack connector and slack-sim, and checks
//! Slack's state in the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::*;
use serde_json::Value;
use slack_sim::SimConfig;

fn off() -> Host {
    Host::new(SimConfig { rate_limits: false, ..SimConfig::default() })
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("p{i:03}")).collect()
}

/// A host whose first sync provisioned `n` people and the group `all` (the first ten of them).
fn provisioned(n: usize) -> (Host, Vec<Person>) {
    let h = off();
    h.write_config("", "");
    let people: Vec<Person> = names(n).iter().map(|u| person(u)).collect();
    let ten: Vec<&str> = people.iter().take(10).map(|p| p.uid.as_str()).collect();
    h.write_ldif(&ldif(&people, &[("all", ten)]));
    h.sync();
    assert_eq!(active_users(&h), n);
    (h, people)
}

/// Active Slack users, the workspace's primary owner aside.
fn active_users(h: &Host) -> usize {
    h.users().iter().filter(|u| u["active"] == true && u["userName"] != "primary.owner").count()
}

fn held(h: &Host) -> Vec<Value> {
    let out = h.run(&["held", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

fn channel(h: &Host) -> Value {
    let out = h.run(&["channels", "--json"]);
    serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone()
}

/// A sync that the guard stops: exit 1, a message naming the channel, the count, the threshold and
/// the commands; nothing deprovisioned in Slack.
fn sync_is_held(h: &Host, count: usize, active_before: usize) -> String {
    let out = h.run(&["sync", "--once"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{}\n{err}", stdout(&out));
    for needle in [
        "people:".to_owned(),
        format!("{count} deprovisioning action(s) held"),
        "provisioner held people".into(),
        "provisioner approve people".into(),
        "provisioner reject people".into(),
    ] {
        assert!(err.contains(&needle), "`{needle}` not in: {err}");
    }
    assert_eq!(active_users(h), active_before, "nothing was deactivated");
    err
}

#[test]
fn an_empty_ldif_a_zero_byte_file_or_a_filter_matching_nothing_deprovisions_nobody() {
    let (h, people) = provisioned(12);
    let groups_before = h.groups().len();
    for (case, write) in [("an LDIF holding only `version: 1`", "version: 1\n"), ("a zero-byte file", "")] {
        h.write_ldif(write);
        let err = sync_is_held(&h, 13, 12);
        assert!(err.contains("the source returned no users"), "{case}: {err}");
        assert_eq!(h.groups().len(), groups_before, "{case}: no group deleted");
        let held = held(&h);
        assert_eq!(held.len(), 13, "{case}: 12 users and the group: {held:?}");
        assert!(held.iter().filter(|a| a["action"] == "DELETE").all(|a| a["target_id"].is_string()));
        assert!(held.iter().any(|a| a["action"] == "GROUP_DELETE"), "{case}");
        // Names are read from Slack, not kept in the state.
        assert!(held.iter().any(|a| a["name"] == "p000"), "{held:?}");
        assert_eq!(channel(&h)["held"], 13, "{case}");
    }
    // One HELD audit event per action, however many cycles held it.
    assert_eq!(h.audit().iter().filter(|e| e["event_type"] == "HELD").count(), 13);

    // A filter that matches nothing.
    let ten: Vec<&str> = people.iter().take(10).map(|p| p.uid.as_str()).collect();
    h.write_ldif(&ldif(&people, &[("all", ten)]));
    let cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
    std::fs::write(
        h.path("provisioner.toml"),
        cfg.replace("filter = \"(objectClass=inetOrgPerson)\"", "filter = \"(objectClass=inetOrgPersn)\""),
    )
    .unwrap();
    let err = sync_is_held(&h, 12, 12);
    assert!(err.contains("the source returned no users"), "{err}");

    // Users whose deprovisioning is held keep their group memberships.
    assert_eq!(h.group_members("all").len(), 10, "held users stay in their groups");

    // The fixed source clears the hold by itself.
    std::fs::write(h.path("provisioner.toml"), cfg).unwrap();
    let out = h.sync();
    assert!(stdout(&out).contains("held 0"), "{}", stdout(&out));
    assert!(held(&h).is_empty());
    assert_eq!(channel(&h)["held"], 0);
    assert_eq!(active_users(&h), 12);
}

#[test]
fn a_csv_with_only_a_header_deprovisions_nobody_unless_the_channel_allows_empty_reads() {
    let h = off();
    h.write_config("", "");
    let cfg = std::fs::read_to_string(h.path("provisioner.toml"))
        .unwrap()
        .replace(
            r#"source = { type = "ldif", path = "directory.ldif" }"#,
            r#"source = { type = "csv", path = "people.csv" }"#,
        )
        .replace("[connections.channels.groups]\nbase_dn = \"ou=Groups,dc=example,dc=com\"\n", "");
    std::fs::write(h.path("provisioner.toml"), &cfg).unwrap();
    let header = "dn,entryUUID,objectClass,uid,givenName,sn,mail,title\n";
    let rows: String = (0..3)
        .map(|i| {
            format!(
                "\"uid=c{i},ou=People,dc=example,dc=com\",csv-{i},inetOrgPerson,c{i},C,Csv,c{i}@example.com,Analyst\n"
            )
        })
        .collect();
    std::fs::write(h.path("people.csv"), format!("{header}{rows}")).unwrap();
    h.sync();
    assert_eq!(active_users(&h), 3);
    std::fs::write(h.path("people.csv"), header).unwrap();
    // Three leavers would pass the thresholds; an empty read never does.
    let err = sync_is_held(&h, 3, 3);
    assert!(err.contains("the source returned no users"), "{err}");
    // A channel that says an empty source is legitimate lets it through.
    std::fs::write(
        h.path("provisioner.toml"),
        cfg.replace("batch_size = 10", "batch_size = 10\nallow_empty_source = true"),
    )
    .unwrap();
    let out = h.sync();
    assert!(stdout(&out).contains("disabled 3"), "{}", stdout(&out));
    assert_eq!(active_users(&h), 0);
}

#[test]
fn thirty_of_a_hundred_leaving_are_held_three_are_sent() {
    let (h, mut people) = provisioned(100);
    // 3 leave: under the default thresholds (more than 10 % and more than 5, or more than 100).
    people.retain(|p| !["p000", "p001", "p002"].contains(&p.uid.as_str()));
    h.write_ldif(&ldif(&people, &[("all", vec!["p003", "p004"])]));
    let out = h.sync();
    assert!(stdout(&out).contains("disabled 3"), "{}", stdout(&out));
    assert_eq!(active_users(&h), 97);
    // 30 more leave (and 8 members leave the group): held, while a new joiner is still created.
    let leaving: Vec<String> = people.iter().skip(3).take(30).map(|p| p.uid.clone()).collect();
    people.retain(|p| !leaving.contains(&p.uid));
    people.push(person("newbie"));
    h.write_ldif(&ldif(&people, &[("all", vec!["p003", "p004"])]));
    // `plan` shows what the guard would hold, and writes nothing.
    let plan = stdout(&h.run(&["plan"]));
    assert!(plan.contains("30 deprovisioning action(s) held") && plan.matches("HELD DELETE").count() == 30, "{plan}");
    assert!(held(&h).is_empty());
    let err = sync_is_held(&h, 30, 98);
    assert!(err.contains("more than 10% of 97 provisioned users"), "{err}");
    assert_eq!(h.user("newbie").unwrap()["active"], true, "creates still go out");
    let held = held(&h);
    let mut held_ids: Vec<String> = held.iter().map(|a| a["source_id"].as_str().unwrap().to_owned()).collect();
    held_ids.sort();
    let mut want: Vec<String> = leaving.iter().map(|u| format!("uuid-{u}")).collect();
    want.sort();
    assert_eq!(held_ids, want);
    assert!(held.iter().all(|a| a["action"] == "DELETE" && a["decision"] == "held"), "{held:?}");
    // Held again by the next cycle, with no new HELD events.
    sync_is_held(&h, 30, 98);
    assert_eq!(h.audit().iter().filter(|e| e["event_type"] == "HELD").count(), 30);
}

#[test]
fn approve_sends_exactly_the_held_set_and_a_grown_set_is_held_again() {
    let (h, mut people) = provisioned(40);
    let leaving: Vec<String> = people.iter().take(10).map(|p| p.uid.clone()).collect();
    people.retain(|p| !leaving.contains(&p.uid));
    h.write_ldif(&ldif(&people, &[("all", vec!["p010"])]));
    sync_is_held(&h, 10, 40);
    // Approve, but the set grows before the next cycle: all eleven are held again.
    let out = h.run(&["approve", "people"]);
    assert!(out.status.success() && stdout(&out).contains("approved 10"), "{}", stderr(&out));
    assert!(held(&h).iter().all(|a| a["decision"] == "approved"));
    let more = people.remove(0).uid;
    h.write_ldif(&ldif(&people, &[("all", vec!["p011"])]));
    sync_is_held(&h, 11, 40);
    assert!(held(&h).iter().all(|a| a["decision"] == "held"));
    // `approve --expect` approves only the set that was reviewed: a digest from before a cycle changed
    // the set is refused, the current one is accepted.
    let digest = |h: &Host| {
        let text = stdout(&h.run(&["held", "--no-names"]));
        let line = text.lines().find(|l| l.contains("--expect")).unwrap().to_owned();
        line.rsplit(' ').next().unwrap().to_owned()
    };
    let reviewed = digest(&h);
    let more2 = people.remove(0).uid;
    h.write_ldif(&ldif(&people, &[("all", vec!["p012"])]));
    sync_is_held(&h, 12, 40);
    let out = h.run(&["approve", "people", "--expect", &reviewed]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("changed since it was reviewed"), "{}", stderr(&out));
    assert!(held(&h).iter().all(|a| a["decision"] == "held"), "nothing was approved");
    // Approve the twelve, as reviewed now: the next cycle sends exactly them.
    let reviewed = digest(&h);
    assert!(h.run(&["approve", "people", "--expect", &reviewed]).status.success());
    let before = h.stats()["by_method"]["PATCH"].as_u64().unwrap_or(0);
    let out = h.sync();
    assert!(stdout(&out).contains("disabled 12"), "{}", stdout(&out));
    assert_eq!(active_users(&h), 28);
    for u in leaving.iter().chain([&more, &more2]) {
        assert_eq!(h.user(u).unwrap()["active"], false, "{u}");
    }
    assert!(h.stats()["by_method"]["PATCH"].as_u64().unwrap() - before >= 12);
    assert!(held(&h).is_empty());
    assert_eq!(h.run(&["approve", "people"]).status.code(), Some(1), "nothing left to approve");
}

#[test]
fn reject_keeps_everyone_until_the_source_changes_again() {
    let (h, mut people) = provisioned(20);
    // Five are disabled in the source and five leave: ten of twenty.
    for p in people.iter_mut().take(5) {
        p.locked = true;
    }
    let kept: Vec<Person> = people.drain(5..10).collect();
    h.write_ldif(&ldif(&people, &[("all", vec!["p010"])]));
    sync_is_held(&h, 10, 20);
    let out = h.run(&["reject", "people"]);
    assert!(out.status.success() && stdout(&out).contains("rejected 10"), "{}", stderr(&out));
    // The next cycles send nothing for them and are not held.
    for _ in 0..2 {
        let out = h.sync();
        assert!(stdout(&out).contains("disabled 0") && stdout(&out).contains("held 0"), "{}", stdout(&out));
        assert_eq!(active_users(&h), 20);
    }
    assert_eq!(channel(&h)["held"], 0, "rejections are not counted as held");
    // The source changes again: p000 is re-enabled (the rejection is forgotten), then disabled anew.
    people[0].locked = false;
    h.write_ldif(&ldif(&people, &[("all", vec!["p010"])]));
    h.sync();
    people[0].locked = true;
    h.write_ldif(&ldif(&people, &[("all", vec!["p010"])]));
    let out = h.sync();
    assert!(stdout(&out).contains("disabled 1"), "a new change is a new action: {}", stdout(&out));
    assert_eq!(h.user("p000").unwrap()["active"], false);
    assert_eq!(active_users(&h), 19);
    drop(kept);
}

/// An LDIF entry with a chosen email (and lock).
fn entry(uid: &str, mail: &str, locked: bool) -> String {
    format!(
        "dn: uid={uid},ou=People,dc=example,dc=com\nobjectClass: inetOrgPerson\nentryUUID: uuid-{uid}\nuid: {uid}\ngivenName: {uid}\nsn: Test\nmail: {mail}\ntitle: Impostor\nemployeeNumber: E-{uid}\n{}\n",
        if locked { "nsAccountLock: true\n" } else { "" }
    )
}

#[test]
fn a_duplicate_identifier_never_touches_the_live_account() {
    let h = off();
    h.write_config("", "");
    let base = ldif(&[person("ann"), person("bob")], &[]);
    h.write_ldif(&base);
    h.sync();
    let ann = h.user("ann").unwrap();
    for (case, extra) in [
        ("a disabled duplicate", entry("ann2", "ann@example.com", true)),
        ("an enabled duplicate", entry("ann3", "ANN@example.com", false)),
    ] {
        h.write_ldif(&format!("{base}{extra}"));
        let out = h.run(&["sync", "--once"]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", stdout(&out));
        let now = h.user("ann").unwrap();
        assert_eq!(now, ann, "{case}: the live account is untouched");
        let refused = h
            .audit()
            .into_iter()
            .rev()
            .find(|e| e["source_id"].as_str().is_some_and(|s| s.starts_with("uuid-ann") && s != "uuid-ann"))
            .unwrap();
        let cause = refused["non_success_cause"].as_str().unwrap();
        assert!(cause.contains("source id uuid-ann") && cause.contains("nothing was sent"), "{case}: {cause}");
        assert!(!cause.contains("ann@example.com"), "no attribute value in the cause: {cause}");
        assert_eq!(h.users().len(), 3, "{case}: ann, bob and the owner; nothing created");
    }
    // The state never gives one Slack id to two records, and the refused record has none.
    let shared = h.state_query(
        "SELECT COUNT(*) FROM (SELECT target_id FROM users WHERE target_id IS NOT NULL GROUP BY target_id HAVING COUNT(*) > 1) d",
    );
    assert_eq!(shared[0][0].as_deref(), Some("0"));
    let target = h.state_query("SELECT target_id FROM users WHERE source_id = 'uuid-ann3'");
    assert_eq!(target[0][0], None);
    // The schema enforces it too: a second row with ann's Slack id is refused by the unique index.
    let ann_id = ann["id"].as_str().unwrap();
    let forced = h.state_execute(&format!("UPDATE users SET target_id = '{ann_id}' WHERE source_id = 'uuid-bob'"));
    assert!(forced.is_err(), "the state's unique index refuses two records on one account");
}

#[test]
fn a_duplicate_across_two_channels_of_one_connection_is_refused() {
    // The second channel without groups, then with (its cycle loads the other channels' identifiers
    // beside the read).
    for groups in ["", "[connections.channels.groups]\nbase_dn = \"ou=Groups,dc=example,dc=com\"\n"] {
        let case = if groups.is_empty() { "without groups" } else { "with groups" };
        let h = off();
        h.write_config("", "");
        let cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
        // A second channel of the same connection reads contractors from another file.
        let second = format!(
            r#"
[[connections.channels]]
name = "contractors"
source = {{ type = "ldif", path = "contractors.ldif" }}
[connections.channels.location]
base_dn = "ou=People,dc=example,dc=com"
{groups}[connections.channels.mapping]
userName = {{ attribute = "uid" }}
primaryEmail = {{ attribute = "mail" }}
title = {{ attribute = "title" }}
"#
        );
        std::fs::write(h.path("provisioner.toml"), format!("{cfg}{second}")).unwrap();
        h.write_ldif(&ldif(&[person("ann")], &[]));
        std::fs::write(
            h.path("contractors.ldif"),
            format!("version: 1\n\n{}", entry("ann.c", "ann@example.com", false)),
        )
        .unwrap();
        let out = h.run(&["sync", "--once"]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", stdout(&out));
        let ann = h.user("ann").unwrap();
        assert_eq!(ann["title"], "Engineer", "{case}: the live account keeps its attributes");
        assert!(h.user("ann.c").is_none(), "{case}");
        let cause =
            h.audit().into_iter().find(|e| e["source_id"] == "uuid-ann.c").unwrap()["non_success_cause"].clone();
        assert!(
            cause.as_str().unwrap().contains("in channel `people`")
                && cause.as_str().unwrap().contains("nothing was sent"),
            "{case}: {cause}"
        );
        // A second cycle: still refused, still untouched.
        h.run(&["sync", "--once"]);
        assert_eq!(h.user("ann").unwrap(), ann, "{case}");
    }
}

/// Turning an option off, then on, provisions on the next cycle what was skipped, with no reset.
#[test]
fn options_turned_off_then_on_re_converge() {
    for (option, setting) in [
        ("User Create", "userCreate = false"),
        ("User Update", "userUpdate = false"),
        ("User Disable", "userDisable = false"),
        ("Group Provisioning", "groupProvisioning = false"),
    ] {
        let h = off();
        h.write_config("", "");
        let mut people = vec![person("ann"), person("bob")];
        h.write_ldif(&ldif(&people, &[]));
        h.sync();
        h.write_config(setting, "");
        match option {
            "User Create" => people.push(person("cat")),
            "User Update" => people[0].title = "Director".into(),
            "User Disable" => people[1].locked = true,
            _ => {}
        }
        let groups: Vec<(&str, Vec<&str>)> = vec![("crew", vec!["ann"])];
        h.write_ldif(&ldif(&people, &groups));
        let out = h.sync();
        assert!(stdout(&out).contains("skipped"), "{option}: {}", stdout(&out));
        // Still skipped, and not resent, while the option stays off.
        let before = h.stats()["requests_total"].as_u64().unwrap();
        let out = h.sync();
        assert!(stdout(&out).contains("skipped 0"), "{option}: not resent: {}", stdout(&out));
        assert_eq!(h.stats()["requests_total"].as_u64().unwrap(), before, "{option}");
        let check = |on: bool| match option {
            "User Create" => assert_eq!(h.user("cat").is_some(), on, "{option}"),
            "User Update" => assert_eq!(h.user("ann").unwrap()["title"] == "Director", on, "{option}"),
            "User Disable" => assert_eq!(h.user("bob").unwrap()["active"] == false, on, "{option}"),
            _ => assert_eq!(h.groups().iter().any(|g| g["displayName"] == "crew"), on, "{option}"),
        };
        check(false);
        h.write_config("", "");
        let out = h.sync();
        assert!(out.status.success(), "{option}: {}", stderr(&out));
        check(true);
    }
}

#[test]
fn the_unique_user_identifier_is_fixed_per_connection() {
    let h = off();
    h.write_config("", "");
    h.write_ldif(&ldif(&[person("ann")], &[]));
    h.sync();
    h.write_config("uniqueUserIdentifier = \"userName\"", "");
    let out = h.run(&["sync", "--once"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("now userName") && err.contains("matched to their accounts by primaryEmail"), "{err}");
    assert!(err.contains("provisioner reset"), "{err}");
    // Read-only commands still work.
    assert!(h.run(&["channels"]).status.success());
    // After a reset the next cycle re-matches by the new identifier, without duplicates.
    assert!(h.run(&["reset", "people"]).status.success());
    h.sync();
    assert_eq!(h.users().iter().filter(|u| u["userName"] == "ann").count(), 1);
}

#[test]
fn thresholds_are_configurable_per_channel() {
    let (h, mut people) = provisioned(30);
    let cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
    std::fs::write(
        h.path("provisioner.toml"),
        format!("{cfg}\n[connections.channels.deprovision_guard]\nmax_count = 2\n"),
    )
    .unwrap();
    people.truncate(27);
    let ten = names(10);
    h.write_ldif(&ldif(&people, &[("all", ten.iter().map(String::as_str).collect())]));
    let err = sync_is_held(&h, 3, 30);
    assert!(err.contains("or more than 2)"), "{err}");
    // Turned off, the same change goes out.
    std::fs::write(
        h.path("provisioner.toml"),
        format!("{cfg}\n[connections.channels.deprovision_guard]\nenabled = false\n"),
    )
    .unwrap();
    let out = h.sync();
    assert!(stdout(&out).contains("disabled 3"), "{}", stdout(&out));
    // A bad threshold is a configuration error naming the key.
    std::fs::write(
        h.path("provisioner.toml"),
        format!("{cfg}\n[connections.channels.deprovision_guard]\nmax_percent = 250.0\n"),
    )
    .unwrap();
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("deprovision_guard.max_percent"), "{}", stderr(&out));
}

#[test]
fn mass_member_removals_are_held_while_additions_go_out() {
    let (h, people) = provisioned(20);
    let before = h.group_members("all");
    assert_eq!(before.len(), 10);
    // Nine of ten members leave the group, one joins.
    h.write_ldif(&ldif(&people, &[("all", vec!["p000", "p015"])]));
    sync_is_held(&h, 9, 20);
    let mut members = before.clone();
    members.push("p015".into());
    members.sort();
    assert_eq!(h.group_members("all"), members, "the removals are held, the addition went out");
    let held = held(&h);
    assert_eq!(held.len(), 9);
    assert!(held.iter().all(|a| a["action"] == "MEMBER_REMOVE" && a["name"] == "all"), "{held:?}");
    assert!(h.run(&["approve", "people"]).status.success());
    h.sync();
    assert_eq!(h.group_members("all"), vec!["p000", "p015"]);
    assert!(held_is_empty(&h));
}

/// Enough memberships (180 groups of 120: 21,600) that the groups are expanded and predicted in two
/// parts on two threads: the guard still counts every removal of both parts, and the additions of both
/// go out.
#[test]
fn member_removals_are_counted_whole_when_many_large_groups_are_decided_in_parts() {
    let h = off();
    h.write_config("", "");
    let mut people: Vec<Person> = names(120).iter().map(|u| person(u)).collect();
    let everyone: Vec<String> = names(120);
    let group_names: Vec<String> = (0..180).map(|g| format!("team{g:03}")).collect();
    let groups = |members: &dyn Fn(usize) -> Vec<String>| -> Vec<(String, Vec<String>)> {
        group_names.iter().enumerate().map(|(g, n)| (n.clone(), members(g))).collect()
    };
    let write = |people: &[Person], groups: &[(String, Vec<String>)]| {
        let refs: Vec<(&str, Vec<&str>)> =
            groups.iter().map(|(n, m)| (n.as_str(), m.iter().map(String::as_str).collect())).collect();
        h.write_ldif(&ldif(people, &refs));
    };
    write(&people, &groups(&|_| everyone.clone()));
    h.sync();
    assert_eq!(h.groups().len(), 180);
    for g in ["team000", "team089", "team090", "team179"] {
        assert_eq!(h.group_members(g), everyone, "{g}");
    }
    // p000 leaves the last 135 groups (both parts), p001 the first ten; a newcomer joins every group.
    people.push(person("p120"));
    let after = |g: usize| -> Vec<String> {
        let leaves = |u: &str| (g >= 45 && u == "p000") || (g < 10 && u == "p001");
        let mut m: Vec<String> = everyone.iter().filter(|u| !leaves(u)).cloned().collect();
        m.push("p120".into());
        m
    };
    write(&people, &groups(&after));
    sync_is_held(&h, 145, 121);
    let held = held(&h);
    assert_eq!(held.len(), 145);
    assert!(held.iter().all(|a| a["action"] == "MEMBER_REMOVE"), "{held:?}");
    for (g, leaver) in [("team000", "p001"), ("team009", "p001"), ("team045", "p000"), ("team179", "p000")] {
        let (group, member) = (format!("group-{g}"), format!("uuid-{leaver}"));
        assert!(held.iter().any(|a| a["source_id"] == group && a["member_id"] == member), "{g} {leaver}: {held:?}");
    }
    let mut with_newcomer = everyone.clone();
    with_newcomer.push("p120".into());
    for g in ["team000", "team179"] {
        assert_eq!(h.group_members(g), with_newcomer, "{g}: the removals are held, the addition went out");
    }
    assert!(h.run(&["approve", "people"]).status.success());
    h.sync();
    for g in [0, 9, 10, 44, 45, 90, 179] {
        assert_eq!(h.group_members(&group_names[g]), after(g), "{}", group_names[g]);
    }
    assert!(held_is_empty(&h));
}

fn held_is_empty(h: &Host) -> bool {
    held(h).is_empty()
}

/// A group read that finds nothing while groups are provisioned (a group filter with a typo) deletes no
/// group: group deletes are judged against the provisioned groups, whatever the number of users.
#[test]
fn a_group_filter_matching_nothing_deletes_no_group() {
    let h = off();
    h.write_config("", "");
    // 200 users: 8 deletes are far under 10 % of the users, but all of the groups.
    let people: Vec<Person> = names(200).iter().map(|u| person(u)).collect();
    let groups: Vec<(String, Vec<&str>)> = (0..8).map(|g| (format!("team{g}"), vec!["p000", "p001"])).collect();
    let groups_ref: Vec<(&str, Vec<&str>)> = groups.iter().map(|(n, m)| (n.as_str(), m.clone())).collect();
    h.write_ldif(&ldif(&people, &groups_ref));
    h.sync();
    assert_eq!(h.groups().len(), 8);
    let cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
    std::fs::write(
        h.path("provisioner.toml"),
        cfg.replace("[connections.channels.groups]\nbase_dn = \"ou=Groups,dc=example,dc=com\"", "[connections.channels.groups]\nbase_dn = \"ou=Groups,dc=example,dc=com\"\nfilter = \"(objectClass=groupOfNamez)\""),
    )
    .unwrap();
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("8 deprovisioning action(s) held"), "{}", stderr(&out));
    assert!(stderr(&out).contains("of 8 provisioned groups"), "{}", stderr(&out));
    assert_eq!(h.groups().len(), 8, "no group deleted");
}

/// Two userNames that Slack stores as one (`j smith` and `j_smith`) are duplicates: the second record is
/// refused and never links to, or changes, the first person's account.
#[test]
fn user_names_slack_would_store_as_one_are_duplicates() {
    let h = off();
    h.write_config("uniqueUserIdentifier = \"userName\"", "");
    let first = person("j_smith");
    h.write_ldif(&ldif(&[first], &[]));
    h.sync();
    let before = h.user("j_smith").unwrap();
    let mut other = person("j smith");
    other.title = "Impostor".into();
    h.write_ldif(&ldif(&[person("j_smith"), other], &[]));
    let planned = stdout(&h.run(&["plan"]));
    assert!(planned.contains("REFUSED CREATE") && planned.contains("uuid-j smith: duplicate_identifier"), "{planned}");
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(h.user("j_smith").unwrap(), before, "the live account is untouched");
    let refused = h.audit().into_iter().find(|e| e["source_id"] == "uuid-j smith").unwrap();
    assert!(refused["non_success_cause"].as_str().unwrap().contains("duplicate_identifier"), "{refused}");
}

/// Two source groups with one name never share one Slack group: the second is refused (or fails), the
/// first keeps its members, and the cycle itself does not fail on the state's unique index.
#[test]
fn two_source_groups_with_one_name_never_share_a_slack_group() {
    let h = off();
    h.write_config("", "");
    let mut text = ldif(&[person("ga"), person("gb")], &[]);
    let group = |ou: &str, member: &str| {
        format!(
            "dn: cn=team,ou={ou},ou=Groups,dc=example,dc=com\nobjectClass: groupOfNames\nentryUUID: group-{ou}\ncn: team\nmember: uid={member},ou=People,dc=example,dc=com\n\n"
        )
    };
    // The first group is provisioned; the second, with the same name, appears later: looked up by
    // name, it would be matched to the first one's Slack group.
    text.push_str(&group("A", "ga"));
    h.write_ldif(&text);
    h.sync();
    text.push_str(&group("B", "gb"));
    h.write_ldif(&text);
    for _ in 0..2 {
        let out = h.run(&["sync", "--once"]);
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(!o.contains("cycle failed") && !e.contains("UNIQUE"), "{o}\n{e}");
    }
    let teams: Vec<Value> = h.groups().into_iter().filter(|g| g["displayName"] == "team").collect();
    let linked = h.state_query("SELECT COUNT(*) FROM groups WHERE target_id IS NOT NULL AND status != 'removed'");
    assert_eq!(linked[0][0], Some(teams.len().to_string()), "one record per Slack group: {teams:?}");
    let b = h.audit().into_iter().rev().find(|e| e["source_id"] == "group-B").unwrap();
    assert!(b["non_success_cause"].as_str().unwrap_or("").contains("duplicate_group_name"), "{b}");
    assert_eq!(h.group_members("team"), ["ga"], "refused before it was sent: the first group kept its member");
}

/// The audit log cannot be written mid-cycle (a full disk): the cycle fails, and the batches not yet
/// sent are not sent (nothing reaches Slack that the state and the audit log do not record).
#[test]
fn an_audit_write_failure_stops_the_sends() {
    let h = Host::new(slack_sim::SimConfig { rate_limits: false, ..slack_sim::SimConfig::default() });
    h.write_config("", "");
    h.edit_config("\"audit.jsonl\"", "\"/dev/full\"");
    let people: Vec<Person> = (0..2000).map(|i| person(&format!("u{i:04}"))).collect();
    h.write_ldif(&ldif(&people, &[]));
    let out = h.run(&["sync", "--once"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let created = h.stats()["by_endpoint"]["POST /Users"].as_u64().unwrap_or(0);
    // Batches of 10 on one thread: the first batch's audit write fails; the worker may have run a few
    // batches ahead while it was being settled (more on a slower state engine), then stops: not the
    // 200 batches it would send if the error did not reach it.
    assert!(created < 1000, "{created} of 2,000 users were created after the audit log failed");
}

/// A group entry with its own source id (entryUUID) and display name (cn).
fn group(id: &str, cn: &str, ou: &str, members: &[&str]) -> String {
    let mut s =
        format!("dn: cn={cn},{ou}ou=Groups,dc=example,dc=com\nobjectClass: groupOfNames\nentryUUID: {id}\ncn: {cn}\n");
    for m in members {
        s.push_str(&format!("member: uid={m},ou=People,dc=example,dc=com\n"));
    }
    s + "\n"
}

#[test]
fn a_second_group_with_the_same_name_does_not_take_over_the_first() {
    let h = Host::new(SimConfig::default());
    h.write_config("", "");
    let people: Vec<Person> = ["a", "b", "c", "d"].iter().map(|u| person(u)).collect();
    let base = ldif(&people, &[]) + &group("g-1", "Engineering", "", &["a", "b"]);
    h.write_ldif(&base);
    h.sync();
    assert_eq!(h.group_members("Engineering"), ["a", "b"]);

    // Another source group, elsewhere under the groups' base, has the same name but for its case: the
    // connector would adopt the first one's Slack group (looked up by name) and overwrite its members.
    let dup = group("g-2", "ENGINEERING", "ou=Sales,", &["c", "d"]);
    h.write_ldif(&format!("{base}{dup}"));
    // `plan` says so first (with the reason, without the name).
    let planned = stdout(&h.run(&["plan"]));
    assert!(planned.contains("REFUSED GROUP_CREATE") && planned.contains("g-2: duplicate_group_name"), "{planned}");
    assert!(!planned.to_lowercase().contains("engineering"), "{planned}");
    let json: Value = serde_json::from_slice(&h.run(&["plan", "--json"]).stdout).unwrap();
    assert_eq!(json[0]["refused"][0]["source_id"], "g-2", "{json}");
    let out = h.run(&["sync", "--once"]);
    assert!(!out.status.success(), "a refused record fails the run: {}", stdout(&out));
    assert_eq!(h.group_members("Engineering"), ["a", "b"], "the first group is untouched");
    assert_eq!(h.groups().len(), 1, "no second group");
    let cause = |id: &str| -> String {
        let events: Vec<Value> = h.audit().into_iter().filter(|e| e["source_id"] == id).collect();
        events.last().map(|e| e["non_success_cause"].as_str().unwrap_or_default().to_owned()).unwrap_or_default()
    };
    let why = cause("g-2");
    assert!(why.contains("duplicate_group_name") && why.contains("g-1"), "{why}");
    assert!(!why.to_lowercase().contains("engineering"), "the name is a value, never in an error: {why}");
    let err = h.state_query("SELECT last_error FROM groups WHERE source_id = 'g-2'");
    assert!(err[0][0].as_deref().unwrap().contains("duplicate_group_name"));

    // Two new groups with one name: neither is sent (which one the name belongs to is not ours to pick).
    let twins = group("g-3", "Ops", "ou=A,", &["a"]) + &group("g-4", "ops", "ou=B,", &["b"]);
    h.write_ldif(&format!("{base}{twins}"));
    let out = h.run(&["sync", "--once"]);
    assert!(!out.status.success());
    assert_eq!(h.groups().len(), 1, "neither twin was created");
    assert!(cause("g-3").contains("g-4") && cause("g-4").contains("g-3"));

    // Named apart, both go out; the first group still has its members.
    let apart = group("g-3", "Ops", "ou=A,", &["a"]) + &group("g-4", "Ops B", "ou=B,", &["b"]);
    h.write_ldif(&format!("{base}{apart}"));
    h.sync();
    assert_eq!(h.group_members("Ops"), ["a"]);
    assert_eq!(h.group_members("Ops B"), ["b"]);
    assert_eq!(h.group_members("Engineering"), ["a", "b"]);
}

#[test]
fn a_name_a_group_still_has_in_slack_is_not_taken_until_its_rename_or_delete_settles() {
    let h = Host::new(SimConfig::default());
    h.write_config("", "");
    // Any group delete is held (the guard's minimum count is 0), so the one below stays pending.
    let mut cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
    cfg.push_str("\n[connections.channels.deprovision_guard]\nmin_count = 0\n");
    std::fs::write(h.path("provisioner.toml"), cfg).unwrap();
    let people: Vec<Person> = ["a", "b", "c"].iter().map(|u| person(u)).collect();
    let three = group("g-1", "Engineering", "", &["a", "b"])
        + &group("g-2", "Sales", "", &["a"])
        + &group("g-3", "Ops", "", &["a"]);
    h.write_ldif(&(ldif(&people, &[]) + &three));
    h.sync();

    // g-1 is renamed in the source while a new group takes its old name, in the same cycle: the
    // connector would find g-1's Slack group by that name before (or whether or not) the rename lands.
    let renamed = group("g-1", "Platform", "", &["a", "b"])
        + &group("g-2", "Sales", "", &["a"])
        + &group("g-3", "Ops", "", &["a"])
        + &group("g-5", "Engineering", "ou=New,", &["c"]);
    h.write_ldif(&(ldif(&people, &[]) + &renamed));
    let out = h.run(&["sync", "--once"]);
    assert!(!out.status.success());
    assert_eq!(h.group_members("Platform"), ["a", "b"], "renamed, members kept");
    assert!(h.groups().iter().all(|g| g["displayName"] != "Engineering"), "{:?}", h.groups());
    // Once the rename has settled, the name is free.
    h.sync();
    assert_eq!(h.group_members("Engineering"), ["c"]);
    assert_eq!(h.group_members("Platform"), ["a", "b"]);

    // A group the source no longer has, whose delete the guard holds, keeps its name in Slack: a new
    // group with that name is refused (it would take the held group over and overwrite its members).
    let without_sales = group("g-1", "Platform", "", &["a", "b"])
        + &group("g-3", "Ops", "", &["a"])
        + &group("g-5", "Engineering", "ou=New,", &["c"])
        + &group("g-6", "SALES", "ou=New,", &["b", "c"]);
    h.write_ldif(&(ldif(&people, &[]) + &without_sales));
    let out = h.run(&["sync", "--once"]);
    assert!(!out.status.success());
    assert_eq!(h.group_members("Sales"), ["a"], "the held group is untouched");
    assert!(h.groups().iter().all(|g| g["displayName"] != "SALES"));
    let last = h.audit().into_iter().rev().find(|e| e["source_id"] == "g-6").unwrap();
    assert!(last["non_success_cause"].as_str().unwrap().contains("g-2"), "{last}");
}

/// The users' rows load beside the read (with groups) or before it (without): when they cannot be
/// read, the read's entries are never decided against missing rows. The cycle fails with the state's
/// error and sends nothing, whatever the directory now says (here: everyone changed, one person gone).
#[test]
fn users_rows_that_cannot_be_read_fail_the_cycle_before_anything_is_sent() {
    for groups in [true, false] {
        let case = if groups { "with groups" } else { "without groups" };
        let h = off();
        h.write_config("", "");
        if !groups {
            h.edit_config("[connections.channels.groups]\nbase_dn = \"ou=Groups,dc=example,dc=com\"\n", "");
        }
        h.write_ldif(&ldif(&[person("ann"), person("bob")], &[("team", vec!["ann", "bob"])]));
        h.sync();
        // A row the state cannot decode (written by hand, or by a newer version).
        h.state_execute("UPDATE users SET status = 'archived' WHERE source_id = 'uuid-bob'").unwrap();
        let changed = ldif(&[person("ann")], &[("team", vec!["ann"])]).replace("Engineer", "Director");
        h.write_ldif(&changed);
        let before = h.stats()["requests_total"].as_u64().unwrap();
        let out = h.run(&["sync", "--once"]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", stdout(&out));
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(said.contains("unknown status `archived`"), "{case}: the state's error is named: {said}");
        assert_eq!(h.stats()["requests_total"].as_u64().unwrap(), before, "{case}: nothing sent");
        assert_eq!(h.user("bob").unwrap()["active"], true, "{case}");
        assert_eq!(h.user("ann").unwrap()["title"], "Engineer", "{case}");
    }
}
