//! The real fake connector library through the loader and through its raw table: every entry point
//! with bad inputs, panics, unsupported operations, malformed responses, concurrency and buffer ownership.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design
#![allow(unsafe_code)] // these tests call the raw C entry points on purpose

mod common;

use connector_abi::payload::*;
use connector_abi::raw::*;
use connector_abi::{CallError, ConnectorLibrary, Instance};
use serde_json::json;
use std::sync::Arc;

fn lib() -> Arc<ConnectorLibrary> {
    ConnectorLibrary::load(common::cdylib("fake_connector")).unwrap()
}

fn open(settings: serde_json::Value) -> Instance {
    let settings = TargetSettings { v: 1, settings: settings.as_object().cloned().unwrap_or_default() };
    lib().open(&settings).unwrap()
}

fn user(id: &str) -> Record {
    let mut attributes = Attributes::new();
    attributes.insert("userName".into(), json!(id));
    Record {
        object_class: ObjectClass::User,
        source_id: id.into(),
        target_id: None,
        event: Event::Upsert,
        attributes,
        changed: None,
        members: vec![],
        previous_members: None,
    }
}

fn batch(n: usize) -> ProvisionRequest {
    ProvisionRequest { v: 1, records: (0..n).map(|i| user(&format!("u{i}"))).collect(), deadline_ms: None }
}

fn empty() -> ConnBuf {
    ConnBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 }
}

fn live_buffers(inst: &Instance) -> i64 {
    inst.test().unwrap().details["live_buffers"].as_i64().unwrap()
}

#[test]
fn full_round_trip() {
    let inst = open(json!({}));
    let r = inst.provision(&batch(3)).unwrap();
    assert!(r.results.iter().all(|x| x.outcome == Outcome::Created));
    let r = inst.provision(&batch(3)).unwrap();
    assert!(r.results.iter().all(|x| x.outcome == Outcome::Unchanged));
    let page = inst
        .search(&SearchRequest { v: 1, object_class: ObjectClass::User, filter: None, page_size: 2, cookie: None })
        .unwrap();
    assert_eq!(page.objects.len(), 2);
    assert_eq!(page.total, Some(3));
    let next = inst
        .search(&SearchRequest {
            v: 1,
            object_class: ObjectClass::User,
            filter: None,
            page_size: 2,
            cookie: page.next_cookie,
        })
        .unwrap();
    assert_eq!(next.objects.len(), 1);
    assert!(next.next_cookie.is_none());
}

#[test]
fn per_record_failures_are_typed() {
    let inst = open(json!({"fail_source_ids": ["u1"]}));
    let r = inst.provision(&batch(3)).unwrap();
    assert_eq!(r.results[0].outcome, Outcome::Created);
    assert_eq!(r.results[1].outcome, Outcome::Failed);
    let e = r.results[1].error.as_ref().unwrap();
    assert_eq!(e.kind, ErrorKind::InvalidAttribute);
    assert!(!e.retryable);
    let inst = open(json!({"fail_source_ids": ["*"], "fail_retryable": true}));
    let r = inst.provision(&batch(2)).unwrap();
    let e = r.results[0].error.as_ref().unwrap();
    assert_eq!((e.kind, e.retryable, e.retry_after_ms), (ErrorKind::RateLimited, true, Some(10)));
}

#[test]
fn open_failures_are_typed() {
    let lib = lib();
    let err = lib
        .open(&TargetSettings { v: 1, settings: json!({"reject_open": true}).as_object().cloned().unwrap() })
        .unwrap_err();
    assert!(matches!(err, CallError::Connector(ref e) if e.kind == ErrorKind::Configuration), "{err}");
    let err = lib.open_raw(b"{not json").unwrap_err();
    assert!(matches!(err, CallError::InvalidArgument(ref e) if e.message.contains("not valid JSON")), "{err}");
    let err = lib.open_raw(&[0xff, 0xfe, b'{']).unwrap_err();
    assert!(matches!(err, CallError::InvalidArgument(ref e) if e.message.contains("UTF-8")), "{err}");
}

#[test]
fn panics_become_status_codes_in_every_operation() {
    let lib = lib();
    let err = lib
        .open(&TargetSettings { v: 1, settings: json!({"panic_in": "open"}).as_object().cloned().unwrap() })
        .unwrap_err();
    assert!(matches!(err, CallError::Panic(ref m) if m.contains("panic in open")), "{err}");
    for op in ["test", "provision", "search"] {
        let inst = open(json!({"panic_in": op}));
        let err = match op {
            "test" => inst.test().map(|_| ()),
            "provision" => inst.provision(&batch(1)).map(|_| ()),
            _ => inst
                .search(&SearchRequest {
                    v: 1,
                    object_class: ObjectClass::User,
                    filter: None,
                    page_size: 1,
                    cookie: None,
                })
                .map(|_| ()),
        }
        .unwrap_err();
        assert!(matches!(err, CallError::Panic(ref m) if m.contains(op)), "{op}: {err}");
        // The process survives and other instances keep working.
        assert_eq!(open(json!({})).provision(&batch(1)).unwrap().results.len(), 1);
    }
}

#[test]
fn unsupported_and_malformed() {
    let inst = open(json!({"unsupported": ["search", "test"]}));
    assert!(matches!(inst.test(), Err(CallError::Unsupported(_))));
    let inst = open(json!({"malformed": true}));
    let err = inst.provision(&batch(3)).unwrap_err();
    assert!(matches!(err, CallError::Connector(ref e) if e.message.contains("2 results for 3 records")), "{err}");
}

#[test]
fn bad_inputs_at_every_entry_point() {
    let lib = lib();
    let t = lib.raw_table();
    let inst = open(json!({}));
    let handle = {
        // Reach the raw handle by opening one directly through the table.
        let mut h: *mut ConnInstance = std::ptr::null_mut();
        let mut e = empty();
        let s = b"{}";
        // SAFETY: valid pointers for the call.
        let st = unsafe { (t.instance_new.unwrap())(s.as_ptr(), s.len(), &mut h, &mut e) };
        assert_eq!(st, CONN_OK);
        h
    };
    let free = t.buf_free.unwrap();
    let ops = [("test", t.test.unwrap()), ("provision", t.provision.unwrap()), ("search", t.search.unwrap())];
    for (name, op) in ops {
        let good = b"{\"v\":1,\"object_class\":\"user\",\"records\":[]}";
        let newer = b"{\"v\":2,\"object_class\":\"user\",\"records\":[]}";
        let cases: Vec<(&str, *const ConnInstance, *const u8, usize, bool)> = vec![
            ("NULL instance", std::ptr::null(), good.as_ptr(), good.len(), true),
            ("NULL request", handle, std::ptr::null(), 5, true),
            ("bad UTF-8", handle, [0xc3u8, 0x28].as_ptr(), 2, true),
            ("bad JSON", handle, b"{oops".as_ptr(), 5, true),
            ("unknown payload version", handle, newer.as_ptr(), newer.len(), true),
            ("oversized", handle, good.as_ptr(), CONN_MAX_INPUT_LEN + 1, true),
            ("NULL out_response", handle, good.as_ptr(), good.len(), false),
        ];
        for (case, i, p, n, with_out) in cases {
            let mut out = empty();
            let mut err = empty();
            let out_ptr: *mut ConnBuf = if with_out { &mut out } else { std::ptr::null_mut() };
            // SAFETY: every pointer is NULL or valid; lengths beyond the buffer are rejected before reading.
            let st = unsafe { op(i, p, n, out_ptr, &mut err) };
            assert_eq!(st, CONN_ERR_INVALID_ARG, "{name} / {case}");
            assert!(out.ptr.is_null(), "{name} / {case}: no response on failure");
            let msg = String::from_utf8_lossy(
                // SAFETY: the connector filled err with len bytes.
                unsafe { std::slice::from_raw_parts(err.ptr, err.len) },
            )
            .into_owned();
            assert!(msg.contains("\"kind\""), "{name} / {case}: {msg}");
            // SAFETY: freeing buffers the connector filled; a second free is a no-op by contract.
            unsafe {
                free(&mut err);
                free(&mut err);
            }
            // A NULL out_error is allowed: the status alone reports the failure.
            // SAFETY: as above.
            let st = unsafe { op(i, p, n, out_ptr, std::ptr::null_mut()) };
            assert_eq!(st, CONN_ERR_INVALID_ARG, "{name} / {case} without out_error");
        }
    }
    // describe / instance_new with NULL outputs; plugin entry with bad host structs.
    // SAFETY: NULL outputs are part of the contract's checked cases.
    unsafe {
        assert_eq!((t.describe.unwrap())(std::ptr::null_mut(), std::ptr::null_mut()), CONN_ERR_INVALID_ARG);
        assert_eq!(
            (t.instance_new.unwrap())(b"{}".as_ptr(), 2, std::ptr::null_mut(), std::ptr::null_mut()),
            CONN_ERR_INVALID_ARG
        );
        (t.buf_free.unwrap())(std::ptr::null_mut());
        (t.instance_free.unwrap())(std::ptr::null_mut());
        (t.instance_free.unwrap())(handle);
    }
    drop(inst);
}

#[test]
fn plugin_entry_checks_the_host_table() {
    let path = common::cdylib("fake_connector");
    // SAFETY: loading the fake connector and calling its entry with crafted host structs.
    unsafe {
        let lib = libloading::Library::new(&path).unwrap();
        let entry = *lib.get::<ConnPluginEntryFn>(b"conn_plugin_entry\0").unwrap();
        let mut out: *const ConnPluginV1 = std::ptr::null();
        let mut host =
            ConnHostV1 { struct_size: 24, abi_major: 1, abi_minor: 0, user_data: std::ptr::null_mut(), log: None };
        assert_eq!(entry(std::ptr::null(), &mut out), CONN_ERR_INVALID_ARG);
        assert_eq!(entry(&host, std::ptr::null_mut()), CONN_ERR_INVALID_ARG);
        host.abi_major = 2;
        assert_eq!(entry(&host, &mut out), CONN_ERR_ABI_MISMATCH);
        host.abi_major = 1;
        host.struct_size = 8;
        assert_eq!(entry(&host, &mut out), CONN_ERR_ABI_MISMATCH);
        assert!(out.is_null(), "no table is written on refusal");
        host.struct_size = 24;
        assert_eq!(entry(&host, &mut out), CONN_OK);
        assert!(!out.is_null());
        std::mem::forget(lib); // never unloaded
    }
}

#[test]
fn concurrent_calls_on_one_instance() {
    let inst = Arc::new(open(json!({"sleep_ms": 2})));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let inst = Arc::clone(&inst);
            std::thread::spawn(move || {
                for round in 0..20 {
                    let req = ProvisionRequest {
                        v: 1,
                        records: (0..10).map(|i| user(&format!("t{t}-r{round}-{i}"))).collect(),
                        deadline_ms: None,
                    };
                    let r = inst.provision(&req).unwrap();
                    assert_eq!(r.results.len(), 10);
                    assert!(r.results.iter().all(|x| x.outcome == Outcome::Created));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(inst.test().unwrap().details["objects"], json!(8 * 20 * 10));
}

#[test]
fn every_returned_buffer_is_freed_exactly_once() {
    let inst = open(json!({"fail_source_ids": ["u1"]}));
    let before = live_buffers(&inst);
    for _ in 0..50 {
        inst.provision(&batch(20)).unwrap();
        let _ = inst.search(&SearchRequest {
            v: 1,
            object_class: ObjectClass::User,
            filter: None,
            page_size: 5,
            cookie: None,
        });
        let _ = inst.library().open_raw(b"garbage");
    }
    // `test` itself allocates one response buffer, live while the count is taken.
    assert_eq!(live_buffers(&inst), before, "buffers leaked or double-freed across the ABI");
}
