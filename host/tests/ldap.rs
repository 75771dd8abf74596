//! A live OpenLDAP `slapd` as the channel source, against slack-sim, through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::slapd::{dn, group_ldif, person_ldif, Slapd, READER, READER_PW, SUFFIX};
use common::*;
use slack_sim::SimConfig;

fn config(h: &Host, s: &Slapd, change_detection: &str, page_size: u32) {
    config_tls(h, &s.url(), "", change_detection, page_size)
}

/// `tls` holds extra source lines (`starttls = true`, `ca_certificate = "..."`).
fn config_tls(h: &Host, url: &str, tls: &str, change_detection: &str, page_size: u32) {
    config_edit(h, url, tls, change_detection, page_size, &[]);
}

/// The config with text replacements (`from`, `to`) applied.
fn config_edit(h: &Host, url: &str, tls: &str, change_detection: &str, page_size: u32, edits: &[(&str, &str)]) {
    let cfg = format!(
        r#"
[engine]
state_db = "state.db"
audit_log = "audit.jsonl"
retry_backoff_seconds = 0

{connection}
[[connections.channels]]
name = "directory"
batch_size = 500
id_attribute = "entryUUID"
[connections.channels.source]
type = "ldap"
url = "{url}"
bind_dn = "{READER}"
bind_password = {{ env = "E2E_LDAP_PASSWORD" }}
change_detection = "{change_detection}"
page_size = {page_size}
{tls}
[connections.channels.location]
base_dn = "ou=People,{SUFFIX}"
filter = "(&(objectClass=inetOrgPerson)(!(description=contractor)))"
[connections.channels.account_status]
algorithm = "flag"
attribute = "employeeType"
disabled_value = "disabled"
[connections.channels.groups]
base_dn = "ou=Groups,{SUFFIX}"
filter = "(objectClass=groupOfNames)"
member_attribute = "member"
nested = true
[connections.channels.mapping]
userName = {{ attribute = "uid" }}
primaryEmail = {{ attribute = "mail" }}
givenName = {{ attribute = "givenName" }}
familyName = {{ attribute = "sn" }}
title = {{ attribute = "title" }}
"#,
        connection = test_support::config::slack_connection(
            "slack",
            &slack_connector(),
            &h.sim.base_url(),
            "E2E_SLACK_TOKEN",
            "maxConcurrency = 16"
        ),
    );
    let cfg = edits.iter().fold(cfg, |c, (from, to)| {
        assert!(c.contains(from), "`{from}` not in the config");
        c.replace(from, to)
    });
    std::fs::write(h.path("provisioner.toml"), cfg).unwrap();
}

fn sync(h: &Host) -> String {
    let out = h.cmd(&["sync", "--once"]).env("E2E_LDAP_PASSWORD", READER_PW).output().unwrap();
    let s = stdout(&out);
    assert!(out.status.success(), "{s}\n{}", stderr(&out));
    s
}

#[test]
fn ldap_channel_lifecycle_with_incremental_change_detection() {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    let s = Slapd::start(h.dir.path());
    config(&h, &s, "timestamp", 100);
    let mut ldif = String::new();
    for u in ["amy", "ben", "cat", "dan", "eli"] {
        ldif.push_str(&person_ldif(u, "People", ""));
    }
    ldif.push_str(&group_ldif("devs", &[dn("amy"), dn("ben")]));
    ldif.push_str(&group_ldif("eng", &[format!("cn=devs,ou=Groups,{SUFFIX}"), dn("cat")]));
    s.add(&ldif);
    let out = sync(&h);
    assert!(out.contains("created 7"), "5 users + 2 groups: {out}");
    assert_eq!(h.group_members("eng"), vec!["amy", "ben", "cat"], "nested group expanded");

    // Nothing changed: the incremental read finds nothing, no target request.
    let before = h.stats()["requests_total"].as_u64().unwrap();
    let out = sync(&h);
    assert!(out.contains("created 0, updated 0"), "{out}");
    assert_eq!(h.stats()["requests_total"].as_u64().unwrap(), before);

    // Modify, rename (modrdn keeps entryUUID), disable by flag, delete, move out of the filter, membership.
    let amy_id = h.user("amy").unwrap()["id"].clone();
    s.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: title\ntitle: Staff Engineer\n\n\
         dn: {}\nchangetype: modrdn\nnewrdn: uid=benjamin\ndeleteoldrdn: 0\n\n\
         dn: {}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n\n\
         dn: {}\nchangetype: delete\n\n\
         dn: {}\nchangetype: modify\nadd: description\ndescription: contractor\n\n\
         dn: cn=devs,ou=Groups,{SUFFIX}\nchangetype: modify\ndelete: member\nmember: {}\nmember: {}\n-\nadd: member\nmember: uid=benjamin,ou=People,{SUFFIX}\n",
        dn("amy"), dn("ben"), dn("cat"), dn("dan"), dn("eli"), dn("amy"), dn("ben")
    ));
    // (Without the refint overlay slapd does not rewrite member DNs on a rename; the edit above does.)
    let out = sync(&h);
    assert!(out.contains("updated") && out.contains("disabled 3"), "{out}");
    assert_eq!(h.user("amy").unwrap()["title"], "Staff Engineer");
    assert_eq!(h.user("amy").unwrap()["id"], amy_id);
    assert_eq!(h.user("ben").unwrap()["active"], true, "a rename is an update, not delete-and-create");
    assert_eq!(h.user("cat").unwrap()["active"], false, "disabled by flag");
    assert_eq!(h.user("dan").unwrap()["active"], false, "deleted in the directory");
    assert_eq!(h.user("eli").unwrap()["active"], false, "moved out of the filter, detected without another change");
    assert_eq!(h.group_members("devs"), vec!["ben"]);
    assert_eq!(h.users().len(), 6, "no duplicate after the rename");
    // The incremental read fetched only the changed entries: the audit shows one event per change.
    let audit = h.audit();
    let last = audit.last().unwrap()["cycle_id"].clone();
    assert!(audit.iter().filter(|e| e["cycle_id"] == last).count() <= 8);

    // Add a member back.
    s.modify(&format!("dn: cn=devs,ou=Groups,{SUFFIX}\nchangetype: modify\nadd: member\nmember: {}\n", dn("amy")));
    sync(&h);
    assert_eq!(h.group_members("devs"), vec!["amy", "ben"]);
}

#[test]
fn paged_reads_over_5000_entries() {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    let s = Slapd::start(h.dir.path());
    config(&h, &s, "none", 500);
    let mut ldif = String::new();
    for i in 0..5200 {
        ldif.push_str(&person_ldif(&format!("p{i:05}"), "People", ""));
    }
    s.add(&ldif);
    let out = sync(&h);
    assert!(out.contains("created 5200"), "the reader's size limit is 1,000: only paging reads them all: {out}");
    assert_eq!(h.users().len(), 5201);
}

#[test]
fn a_directory_that_is_down_or_refuses_the_bind_changes_nothing_and_the_next_cycle_resumes() {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    let mut s = Slapd::start(h.dir.path());
    config(&h, &s, "timestamp", 100);
    s.add(&(person_ldif("ann", "People", "") + &person_ldif("bo", "People", "")));
    sync(&h);
    let writes = h.stats()["writes"].as_u64().unwrap();

    let bad = h.cmd(&["sync", "--once"]).env("E2E_LDAP_PASSWORD", "wrong-password").output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(stdout(&bad).contains("bind as cn=reader") && stdout(&bad).contains("refused"), "{}", stdout(&bad));
    assert!(!stdout(&bad).contains("wrong-password") && !stderr(&bad).contains("wrong-password"));

    s.stop();
    let down = h.cmd(&["sync", "--once"]).env("E2E_LDAP_PASSWORD", READER_PW).output().unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(stdout(&down).contains("cannot connect"), "{}", stdout(&down));
    assert_eq!(h.stats()["writes"].as_u64().unwrap(), writes, "nothing deprovisioned while the directory is away");
    assert!(h.users().iter().all(|u| u["active"] == true));

    s.run();
    s.add(&person_ldif("cy", "People", ""));
    let out = sync(&h);
    assert!(out.contains("created 1"), "{out}");
    let all = String::from_utf8_lossy(&std::fs::read(h.path("audit.jsonl")).unwrap()).into_owned();
    assert!(!all.contains(READER_PW));
}

#[test]
fn tls_ldaps_and_starttls_verify_the_server_certificate() {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    let s = Slapd::start_tls(h.dir.path());
    s.add(&person_ldif("tls1", "People", ""));
    let ca = format!("ca_certificate = \"{}\"", s.ca().display());
    // ldaps:// with the CA.
    config_tls(&h, &s.ldaps_url(), &ca, "none", 100);
    assert!(sync(&h).contains("created 1"));
    // StartTLS on ldap:// with the CA.
    s.add(&person_ldif("tls2", "People", ""));
    config_tls(&h, &s.url(), &format!("starttls = true\n{ca}"), "none", 100);
    assert!(sync(&h).contains("created 1"));
    // Verification stays on: without the CA the server's certificate is refused and nothing changes.
    s.add(&person_ldif("tls3", "People", ""));
    config_tls(&h, &s.ldaps_url(), "", "none", 100);
    let out = h.cmd(&["sync", "--once"]).env("E2E_LDAP_PASSWORD", READER_PW).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("cannot connect"), "{}", stdout(&out));
    assert!(stdout(&out).to_lowercase().contains("certificate"), "the message says why: {}", stdout(&out));
    assert!(h.user("tls3").is_none());
    config_tls(&h, &s.url(), "starttls = true", "none", 100);
    let out = h.cmd(&["sync", "--once"]).env("E2E_LDAP_PASSWORD", READER_PW).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

/// A loopback proxy to `target` that closes both sides once `limit` bytes have come back from it:
/// the directory "goes down" in the middle of a read.
fn cutting_proxy(target: u16, limit: usize) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let server = std::net::TcpStream::connect(("127.0.0.1", target)).unwrap();
            let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let (mut s_read, mut c_write) = (server, client);
            let mut sent = 0;
            let mut buf = [0u8; 4096];
            while let Ok(n) = s_read.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let n = n.min(limit.saturating_sub(sent));
                if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                    break;
                }
                sent += n;
            }
            let _ = c_write.shutdown(std::net::Shutdown::Both);
            let _ = s_read.shutdown(std::net::Shutdown::Both);
        }
    });
    port
}

#[test]
fn the_directory_going_down_mid_read_changes_nothing() {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    let s = Slapd::start(h.dir.path());
    let mut ldif = String::new();
    for i in 0..400 {
        ldif.push_str(&person_ldif(&format!("m{i:03}"), "People", ""));
    }
    s.add(&ldif);
    config(&h, &s, "none", 50);
    assert!(sync(&h).contains("created 400"));
    let writes = h.stats()["writes"].as_u64().unwrap();
    // Through a proxy that dies after ~30 kB of answers: the read stops part way through the pages.
    let proxy = cutting_proxy(s.port, 30_000);
    config_tls(&h, &format!("ldap://127.0.0.1:{proxy}"), "", "none", 50);
    let out = h.cmd(&["sync", "--once"]).env("E2E_LDAP_PASSWORD", READER_PW).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("search interrupted"), "cut part way through the pages: {}", stdout(&out));
    assert_eq!(h.stats()["writes"].as_u64().unwrap(), writes, "a partial read deprovisions nobody");
    assert!(h.users().iter().all(|u| u["active"] == true));
    // The directory is back: the next cycle resumes and finds nothing to do.
    config(&h, &s, "none", 50);
    let out = sync(&h);
    assert!(out.contains("created 0, updated 0") && out.contains("disabled 0"), "{out}");
}

/// A bind whose ACL hides the people (the search succeeds with no entries) deprovisions nobody: the
/// empty read is held by the guard.
#[test]
fn a_bind_that_sees_no_users_deprovisions_nobody() {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    let mut s = Slapd::start(h.dir.path());
    config(&h, &s, "none", 100);
    let mut ldif = String::new();
    for u in ["amy", "ben", "cat", "dan", "eli", "fay", "gus"] {
        ldif.push_str(&person_ldif(u, "People", ""));
    }
    s.add(&ldif);
    let out = sync(&h);
    assert!(out.contains("created 7"), "{out}");
    s.hide_people_from_reader();
    let out = h.cmd(&["sync", "--once"]).env("E2E_LDAP_PASSWORD", READER_PW).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{}\n{err}", stdout(&out));
    assert!(err.contains("7 deprovisioning action(s) held") && err.contains("the source returned no users"), "{err}");
    assert_eq!(h.users().iter().filter(|u| u["active"] == true).count(), 8, "seven people and the owner stay active");
}

fn slack_names(h: &Host) -> Vec<String> {
    let mut v: Vec<String> = h
        .users()
        .into_iter()
        .filter(|u| u["active"] == true && u["userName"] != "primary.owner")
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

/// A group DN location, nested or not: only (transitive) members are provisioned, and leaving the
/// group deprovisions.
#[test]
fn a_group_dn_location_nested_or_not_and_leaving_it() {
    for nested in [false, true] {
        let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
        let s = Slapd::start(h.dir.path());
        let location = format!(
            "[connections.channels.location]\nbase_dn = \"ou=People,{SUFFIX}\"\ngroup_dn = \"cn=slack-users,ou=Groups,{SUFFIX}\"\nnested = {nested}\nfilter = \"(objectClass=inetOrgPerson)\""
        );
        config_edit(
            &h,
            &s.url(),
            "",
            "none",
            100,
            &[(
                &format!("[connections.channels.location]\nbase_dn = \"ou=People,{SUFFIX}\"\nfilter = \"(&(objectClass=inetOrgPerson)(!(description=contractor)))\""),
                &location,
            )],
        );
        let mut ldif = String::new();
        for u in ["ann", "bob", "cyd", "dot"] {
            ldif.push_str(&person_ldif(u, "People", ""));
        }
        ldif.push_str(&group_ldif("inner", &[dn("cyd")]));
        ldif.push_str(&group_ldif("slack-users", &[dn("ann"), dn("bob"), format!("cn=inner,ou=Groups,{SUFFIX}")]));
        s.add(&ldif);
        sync(&h);
        let want: Vec<&str> = if nested { vec!["ann", "bob", "cyd"] } else { vec!["ann", "bob"] };
        assert_eq!(slack_names(&h), want, "nested = {nested}");
        // bob leaves the group: deprovisioned (Remove User Action Disable), dot is never provisioned.
        s.modify(&format!(
            "dn: cn=slack-users,ou=Groups,{SUFFIX}\nchangetype: modify\ndelete: member\nmember: {}\n",
            dn("bob")
        ));
        sync(&h);
        let want: Vec<&str> = if nested { vec!["ann", "cyd"] } else { vec!["ann"] };
        assert_eq!(slack_names(&h), want, "nested = {nested}: bob left the group");
        assert_eq!(h.user("bob").unwrap()["active"], false);
        assert!(h.user("dot").is_none());
    }
}

/// Active Directory's `userAccountControl` (bit 2 disables) and USN change detection (`uSNChanged`, an
/// integer change counter), on slapd with an AD-like schema.
#[test]
fn active_directory_account_control_and_usn_change_detection() {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    let s = Slapd::start(h.dir.path());
    config_edit(
        &h,
        &s.url(),
        "",
        "usn",
        100,
        &[(
            "algorithm = \"flag\"\nattribute = \"employeeType\"\ndisabled_value = \"disabled\"",
            "algorithm = \"active_directory\"",
        )],
    );
    let ad = |uid: &str, usn: u32, uac: u32| {
        person_ldif(uid, "People", &format!("objectClass: adLike\nuSNChanged: {usn}\nuserAccountControl: {uac}\n"))
    };
    s.add(&format!("{}{}{}", ad("ann", 10, 512), ad("bob", 11, 512), ad("cyd", 12, 514)));
    let out = sync(&h);
    assert!(out.contains("created 2"), "cyd's account is disabled (0x2): {out}");
    assert!(h.user("cyd").is_none());
    // Nothing changed: the incremental read (uSNChanged > 12) reads no entry.
    let out = sync(&h);
    assert!(out.contains("(0 entries read"), "{out}");
    // ann's title changes and bob is disabled: both get a higher USN, as AD does on every change.
    s.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: title\ntitle: Lead\n-\nreplace: uSNChanged\nuSNChanged: 20\n\n\
         dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n-\nreplace: uSNChanged\nuSNChanged: 21\n",
        dn("ann"),
        dn("bob")
    ));
    let out = sync(&h);
    assert!(out.contains("updated 1") && out.contains("disabled 1") && out.contains("(2 entries read"), "{out}");
    assert_eq!(h.user("ann").unwrap()["title"], "Lead");
    assert_eq!(h.user("bob").unwrap()["active"], false);
    // An entry whose USN did not move is not read again.
    let out = sync(&h);
    assert!(out.contains("(0 entries read"), "{out}");
}

/// `timestamp_no_negation` (for servers such as Oracle DS): `(modifyTimestamp>=T)`.
#[test]
fn timestamp_change_detection_without_negation() {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    let s = Slapd::start(h.dir.path());
    config(&h, &s, "timestamp_no_negation", 100);
    s.add(&format!("{}{}", person_ldif("ann", "People", ""), person_ldif("bob", "People", "")));
    assert!(sync(&h).contains("created 2"));
    // Entries changed within the clock-skew allowance (5 s) of a check are read once more; past it, an
    // unchanged directory reads nothing.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let out = sync(&h);
    assert!(out.contains("created 0, updated 0"), "{out}");
    let out = sync(&h);
    assert!(out.contains("(0 entries read"), "{out}");
    s.modify(&format!("dn: {}\nchangetype: modify\nreplace: title\ntitle: Staff\n", dn("bob")));
    let out = sync(&h);
    assert!(out.contains("updated 1") && out.contains("(1 entries read"), "{out}");
    assert_eq!(h.user("bob").unwrap()["title"], "Staff");
}

/// An incremental read with a group DN location: a user who leaves the location group (their own entry
/// unchanged, so only the presence pass sees them) is deprovisioned and leaves the channel's other
/// groups in the same cycle, as a full read does.
#[test]
fn leaving_a_group_dn_location_on_an_incremental_read_leaves_the_other_groups() {
    let h = Host::new(SimConfig { rate_limits: false, ..SimConfig::default() });
    let s = Slapd::start(h.dir.path());
    config_edit(
        &h,
        &s.url(),
        "clock_skew_seconds = 0",
        "timestamp",
        100,
        &[(
            "filter = \"(&(objectClass=inetOrgPerson)(!(description=contractor)))\"",
            &format!("filter = \"(objectClass=inetOrgPerson)\"\ngroup_dn = \"cn=slack-users,ou=Groups,{SUFFIX}\""),
        )],
    );
    let mut ldif = String::new();
    for u in ["ann", "bob"] {
        ldif.push_str(&person_ldif(u, "People", ""));
    }
    ldif.push_str(&group_ldif("slack-users", &[dn("ann"), dn("bob")]));
    ldif.push_str(&group_ldif("team", &[dn("ann"), dn("bob")]));
    s.add(&ldif);
    // Entries older than the cycle's token (no clock skew allowed) by more than the timestamp's
    // one-second granularity: the next incremental read does not read them in full again.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    sync(&h);
    assert_eq!(h.group_members("team"), ["ann", "bob"]);
    s.modify(&format!(
        "dn: cn=slack-users,ou=Groups,{SUFFIX}\nchangetype: modify\ndelete: member\nmember: {}\n",
        dn("bob")
    ));
    sync(&h);
    assert_eq!(h.user("bob").unwrap()["active"], false);
    assert_eq!(h.group_members("team"), ["ann"], "bob left the location: in none of its groups");
    // And the state recorded it so: the next cycle has nothing to send (no late member removal).
    let before = h.stats()["requests_total"].as_u64().unwrap();
    sync(&h);
    assert_eq!(h.stats()["requests_total"].as_u64().unwrap(), before, "nothing left to send");
}
