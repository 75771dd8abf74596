//! The provisioning host: the library behind the `provisioner` binary. See `ARCHITECTURE.md` for the
//! code map; in one line each, from the edges inwards:
//!
//! - [`cli`] and [`commands`]: the command line and one module per command (the binary's layer);
//! - [`config`]: the TOML file as data, with located errors; [`compile`] turns it into what runs;
//! - [`source`]: channel sources (LDIF, CSV, LDAP) streaming [`entry`] values; [`ldapfilter`] evaluates
//!   filters; [`mapping`] maps attributes;
//! - [`engine`]: the cycle (collect, decide, execute, groups, plan);
//! - [`state`]: the state store (SQLite, or PostgreSQL shared by nodes); [`cluster`]: leases and
//!   fencing of the failover and cluster modes; [`audit`]: the audit log; [`clock`]: time; [`hex`]: hex;
//! - [`connections`]: loading connectors and building their target settings.

pub mod audit;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod compile;
pub mod config;
pub mod connections;
pub mod engine;
pub mod entry;
pub mod hex;
pub mod ldapfilter;
pub mod mapping;
pub mod source;
pub mod state;
