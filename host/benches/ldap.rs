//! LDAP incremental cycle benchmark: a 50,000-entry OpenLDAP directory (loaded offline with slapadd),
//! a first full sync, then 100 entries changed and one incremental cycle, timed as a whole process.
//! Reports the full entries read and the ids the presence pass checked.
//!
//! Run: `cargo build --release -p provisioner -p connector-slack -p slack-sim && cargo bench -p provisioner --bench ldap`
//! (needs Debian's slapd and ldap-utils).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "xoxp-bench-ldap";
const SUFFIX: &str = "dc=example,dc=com";
const PW: &str = "bench-admin";

fn main() {
    let n = 50_000;
    let tmp = std::env::temp_dir().join(format!("ldap-bench-{}", std::process::id()));
    std::fs::create_dir_all(tmp.join("db")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = tmp.join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\ninclude /etc/ldap/schema/nis.schema\ninclude /etc/ldap/schema/inetorgperson.schema\n\
             pidfile {d}/slapd.pid\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\ndatabase mdb\nmaxsize 4294967296\nsuffix \"{SUFFIX}\"\n\
             rootdn \"cn=admin,{SUFFIX}\"\nrootpw {PW}\ndirectory {d}/db\nindex objectClass eq\nindex entryUUID eq\nindex modifyTimestamp eq\n",
            d = tmp.display()
        ),
    )
    .unwrap();
    let mut ldif = std::io::BufWriter::new(std::fs::File::create(tmp.join("data.ldif")).unwrap());
    write!(ldif, "dn: {SUFFIX}\nobjectClass: domain\ndc: example\n\ndn: ou=People,{SUFFIX}\nobjectClass: organizationalUnit\nou: People\n\n").unwrap();
    for i in 0..n {
        write!(ldif, "dn: uid=u{i},ou=People,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: u{i}\ncn: User {i}\ngivenName: User\nsn: N{i}\nmail: u{i}@example.com\ntitle: Engineer\n\n").unwrap();
    }
    drop(ldif);
    let t = Instant::now();
    let st = Command::new("/usr/sbin/slapadd")
        .arg("-f")
        .arg(&conf)
        .arg("-q")
        .arg("-l")
        .arg(tmp.join("data.ldif"))
        .status()
        .expect("slapadd");
    assert!(st.success());
    println!("loaded {n} entries with slapadd in {:.1} s", t.elapsed().as_secs_f64());
    let url = format!("ldap://127.0.0.1:{port}");
    let mut slapd = Command::new("/usr/sbin/slapd")
        .arg("-f")
        .arg(&conf)
        .args(["-h", &url, "-d", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("slapd");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut sim = Command::new(test_support::artifact_dir().join("slack-sim"))
        .args(["--listen", "127.0.0.1:0", "--token", TOKEN, "--rate-limits", "off"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("slack-sim");
    let mut line = String::new();
    BufReader::new(sim.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let sim_url = line.trim().trim_start_matches("listening on ").to_owned();
    let cfg = tmp.join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[engine]
state_db = "{d}/state.db"
audit_log = "{d}/audit.jsonl"
{connection}[[connections.channels]]
name = "directory"
batch_size = 500
threads = 2
[connections.channels.source]
type = "ldap"
url = "{url}"
bind_dn = "cn=admin,{SUFFIX}"
bind_password = {{ env = "BENCH_LDAP_PW" }}
change_detection = "timestamp"
clock_skew_seconds = 0
page_size = 1000
[connections.channels.location]
base_dn = "ou=People,{SUFFIX}"
filter = "(objectClass=inetOrgPerson)"
[connections.channels.mapping]
userName = {{ attribute = "uid" }}
primaryEmail = {{ attribute = "mail" }}
givenName = {{ attribute = "givenName" }}
familyName = {{ attribute = "sn" }}
title = {{ attribute = "title" }}
"#,
            d = tmp.display(),
            connection = test_support::config::slack_connection(
                "slack",
                &test_support::cdylib("connector_slack"),
                &sim_url,
                "BENCH_TOKEN",
                "maxConcurrency = 16"
            ),
        ),
    )
    .unwrap();
    let sync = || {
        let t = Instant::now();
        let out = Command::new(test_support::artifact_dir().join("provisioner"))
            .arg("--config")
            .arg(&cfg)
            .args(["sync", "--once"])
            .env("BENCH_TOKEN", TOKEN)
            .env("BENCH_LDAP_PW", PW)
            .env("PROVISIONER_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (t.elapsed().as_secs_f64(), String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    // The bulk load's second must be over before the first check (the token has 1 s resolution).
    std::thread::sleep(Duration::from_millis(1100));
    let (secs, out) = sync();
    println!("first full sync of {n}: {secs:.2} s\n  {out}");
    // Change 100 entries (after the first cycle's second, so they are newer than its token).
    std::thread::sleep(Duration::from_millis(1100));
    let mut m = String::new();
    for i in (0..n).step_by(n / 100) {
        m.push_str(&format!(
            "dn: uid=u{i},ou=People,{SUFFIX}\nchangetype: modify\nreplace: title\ntitle: Senior Engineer\n\n"
        ));
    }
    std::fs::write(tmp.join("mod.ldif"), m).unwrap();
    let st = Command::new("ldapmodify")
        .args(["-x", "-H", &url, "-D", &format!("cn=admin,{SUFFIX}"), "-w", PW, "-f"])
        .arg(tmp.join("mod.ldif"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let (secs, out) = sync();
    println!("incremental cycle over {n} entries with 100 changed: {secs:.2} s (target < 5 s)\n  {out}");
    let (secs, out) = sync();
    println!("incremental cycle with nothing changed: {secs:.2} s\n  {out}");
    let _ = slapd.kill();
    let _ = slapd.wait();
    let _ = sim.kill();
    let _ = sim.wait();
    let _ = std::fs::remove_dir_all(&tmp);
}
