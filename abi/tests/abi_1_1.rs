//! ABI 1.1 both ways, with the real fake connector built as 1.1 and as 1.0: `cancel`, per-instance
//! log services, `deadline_ms`, and hosts of either minor with connectors of either minor.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
#![allow(unsafe_code)] // the ABI crate's own tests call raw entries with bad handles

mod common;

use connector_abi::loader::LoadOptions;
use connector_abi::payload::*;
use connector_abi::raw::CONN_PLUGIN_V1_0_SIZE;
use connector_abi::ConnectorLibrary;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn settings(v: serde_json::Value) -> TargetSettings {
    TargetSettings { v: 1, settings: v.as_object().unwrap().clone() }
}

fn request(n: usize) -> ProvisionRequest {
    let records = (0..n)
        .map(|i| Record {
            object_class: ObjectClass::User,
            source_id: format!("u{i}"),
            target_id: None,
            event: Event::Upsert,
            attributes: Attributes::new(),
            changed: None,
            members: vec![],
            previous_members: None,
        })
        .collect();
    ProvisionRequest { v: 1, records, deadline_ms: Some(60_000) }
}

#[test]
fn a_1_1_host_cancels_a_call_in_flight_from_another_thread() {
    let lib = ConnectorLibrary::load(common::cdylib("fake_connector")).unwrap();
    assert_eq!((lib.connector_abi(), lib.negotiated_minor()), ((1, 1), 1));
    let inst = Arc::new(lib.open(&settings(json!({"sleep_ms": 30_000}))).unwrap());
    assert!(inst.can_cancel());
    let canceller = {
        let inst = Arc::clone(&inst);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            inst.cancel().unwrap()
        })
    };
    let t = Instant::now();
    let r = inst.provision(&request(3)).unwrap();
    assert!(canceller.join().unwrap(), "the connector offers cancel");
    assert!(t.elapsed() < Duration::from_secs(10), "cancel cut a 30 s call short: {:?}", t.elapsed());
    assert!(r.results.iter().all(|x| x.outcome == Outcome::Failed && x.error.as_ref().unwrap().retryable));
    // Calls after a cancel run normally.
    let quick = lib.open(&settings(json!({}))).unwrap();
    assert!(quick.provision(&request(2)).unwrap().results.iter().all(|x| x.outcome == Outcome::Created));
}

#[test]
fn a_1_1_host_works_with_a_1_0_connector() {
    let lib = ConnectorLibrary::load(common::cdylib("fake_connector_1_0")).unwrap();
    assert_eq!((lib.connector_abi(), lib.negotiated_minor()), ((1, 0), 0));
    assert_eq!(lib.table_size(), CONN_PLUGIN_V1_0_SIZE);
    // Without 1.1 entries: no cancel, and instances log through the library-wide services.
    let inst = lib.open_with_log(&settings(json!({})), "conn", None).unwrap();
    assert!(!inst.can_cancel());
    assert!(!inst.cancel().unwrap(), "cancel is reported as unavailable, not an error");
    // `deadline_ms` is an additive field a 1.0 connector ignores.
    let r = inst.provision(&request(3)).unwrap();
    assert!(r.results.iter().all(|x| x.outcome == Outcome::Created));
}

#[test]
fn a_1_0_host_works_with_a_1_1_connector() {
    let lib = ConnectorLibrary::load_with(
        common::cdylib("fake_connector"),
        LoadOptions { host_minor: Some(0), ..Default::default() },
    )
    .unwrap();
    assert_eq!((lib.connector_abi(), lib.negotiated_minor()), ((1, 1), 0));
    let inst = lib.open(&settings(json!({}))).unwrap();
    assert!(!inst.can_cancel(), "a 1.0 host does not use the 1.1 entries");
    let r = inst.provision(&request(2)).unwrap();
    assert!(r.results.iter().all(|x| x.outcome == Outcome::Created));
}

#[test]
fn two_instances_never_receive_each_others_logs() {
    let lib = ConnectorLibrary::load(common::cdylib("fake_connector")).unwrap();
    let a: Arc<Mutex<Vec<String>>> = Arc::default();
    let b: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = |v: &Arc<Mutex<Vec<String>>>| {
        let v = Arc::clone(v);
        Some(Arc::new(move |_level: i32, msg: &str| v.lock().unwrap().push(msg.to_owned()))
            as connector_abi::loader::LogSink)
    };
    let ia = lib.open_with_log(&settings(json!({})), "a", sink(&a)).unwrap();
    let ib = lib.open_with_log(&settings(json!({"sleep_ms": 1})), "b", sink(&b)).unwrap();
    ia.provision(&request(3)).unwrap();
    ib.provision(&request(5)).unwrap();
    let (a, b) = (a.lock().unwrap().clone(), b.lock().unwrap().clone());
    assert_eq!(a.iter().filter(|m| m.contains("opened")).count(), 1, "{a:?}");
    assert_eq!(b.iter().filter(|m| m.contains("opened")).count(), 1, "{b:?}");
    assert!(a.iter().any(|m| m.contains("3 record(s)")) && !a.iter().any(|m| m.contains("5 record(s)")), "{a:?}");
    assert!(b.iter().any(|m| m.contains("5 record(s)")) && !b.iter().any(|m| m.contains("3 record(s)")), "{b:?}");
}

#[test]
fn freed_or_foreign_handles_are_refused() {
    let lib = ConnectorLibrary::load(common::cdylib("fake_connector")).unwrap();
    let table = lib.raw_table();
    let provision = table.provision.unwrap();
    let cancel = table.cancel.unwrap();
    let mut not_an_instance = 0u64;
    let foreign = &mut not_an_instance as *mut u64 as *const connector_abi::raw::ConnInstance;
    let mut out = connector_abi::raw::ConnBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 };
    let mut err = connector_abi::raw::ConnBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 };
    let req = b"{}";
    // SAFETY: the SDK checks handles before use, which is what this test proves; the buffers are valid.
    let status = unsafe { provision(foreign, req.as_ptr(), req.len(), &mut out, &mut err) };
    assert_eq!(status, connector_abi::raw::CONN_ERR_INVALID_ARG);
    // SAFETY: `err` was filled by this connector.
    unsafe { table.buf_free.unwrap()(&mut err) };
    // SAFETY: as above.
    assert_eq!(unsafe { cancel(foreign) }, connector_abi::raw::CONN_ERR_INVALID_ARG);
}
