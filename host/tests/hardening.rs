//! One writer per state, private files, secrets never echoed, and LDAP binds that would be anonymous
//! refused: through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::*;
use slack_sim::SimConfig;
use std::os::unix::fs::PermissionsExt as _;

fn off() -> Host {
    Host::new(SimConfig { rate_limits: false, ..SimConfig::default() })
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_second_writer_is_refused_at_once_while_readers_still_work() {
    let h = off();
    h.write_config("", "");
    h.write_ldif(&ldif(&[person("w1")], &[]));
    let mut child =
        h.cmd(&["run"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    assert!(lines.next().unwrap().unwrap().contains("created 1"));
    for writer in [&["sync", "--once"][..], &["run"], &["reset", "people"]] {
        let t = std::time::Instant::now();
        let out = h.run(writer);
        assert!(t.elapsed().as_secs() < 5, "{writer:?} refused at once");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "{writer:?}: {err}");
        assert!(err.contains(&format!("pid {}", child.id())) && err.contains("only one process"), "{err}");
    }
    for reader in [&["plan"][..], &["channels"], &["held", "--no-names"]] {
        let out = h.run(reader);
        assert!(out.status.success(), "{reader:?}: {}", stderr(&out));
    }
    std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    // The kernel released the lock with the process: the next writer runs.
    h.sync();
}

#[test]
fn the_state_its_wal_and_the_audit_log_are_private() {
    let h = off();
    h.write_config("", "");
    h.write_ldif(&ldif(&[person("m1")], &[]));
    h.sync();
    let files: &[&str] = if test_support::config::on_postgres() {
        &["audit.jsonl"] // the state is in PostgreSQL
    } else {
        &["state.db", "state.db-wal", "state.db-shm", "state.db.lock", "audit.jsonl"]
    };
    for f in files {
        let p = h.path(f);
        if (f.ends_with("-wal") || f.ends_with("-shm")) && !p.exists() {
            continue;
        }
        assert_eq!(mode(&p), 0o600, "{f}");
    }
}

#[test]
fn an_inline_secret_is_refused_without_echoing_it() {
    let h = off();
    h.write_config("", "");
    let cfg = std::fs::read_to_string(h.path("provisioner.toml")).unwrap();
    let inline = "xoxp-INLINE-never-echo-5521";
    std::fs::write(
        h.path("provisioner.toml"),
        cfg.replace(r#"accessToken = { env = "E2E_SLACK_TOKEN" }"#, &format!("accessToken = \"{inline}\"")),
    )
    .unwrap();
    let out = h.run(&["sync", "--once"]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("never written in the configuration") && e.contains("provisioner.toml:"), "{e}");
    for needle in [inline, "INLINE", "5521"] {
        assert!(!o.contains(needle) && !e.contains(needle), "`{needle}` echoed: {e}");
    }
    // Inline among the settings: refused, not echoed either.
    std::fs::write(
        h.path("provisioner.toml"),
        cfg.replace("apiVersion = \"v2\"", &format!("apiVersion = \"v2\"\naccessToken = \"{inline}\"")),
    )
    .unwrap();
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("INLINE"), "{}", stderr(&out));
}

#[test]
fn secret_files_others_can_read_get_a_warning_or_are_refused_when_strict() {
    let h = off();
    h.write_config("", "");
    h.write_ldif(&ldif(&[person("s1")], &[]));
    let secret = h.path("token");
    std::fs::write(&secret, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = std::fs::read_to_string(h.path("provisioner.toml"))
        .unwrap()
        .replace(r#"accessToken = { env = "E2E_SLACK_TOKEN" }"#, r#"accessToken = { file = "token" }"#);
    std::fs::write(h.path("provisioner.toml"), &cfg).unwrap();
    let out = h.run(&["sync", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("may be read by group or others (mode 644)"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(TOKEN));
    std::fs::write(h.path("provisioner.toml"), cfg.replace("[engine]\n", "[engine]\nstrict_permissions = true\n"))
        .unwrap();
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused: strict_permissions = true"), "{}", stderr(&out));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = h.run(&["sync", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("may be read by group"), "{}", stderr(&out));
}

#[test]
fn an_ldap_bind_with_an_empty_password_is_refused() {
    let h = off();
    let cfg = |password: &str| {
        let mut c = test_support::config::engine("state.db", "audit.jsonl", "");
        c.push_str(&test_support::config::slack_connection(
            "slack",
            &slack_connector(),
            &h.sim.base_url(),
            "E2E_SLACK_TOKEN",
            "",
        ));
        c.push_str(&format!(
            r#"
[[connections.channels]]
name = "directory"
[connections.channels.source]
type = "ldap"
url = "ldap://127.0.0.1:9"
bind_dn = "cn=reader,dc=example,dc=com"
{password}
[connections.channels.mapping]
userName = {{ attribute = "uid" }}
"#
        ));
        std::fs::write(h.path("provisioner.toml"), c).unwrap();
    };
    cfg("");
    let out = h.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bind_password is not"), "{}", stderr(&out));
    cfg(r#"bind_password = { env = "E2E_EMPTY_PASSWORD" }"#);
    let out = h.cmd(&["sync", "--once"]).env("E2E_EMPTY_PASSWORD", "").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("the bind password is empty"), "{}", stdout(&out));
}
