//! The provisioner configuration that the host's tests and benchmarks write: an `[engine]` table and a
//! Slack connection, to which each test appends its own channels.

use std::fmt::Write as _;
use std::path::Path;

/// `[engine]` with the state and audit files and extra lines. When `PROVISIONER_TEST_POSTGRES` names a
/// server (`postgres://user@host:port`, as `scripts/test.sh` sets for its PostgreSQL pass), the state is
/// a database on it instead of the SQLite file: a fresh one per test (thread) and `state_db` name, the
/// same one when the test rewrites its configuration.
pub fn engine(state_db: &str, audit_log: &str, extra: &str) -> String {
    match std::env::var("PROVISIONER_TEST_POSTGRES").ok().filter(|s| !s.is_empty()) {
        Some(base) => {
            let key = format!("{:?} {state_db}", std::thread::current().id());
            let mut dbs = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
            let url = match dbs.iter().find(|(k, _)| *k == key) {
                Some((_, url)) => url.clone(),
                None => {
                    let url = crate::postgres::create_database(&base);
                    dbs.push((key, url.clone()));
                    url
                }
            };
            format!("# written by the tests\n[engine]\nstate = {{ postgres = \"{url}\" }}\naudit_log = \"{audit_log}\"\n{extra}\n")
        }
        None => format!(
            "# written by the tests\n[engine]\nstate_db = \"{state_db}\"\naudit_log = \"{audit_log}\"\n{extra}\n"
        ),
    }
}

static DATABASES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Starts a new test fixture on this thread: its next [`engine`] gets a fresh database (PostgreSQL pass).
pub fn fresh_state() {
    let me = format!("{:?} ", std::thread::current().id());
    DATABASES.lock().unwrap_or_else(|p| p.into_inner()).retain(|(k, _)| !k.starts_with(&me));
}

/// Whether the tests run on PostgreSQL (`PROVISIONER_TEST_POSTGRES` is set).
pub fn on_postgres() -> bool {
    std::env::var("PROVISIONER_TEST_POSTGRES").is_ok_and(|s| !s.is_empty())
}

/// A `[[connections]]` entry for the Slack connector at `base_url` (a slack-sim), its token from the
/// environment variable `token_env`, with extra `[connections.settings]` lines.
pub fn slack_connection(name: &str, library: &Path, base_url: &str, token_env: &str, extra_settings: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"
[[connections]]
name = "{name}"
connector = "{lib}"

[connections.settings]
apiVersion = "v2"
baseUrl = "{base_url}/scim"
rateLimitTimeScale = 10000.0
{extra_settings}

[connections.secrets]
accessToken = {{ env = "{token_env}" }}
"#,
        lib = library.display(),
    );
    s
}

/// The mapping most tests use (uid, mail, names, title).
pub const BASIC_MAPPING: &str = r#"userName = { attribute = "uid" }
primaryEmail = { attribute = "mail" }
givenName = { attribute = "givenName" }
familyName = { attribute = "sn" }
title = { attribute = "title" }
"#;
