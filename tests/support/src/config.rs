//! The provisioner configuration that the host's tests and benchmarks write: an `[engine]` table and a
//! Slack connection, to which each test appends its own channels.

use std::fmt::Write as _;
use std::path::Path;

/// `[engine]` with the state and audit files and extra lines.
pub fn engine(state_db: &str, audit_log: &str, extra: &str) -> String {
    format!("# written by the tests\n[engine]\nstate_db = \"{state_db}\"\naudit_log = \"{audit_log}\"\n{extra}\n")
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
