//! A fake connector for tests: an in-memory target whose behaviour the target settings choose.
//!
//! Settings (all optional):
//! - `fail_source_ids`: records with these source ids fail (`invalid_attribute`), or `["*"]` for all;
//! - `fail_retryable`: those failures are retryable (`rate_limited`, with `retry_after_ms`);
//! - `panic_in`: `open`, `test`, `provision` or `search` panics;
//! - `sleep_ms`: each `provision` call sleeps this long first (cut short by `cancel`, ABI 1.1: then
//!   every record of the call fails, retryable);
//! - `unsupported`: operations (`test`, `search`, `provision`) that answer "unsupported";
//! - `malformed`: `provision` returns one result too few (a broken connector);
//! - `results`: how `provision` misorders its results: `reorder` (reversed; target ids are then
//!   `T-<source id>` so a host binding by position shows it), `duplicate` (the last result replaced by
//!   a copy of the first), `foreign` (the last result names a source id not in the batch);
//! - `secret`: a confidential setting, never echoed (for secret-handling tests);
//! - `reject_open`: `open` fails with a configuration error.

//!
//! The connector itself is in `connector.rs`, which `tests/fake-connector-1-0` also includes to export
//! the same connector as an ABI 1.0 build would (for testing hosts against pre-1.1 connectors).

include!("connector.rs");

connector_abi::export_connector!(FakeConnector);
