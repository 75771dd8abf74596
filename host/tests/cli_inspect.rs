//! `provisioner connectors inspect` against real libraries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design

use std::process::Command;

fn provisioner() -> Command {
    Command::new(env!("CARGO_BIN_EXE_provisioner"))
}

#[test]
fn inspect_prints_a_table() {
    let out =
        provisioner().args(["connectors", "inspect"]).arg(test_support::cdylib("fake_connector")).output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("Fake Connector (fake)"), "{s}");
    assert!(s.contains("ABI            1.1 (negotiated minor 1)"), "{s}");
    assert!(s.contains("Configuration fields"));
    assert!(s.contains("secret") && s.contains("yes"));
    assert!(s.contains("Object class user"));
}

#[test]
fn inspect_prints_json() {
    let out = provisioner()
        .args(["connectors", "inspect", "--json"])
        .arg(test_support::cdylib("fake_connector"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["descriptor"]["name"], "fake");
    assert_eq!(v["abi"]["major"], 1);
    assert!(v["descriptor"]["configuration"].as_array().unwrap().iter().any(|f| f["confidential"] == true));
}

#[test]
fn inspect_reports_loader_errors_with_exit_3() {
    let out = provisioner().args(["connectors", "inspect", "/nonexistent/libx.so"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connector library not found"));

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("libgarbage.so");
    std::fs::write(&garbage, "not a library").unwrap();
    let out = provisioner().args(["connectors", "inspect"]).arg(&garbage).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot load connector library"));
}

#[test]
fn inspect_shows_a_1_0_connector_negotiated_down() {
    let out =
        provisioner().args(["connectors", "inspect"]).arg(test_support::cdylib("fake_connector_1_0")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("ABI            1.0 (negotiated minor 0)"), "{s}");
}
