//! The state store behaves the same on SQLite and PostgreSQL (one sequence of operations, compared
//! result by result), PostgreSQL's migrations are versioned and run once, and on PostgreSQL every write
//! is fenced by the lease it runs under.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use provisioner::state::*;
use std::collections::BTreeMap;
use test_support::postgres::{query_texts, Postgres};

fn pg_target(url: &str, app: &str) -> PgTarget {
    PgTarget {
        url: url.into(),
        password: None,
        ca_certificate: None,
        application_name: app.into(),
        idle_in_transaction: None,
    }
}

fn row(id: &str, target: Option<&str>, status: Status, dirty: bool) -> Row {
    Row {
        source_id: id.into(),
        target_id: target.map(Into::into),
        hash: format!("h-{id}"),
        attr_hashes: AttrHashes::from_map(&BTreeMap::from([("title".to_owned(), "x".to_owned())])),
        status,
        dirty,
        attempts: dirty as u32,
        next_attempt_at: 0,
        last_error: dirty.then(|| "failed".into()),
        ident_hash: Some(format!("i-{id}")),
        skipped_hash: None,
        dn_hash: Some(format!("d-{id}")),
    }
}

/// Everything the engine does with a state, and what it reads back, as text to compare.
fn exercise(s: &mut State) -> Vec<String> {
    let mut out = Vec::new();
    s.bind_channels(&[("people".into(), "slack".into()), ("contractors".into(), "slack".into())], true).unwrap();
    s.mark_in_flight(Table::Users, "people", &[("a".into(), Status::Active), ("b".into(), Status::Active)]).unwrap();
    let rows = |m: std::collections::HashMap<String, Row>| {
        let mut v: Vec<String> = m.into_values().map(|r| format!("{r:?}")).collect();
        v.sort();
        v
    };
    out.extend(rows(s.rows(Table::Users, "people").unwrap()));
    s.settle(
        Table::Users,
        "people",
        &[row("a", Some("U1"), Status::Active, false), row("b", None, Status::Active, true)],
        100,
    )
    .unwrap();
    s.settle(Table::Users, "contractors", &[row("c", Some("U3"), Status::Disabled, false)], 100).unwrap();
    s.settle(Table::Groups, "people", &[row("g", Some("G1"), Status::Active, false)], 100).unwrap();
    out.extend(rows(s.rows(Table::Users, "people").unwrap()));
    out.extend(rows(s.rows(Table::Groups, "people").unwrap()));
    // A second record may not take an account another record of the connection holds.
    let taken = s.settle(Table::Users, "contractors", &[row("d", Some("U1"), Status::Active, false)], 101);
    out.push(format!("shared account refused: {}", taken.is_err()));
    let mut owners: Vec<String> =
        s.target_owners(Table::Users, "people").unwrap().into_iter().map(|(k, v)| format!("{k} {v:?}")).collect();
    owners.sort();
    out.extend(owners);
    let mut elsewhere: Vec<String> =
        s.ident_owners_elsewhere("people").unwrap().into_iter().map(|(k, v)| format!("{k} {v:?}")).collect();
    elsewhere.sort();
    out.extend(elsewhere);
    // A group holds its name once it exists in the target: `k` (skipped, never created) holds none.
    s.settle(
        Table::Groups,
        "contractors",
        &[row("h", Some("G2"), Status::Active, false), row("k", None, Status::Active, false)],
        100,
    )
    .unwrap();
    let mut names: Vec<String> =
        s.group_names_elsewhere("people").unwrap().into_iter().map(|(k, v)| format!("group name {k} {v:?}")).collect();
    names.sort();
    out.extend(names);
    let idx = s.reference_index("people").unwrap();
    out.push(format!("{:?} {:?}", idx.by_dn_hash.get("d-a"), idx.by_source_id.get("a")));
    out.push(format!("provisioned {}", s.provisioned_users("slack").unwrap()));
    s.set_connection_meta(
        "slack",
        &ConnectionMeta { settings_hash: Some("f1".into()), unique_identifier: Some("primaryEmail".into()) },
    )
    .unwrap();
    out.push(format!("{:?}", s.connection_meta("slack").unwrap()));
    s.set_memberships("people", "g", &["b".into(), "a".into(), "_x".into(), "B".into(), "a".into()]).unwrap();
    // Groups read one after another (each group's rows come together): none takes another's members.
    s.set_memberships_many("people", &[("G", &["a".to_owned()][..]), ("f", &["z".to_owned(), "c".to_owned()][..])])
        .unwrap();
    // Each group's members come back sorted byte-wise, whatever the server's collation.
    let mut m: Vec<String> = s.memberships("people").unwrap().into_iter().map(|(g, u)| format!("{g} {u:?}")).collect();
    m.sort();
    out.extend(m);
    let held = HeldAction {
        action: "DISABLE".into(),
        source_id: "a".into(),
        member_id: String::new(),
        object_class: "user".into(),
        target_id: Some("U1".into()),
        reason: "left".into(),
    };
    s.set_holds("people", &[(held.clone(), HoldDecision::Held)], &[], 200).unwrap();
    let digest = s.holds_digest("people").unwrap();
    out.push(format!(
        "wrong digest: {:?}",
        s.decide_holds("people", HoldDecision::Held, HoldDecision::Approved, Some("nope")).unwrap()
    ));
    out.push(format!(
        "right digest: {:?}",
        s.decide_holds("people", HoldDecision::Held, HoldDecision::Approved, Some(&digest)).unwrap()
    ));
    out.push(format!("{:?}", s.holds("people", None).unwrap()));
    // A cycle read the set as held; an administrator rejected it meanwhile; the cycle writes it back as
    // held: the rejection stands. One it did not change takes the cycle's decision.
    let read = vec![(held.clone(), HoldDecision::Held)];
    s.decide_holds("people", HoldDecision::Approved, HoldDecision::Rejected, None).unwrap();
    let other = HeldAction { source_id: "b".into(), ..held.clone() };
    s.set_holds("people", &[(held.clone(), HoldDecision::Held), (other, HoldDecision::Held)], &read, 210).unwrap();
    let decisions: Vec<(String, HoldDecision)> =
        s.holds("people", None).unwrap().into_iter().map(|(a, d)| (a.source_id, d)).collect();
    assert_eq!(decisions, vec![("a".into(), HoldDecision::Rejected), ("b".into(), HoldDecision::Held)]);
    out.push(format!("{decisions:?}"));
    let cycle = s.begin_cycle("people", 300).unwrap();
    s.end_cycle(cycle, 301, &CycleFigures { created: 1, ..Default::default() }, None).unwrap();
    s.set_token("people", Some("usn:42")).unwrap();
    out.push(format!("{:?}", s.token("people").unwrap()));
    out.push(format!("{:?}", s.channel_summary("people").unwrap()));
    out.push(format!("cleared {}", s.clear_skipped("slack").unwrap()));
    s.reset("people").unwrap();
    out.push(format!("{:?}", s.channel_summary("people").unwrap()));
    out.push(format!("{:?}", s.connection_meta("slack").unwrap()));
    out
}

#[test]
fn both_engines_give_the_same_answers_to_the_same_operations() {
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = State::open(&dir.path().join("s.db")).unwrap();
    let pg = Postgres::start();
    let url = pg.create_database();
    // The throwaway server's collation is linguistic (as production servers' usually is), so its ORDER BY
    // is not byte-wise: the state must sort what needs a byte-wise order itself (group members).
    let ordered = query_texts(&url, "SELECT x FROM (VALUES ('B'), ('a')) AS v(x) ORDER BY x");
    assert_eq!(ordered, vec![vec![Some("a".to_owned())], vec![Some("B".to_owned())]], "not a linguistic order");
    let mut postgres = State::open_at(&StateLocation::Postgres(pg_target(&url, "t"))).unwrap();
    let (a, b) = (exercise(&mut sqlite), exercise(&mut postgres));
    assert!(a.iter().any(|l| l == "shared account refused: true"), "{a:#?}");
    assert!(a.iter().any(|l| l == r#"g ["B", "_x", "a", "b"]"#), "{a:#?}");
    assert!(a.iter().any(|l| l == r#"G ["a"]"#) && a.iter().any(|l| l == r#"f ["c", "z"]"#), "{a:#?}");
    let names: Vec<&String> = a.iter().filter(|l| l.starts_with("group name ")).collect();
    assert!(names.len() == 1 && names[0].starts_with("group name i-h ") && names[0].contains("contractors"), "{a:#?}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    assert_eq!(a.len(), b.len());
}

#[test]
fn postgres_migrations_are_versioned_and_run_once_even_when_nodes_start_together() {
    let pg = Postgres::start();
    let url = pg.create_database();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                State::open_at(&StateLocation::Postgres(pg_target(&url, &format!("t{i}")))).map(|_| ())
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(query_texts(&url, "SELECT version FROM provisioner_schema"), vec![vec![Some("2".to_owned())]]);
    query_texts(&url, "UPDATE provisioner_schema SET version = 99");
    let e = State::open_at(&StateLocation::Postgres(pg_target(&url, "t"))).err().unwrap().to_string();
    assert!(e.contains("newer than this provisioner"), "{e}");
}

#[test]
fn every_postgres_write_is_fenced_by_the_lease_it_runs_under() {
    let pg = Postgres::start();
    let url = pg.create_database();
    let mut s = State::open_at(&StateLocation::Postgres(pg_target(&url, "t"))).unwrap();
    query_texts(
        &url,
        "INSERT INTO leases (name, holder, epoch, expires_at) VALUES ('active', 'n1', 7, now() + interval '1 hour')",
    );
    s.set_fence(Some(Fence { leases: vec![("active".into(), 7)], node: "n1".into() }));
    s.bind_channels(&[("people".into(), "slack".into())], true).unwrap();
    s.settle(Table::Users, "people", &[row("a", Some("U1"), Status::Active, false)], 1).unwrap();
    // Another node took over (epoch 8): every kind of write is refused, and nothing changes.
    query_texts(&url, "UPDATE leases SET holder = 'n2', epoch = 8");
    let before = query_texts(&url, "SELECT * FROM users ORDER BY source_id");
    let attempts: Vec<Result<(), StateError>> = vec![
        s.mark_in_flight(Table::Users, "people", &[("b".into(), Status::Active)]),
        s.settle(Table::Users, "people", &[row("a", None, Status::Removed, false)], 2),
        s.set_memberships("people", "g", &["a".into()]),
        s.begin_cycle("people", 3).map(|_| ()),
        s.set_token("people", Some("t")),
        s.reset("people"),
        s.set_holds("people", &[], &[], 4),
    ];
    for a in attempts {
        let e = a.unwrap_err();
        assert!(e.is_fenced(), "{e}");
        assert!(e.to_string().contains("another node took over"), "{e}");
    }
    assert_eq!(query_texts(&url, "SELECT * FROM users ORDER BY source_id"), before);
    // Its own lease lapsed (even if nobody took it): refused too.
    query_texts(&url, "UPDATE leases SET holder = 'n1', epoch = 7, expires_at = now() - interval '1 second'");
    assert!(s.set_token("people", Some("t")).unwrap_err().is_fenced());
    // Reads still work (any node can show the shared state).
    assert_eq!(s.rows(Table::Users, "people").unwrap().len(), 1);
}

#[test]
fn a_one_off_writer_on_postgres_is_refused_while_another_holds_the_state() {
    let pg = Postgres::start();
    let url = pg.create_database();
    let first = State::open_postgres_exclusive(&pg_target(&url, "provisioner pid 111 on hostA")).unwrap();
    let e = State::open_postgres_exclusive(&pg_target(&url, "provisioner pid 222 on hostB")).err().unwrap().to_string();
    assert!(e.contains("only one process may write it") && e.contains("pid 111 on hostA"), "{e}");
    drop(first);
    State::open_postgres_exclusive(&pg_target(&url, "provisioner pid 333")).unwrap();
}
