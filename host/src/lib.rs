//! The provisioning host: the library behind the `provisioner` binary.
//!
//! - [`config`]: the TOML configuration, with located errors;
//! - [`source`]: channel sources (LDIF, CSV) streaming entries; [`ldapfilter`] evaluates filters;
//! - [`mapping`]: attribute mapping and templates;
//! - [`state`]: the SQLite state store; [`audit`]: the audit log;
//! - [`engine`]: the cycle (diff, batches, results, groups);
//! - [`connections`]: loading connectors and building their target settings;
//! - [`commands`]: one module per CLI command.

pub mod audit;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connections;
pub mod engine;
pub mod ldapfilter;
pub mod mapping;
pub mod source;
pub mod state;
