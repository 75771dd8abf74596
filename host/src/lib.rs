//! The provisioning host: the library behind the `provisioner` binary.

pub mod commands;
