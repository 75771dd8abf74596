//! A throwaway OpenLDAP `slapd` on a loopback port with its own temporary config, stopped on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const SUFFIX: &str = "dc=example,dc=com";
pub(crate) const ADMIN: &str = "cn=admin,dc=example,dc=com";
pub(crate) const ADMIN_PW: &str = "admin-secret";
pub(crate) const READER: &str = "cn=reader,dc=example,dc=com";
pub(crate) const READER_PW: &str = "reader-SECRET-7731";

pub(crate) struct Slapd {
    pub dir: PathBuf,
    pub port: u16,
    /// The ldaps:// port when started with TLS.
    pub tls_port: Option<u16>,
    child: Option<Child>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A throwaway CA and a server certificate for 127.0.0.1 (IP SAN, serverAuth), in `dir`.
pub(crate) fn make_certs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Provisioner Test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Slapd {
    /// Starts slapd with an empty directory, then adds the base entries and a reader account
    /// (the reader is subject to a 1,000-entry size limit: only paged searches read more).
    pub(crate) fn start(dir: &Path) -> Slapd {
        Slapd::start_with(dir, false)
    }

    /// Like `start`, also serving ldaps:// and StartTLS with a throwaway CA (`tls/ca.pem`).
    pub(crate) fn start_tls(dir: &Path) -> Slapd {
        Slapd::start_with(dir, true)
    }

    fn start_with(dir: &Path, tls: bool) -> Slapd {
        let dir = dir.join("slapd");
        std::fs::create_dir_all(dir.join("db")).unwrap();
        // Active Directory's change counter and account control, for USN change detection and
        // userAccountControl status tests: integers with an ordering rule, on an auxiliary class.
        std::fs::write(
            dir.join("ad-like.schema"),
            "attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'uSNChanged' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )\n\
             attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )\n\
             objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'adLike' AUXILIARY MAY ( uSNChanged $ userAccountControl ) )\n",
        )
        .unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\ninclude /etc/ldap/schema/nis.schema\ninclude /etc/ldap/schema/inetorgperson.schema\ninclude {d}/ad-like.schema\n\
             pidfile {d}/slapd.pid\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\nsizelimit size.soft=1000 size.hard=1000 size.prtotal=unlimited\n\
             database mdb\nmaxsize 1073741824\nsuffix \"{SUFFIX}\"\nrootdn \"{ADMIN}\"\nrootpw {ADMIN_PW}\ndirectory {d}/db\n\
             index objectClass eq\nindex entryUUID eq\nindex modifyTimestamp eq\n\
             access to attrs=userPassword by self write by anonymous auth by * none\naccess to * by * read\n",
            d = dir.display()
        );
        let conf = if tls {
            let t = dir.join("tls");
            make_certs(&t);
            format!(
                "TLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/server.pem\nTLSCertificateKeyFile {d}/server.key\n{conf}",
                d = t.display()
            )
        } else {
            conf
        };
        std::fs::write(dir.join("slapd.conf"), conf).unwrap();
        let mut s = Slapd { dir, port: 0, tls_port: tls.then(free_port), child: None };
        s.run();
        s.add(&format!(
            "dn: {SUFFIX}\nobjectClass: domain\ndc: example\n\ndn: ou=People,{SUFFIX}\nobjectClass: organizationalUnit\nou: People\n\n\
             dn: ou=Alumni,{SUFFIX}\nobjectClass: organizationalUnit\nou: Alumni\n\ndn: ou=Groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: Groups\n\n\
             dn: {READER}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: {READER_PW}\n"
        ));
        s
    }

    /// (Re)starts the server on a fresh port (or the same one after `stop`).
    pub(crate) fn run(&mut self) {
        if self.port == 0 {
            self.port = free_port();
        }
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(self.dir.join("slapd.conf"))
            .arg("-h")
            .arg(match self.tls_port {
                Some(p) => format!("{} ldaps://127.0.0.1:{p}/", self.url()),
                None => self.url(),
            })
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd (apt-get install -y slapd ldap-utils)");
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "slapd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Restarts the server with an ACL that hides `ou=People` from the reader (its searches then
    /// succeed with no entries, as a bind whose rights were cut would see).
    pub(crate) fn hide_people_from_reader(&mut self) {
        let conf_path = self.dir.join("slapd.conf");
        let conf = std::fs::read_to_string(&conf_path).unwrap();
        let acl = format!(
            "access to dn.children=\"ou=People,{SUFFIX}\" by dn.exact=\"{READER}\" none by * read\naccess to * by * read\n"
        );
        std::fs::write(&conf_path, conf.replace("access to * by * read\n", &acl)).unwrap();
        self.stop();
        self.run();
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT` (TLS servers only).
    pub(crate) fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port.unwrap_or(0))
    }

    /// The throwaway CA certificate (TLS servers only).
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.join("tls/ca.pem")
    }

    fn tool(&self, tool: &str, ldif: &str) {
        let path = self.dir.join(format!("{tool}-input.ldif"));
        std::fs::write(&path, ldif).unwrap();
        let out = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ADMIN, "-w", ADMIN_PW, "-f"])
            .arg(&path)
            .output()
            .expect("ldap-utils");
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub(crate) fn add(&self, ldif: &str) {
        self.tool("ldapadd", ldif);
    }

    pub(crate) fn modify(&self, ldif: &str) {
        self.tool("ldapmodify", ldif);
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn person_ldif(uid: &str, ou: &str, extra: &str) -> String {
    format!(
        "dn: uid={uid},ou={ou},{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid} Test\ngivenName: {uid}\nsn: Test\nmail: {uid}@example.com\ntitle: Engineer\n{extra}\n"
    )
}

pub(crate) fn group_ldif(cn: &str, members: &[String]) -> String {
    let mut s = format!("dn: cn={cn},ou=Groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n");
    for m in members {
        s.push_str(&format!("member: {m}\n"));
    }
    s.push('\n');
    s
}

pub(crate) fn dn(uid: &str) -> String {
    format!("uid={uid},ou=People,{SUFFIX}")
}
