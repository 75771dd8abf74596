//! PostgreSQL, shared by the nodes of a failover or cluster deployment (and usable by one standalone
//! node). Parameters `?N` are renumbered `$N`; statements are prepared once per connection. TLS is
//! required unless the server is on loopback (or a Unix socket); certificates are always verified.

use super::{Backend, BackendError, Fence, SqlRow, Value};
use crate::state::schema::postgres as schema;
use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, Statement};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where the PostgreSQL state is and how to reach it. Its `Debug` never shows the password.
#[derive(Clone)]
pub struct PgTarget {
    /// `postgres://user@host:port/database` (no password: it comes from `password`).
    pub url: String,
    /// The password (from the environment or a file).
    pub password: Option<String>,
    /// A PEM file of the CA certificates to trust (otherwise the system's).
    pub ca_certificate: Option<PathBuf>,
    /// `application_name` of this process's sessions (`provisioner:<node_id>`: a takeover ends the
    /// sessions of the node it replaces by this name).
    pub application_name: String,
    /// Sessions idle inside a transaction longer than this are ended by the server (a paused node
    /// cannot hold row locks that block a takeover).
    pub idle_in_transaction: Option<Duration>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.display())
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .field("ca_certificate", &self.ca_certificate)
            .field("application_name", &self.application_name)
            .finish()
    }
}

impl PgTarget {
    /// The URL for messages: scheme, user, host, port and database only (never a password, never
    /// the query string).
    pub fn display(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) => {
                let _ = u.set_password(None);
                u.set_query(None);
                u.set_fragment(None);
                u.to_string()
            }
            Err(_) => "(unparseable PostgreSQL URL)".into(),
        }
    }

    fn config(&self) -> Result<postgres::Config, BackendError> {
        let mut c: postgres::Config = self.url.parse().map_err(|_| {
            BackendError::Config(
                "the PostgreSQL URL cannot be parsed (expected postgres://user@host:port/database)".into(),
            )
        })?;
        if c.get_password().is_some() || self.url.to_ascii_lowercase().contains("password=") {
            return Err(BackendError::Config(
                "the PostgreSQL URL carries a password: give it with `password = { env = \"VAR\" }` or `{ file = \"path\" }` instead".into(),
            ));
        }
        if c.get_hosts().is_empty() {
            return Err(BackendError::Config("the PostgreSQL URL names no host".into()));
        }
        if let Some(p) = &self.password {
            c.password(p.as_bytes());
        }
        c.application_name(&self.application_name);
        c.connect_timeout(Duration::from_secs(10));
        c.keepalives(true);
        c.keepalives_idle(Duration::from_secs(30));
        if let Some(t) = self.idle_in_transaction {
            c.options(&format!("-c idle_in_transaction_session_timeout={}", t.as_millis()));
        }
        Ok(c)
    }

    fn loopback(c: &postgres::Config) -> bool {
        c.get_hosts().iter().all(|h| match h {
            postgres::config::Host::Unix(_) => true,
            postgres::config::Host::Tcp(name) => {
                name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
        })
    }

    fn tls(&self) -> Result<rustls::ClientConfig, BackendError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_certificate {
            Some(ca) => {
                use rustls::pki_types::pem::PemObject;
                let what = |e: &dyn std::fmt::Display| {
                    BackendError::Config(format!("PostgreSQL CA certificate {}: {e}", ca.display()))
                };
                for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).map_err(|e| what(&e))? {
                    roots.add(c.map_err(|e| what(&e))?).map_err(|e| what(&e))?;
                }
            }
            None => {
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
            }
        }
        Ok(rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| BackendError::Config(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }

    /// A new session: TLS (verified) unless the server is on loopback and no CA file is given.
    pub fn connect(&self) -> Result<Client, BackendError> {
        let mut c = self.config()?;
        if Self::loopback(&c) && self.ca_certificate.is_none() {
            return Ok(c.connect(postgres::NoTls)?);
        }
        c.ssl_mode(postgres::config::SslMode::Require);
        Ok(c.connect(tokio_postgres_rustls::MakeRustlsConnect::new(self.tls()?))?)
    }
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                _ => n.to_string().as_str().to_sql(ty, out),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `?N` → `$N` (the state's SQL has no `?` elsewhere).
fn renumber(sql: &str) -> String {
    sql.replace('?', "$")
}

fn value(row: &postgres::Row, i: usize) -> Result<Value, BackendError> {
    let ty = row.columns()[i].type_().clone();
    let v = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|n| Value::Int(n.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|n| Value::Int(n.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|b| Value::Int(b as i64)),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(|f| Value::Int(f as i64)),
        _ => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
    };
    Ok(v.unwrap_or(Value::Null))
}

/// The PostgreSQL engine.
pub(crate) struct Postgres {
    client: Client,
    statements: HashMap<String, Statement>,
    fence: Option<Fence>,
}

impl Postgres {
    /// Connects and migrates.
    pub(crate) fn open(target: &PgTarget) -> Result<Postgres, BackendError> {
        let mut client = target.connect()?;
        schema::migrate(&mut client)?;
        Ok(Postgres { client, statements: HashMap::new(), fence: None })
    }

    /// Takes the standalone single-writer lock on this session (`false`: another session holds it).
    pub(crate) fn try_writer_lock(&mut self) -> Result<bool, BackendError> {
        let got: bool = self
            .client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&schema::LOCK_CLASS, &schema::WRITER_KEY])?
            .get(0);
        Ok(got)
    }

    /// Who holds the single-writer lock (application names and client addresses), for the message.
    pub(crate) fn writer_lock_holder(&mut self) -> Result<String, BackendError> {
        let rows = self.client.query(
            "SELECT a.application_name, COALESCE(host(a.client_addr), 'local'), a.pid FROM pg_locks l
               JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.classid = ($1::int)::oid AND l.objid = ($2::int)::oid AND l.granted
             ORDER BY 1",
            &[&schema::LOCK_CLASS, &schema::WRITER_KEY],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                format!("{} from {} (server pid {})", r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, i32>(2))
            })
            .collect::<Vec<_>>()
            .join(", "))
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, BackendError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&renumber(sql))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn params(p: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
        p.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
    }

    fn check_fence(&mut self) -> Result<(), BackendError> {
        let Some(fence) = self.fence.clone() else { return Ok(()) };
        for (lease, epoch) in &fence.leases {
            // FOR SHARE: a takeover (an UPDATE of this row) waits for this transaction, and after it
            // this check fails; so no write commits under an epoch that is no longer current.
            let row = self.client.query_opt(
                "SELECT holder, epoch, expires_at > now() FROM leases WHERE name = $1 FOR SHARE",
                &[lease],
            )?;
            let held = row.is_some_and(|r| {
                r.get::<_, Option<String>>(0).as_deref() == Some(fence.node.as_str())
                    && r.get::<_, i64>(1) == *epoch
                    && r.get::<_, bool>(2)
            });
            if !held {
                return Err(BackendError::Fenced { lease: lease.clone(), epoch: *epoch });
            }
        }
        Ok(())
    }
}

impl Backend for Postgres {
    fn execute(&mut self, sql: &str, p: &[Value]) -> Result<u64, BackendError> {
        let st = self.statement(sql)?;
        Ok(self.client.execute(&st, &Self::params(p))?)
    }

    fn query(&mut self, sql: &str, p: &[Value]) -> Result<Vec<SqlRow>, BackendError> {
        let st = self.statement(sql)?;
        let rows = self.client.query(&st, &Self::params(p))?;
        rows.iter().map(|r| (0..r.len()).map(|i| value(r, i)).collect::<Result<Vec<_>, _>>().map(SqlRow)).collect()
    }

    fn for_each_pair(&mut self, sql: &str, p: &[Value], each: &mut dyn FnMut(&str, &str)) -> Result<(), BackendError> {
        let st = self.statement(sql)?;
        for r in self.client.query(&st, &Self::params(p))? {
            let text = |i: usize| match value(&r, i)? {
                Value::Text(s) => Ok(s),
                Value::Int(n) => Ok(n.to_string()),
                Value::Null => Err(BackendError::Decode(format!("column {i} is NULL"))),
            };
            each(&text(0)?, &text(1)?);
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), BackendError> {
        self.client.batch_execute("BEGIN")?;
        if let Err(e) = self.check_fence() {
            self.rollback();
            return Err(e);
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), BackendError> {
        Ok(self.client.batch_execute("COMMIT")?)
    }

    fn rollback(&mut self) {
        let _ = self.client.batch_execute("ROLLBACK");
    }

    fn lock_channel(&mut self, channel: &str) -> Result<(), BackendError> {
        self.client
            .execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&schema::CHANNEL_LOCK_CLASS, &channel])?;
        Ok(())
    }

    fn is_sqlite(&self) -> bool {
        false
    }

    fn set_fence(&mut self, fence: Option<Fence>) {
        self.fence = fence;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> PgTarget {
        PgTarget {
            url: url.into(),
            password: None,
            ca_certificate: None,
            application_name: "t".into(),
            idle_in_transaction: None,
        }
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echo() {
        let e = target("postgres://prov:s3cr3t-value@db.example.com/state").config().unwrap_err().to_string();
        assert!(e.contains("carries a password") && !e.contains("s3cr3t-value"), "{e}");
    }

    #[test]
    fn a_password_in_the_query_is_refused_and_never_displayed() {
        let t = target("postgres://prov@db.example.com/state?password=s3cr3t-q&sslmode=require");
        let e = t.config().unwrap_err().to_string();
        assert!(e.contains("carries a password") && !e.contains("s3cr3t-q"), "{e}");
        assert!(!t.display().contains("s3cr3t-q") && !format!("{t:?}").contains("s3cr3t-q"), "{}", t.display());
        let t = PgTarget { password: Some("pw-hidden-1".into()), ..target("postgres://prov:inline-pw@h/s") };
        assert!(!format!("{t:?}").contains("pw-hidden-1") && !t.display().contains("inline-pw"), "{t:?}");
    }

    #[test]
    fn loopback_is_recognised() {
        for (url, lo) in [
            ("postgres://p@127.0.0.1:5432/s", true),
            ("postgres://p@localhost/s", true),
            ("postgres://p@[::1]:5432/s", true),
            ("postgres://p@db.example.com/s", false),
            ("postgres://p@10.0.0.5/s", false),
        ] {
            let c = target(url).config().unwrap();
            assert_eq!(PgTarget::loopback(&c), lo, "{url}");
        }
    }

    #[test]
    fn parameters_are_renumbered() {
        assert_eq!(
            renumber("UPDATE t SET a = ?2 WHERE b = ?1 AND c = ?12"),
            "UPDATE t SET a = $2 WHERE b = $1 AND c = $12"
        );
    }
}
