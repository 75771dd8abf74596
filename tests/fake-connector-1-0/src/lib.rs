//! The fake connector (`tests/fake-connector`) exported as an ABI **1.0** connector: `conn_abi_version`
//! says 1.0 and the table stops after `search` (no `cancel`, no `instance_new_with_host`). Hosts are
//! tested against it to prove they still work with connectors built before ABI 1.1.

include!("../../fake-connector/src/connector.rs");

connector_abi::export_connector!(FakeConnector, abi_1_0);
