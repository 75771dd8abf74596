//! `connector-abi`: the contract between a provisioning host and its connectors (ABI v1).
//!
//! - [`raw`]: the `#[repr(C)]` types and `int32_t` status constants (source of `include/connector_abi.h`);
//! - [`payload`]: the JSON payloads (descriptor, settings, records, results, search, errors);
//! - [`sdk`]: the connector side, a trait and [`export_connector!`];
//! - [`loader`]: the host side, which loads and checks a library and calls it;
//! - [`layout`]: abi_stable layout checks for Rust hosts.
//!
//! This is the only crate of the workspace with FFI `unsafe`; each block says why it is sound.

#![allow(unsafe_code)]
#![warn(missing_docs)]

pub mod layout;
pub mod loader;
pub mod payload;
pub mod raw;
pub mod sdk;

pub use loader::{CallError, ConnectorLibrary, Instance, LoadError, LoadOptions, Operation};
pub use payload::*;
pub use sdk::{Connector, ConnectorError, Logger};
