//! Cost of one `provision` round trip across the ABI per record (JSON both ways), fake connector.
//!
//! Run: `cargo build --release -p fake-connector && cargo bench -p connector-abi --bench roundtrip`
//! Prints, per batch size, the median time per call and per record over many calls.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design

use connector_abi::payload::*;
use connector_abi::ConnectorLibrary;
use serde_json::json;
use std::time::Instant;

fn main() {
    // Panics, naming the build command, when the library is missing or stale.
    let so = test_support::cdylib("fake_connector");
    let lib = ConnectorLibrary::load(&so).expect("load fake connector");
    let inst = lib.open(&TargetSettings::default()).expect("open");
    println!("abi round trip (host serialise -> ABI -> connector parse/apply/serialise -> ABI -> host parse)");
    println!("{:>6} {:>8} {:>14} {:>16}", "batch", "calls", "median/call", "median/record");
    for &n in &[1usize, 100, 1000] {
        let records: Vec<Record> = (0..n)
            .map(|i| {
                let mut a = Attributes::new();
                a.insert("userName".into(), json!(format!("user{i}")));
                a.insert("primaryEmail".into(), json!(format!("user{i}@example.com")));
                a.insert("title".into(), json!("Engineer"));
                Record {
                    object_class: ObjectClass::User,
                    source_id: format!("uid-{i}"),
                    target_id: Some(format!("F{i:08}")),
                    event: Event::Upsert,
                    attributes: a,
                    changed: None,
                    members: vec![],
                    previous_members: None,
                }
            })
            .collect();
        let req = ProvisionRequest { v: 1, records, deadline_ms: None };
        inst.provision(&req).expect("warm-up");
        let calls = (200_000 / n).clamp(50, 20_000);
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            let r = inst.provision(&req).expect("provision");
            samples.push(t.elapsed().as_nanos() as f64);
            std::hint::black_box(r);
        }
        samples.sort_by(|a, b| a.total_cmp(b));
        let median = samples[samples.len() / 2];
        println!("{:>6} {:>8} {:>11.2} µs {:>13.3} µs", n, calls, median / 1000.0, median / 1000.0 / n as f64);
    }
}
