//! abi_stable layout checks: a Rust host refuses a connector whose `ConnPluginV1` drifted under the same
//! version number. C and Java hosts rely on the version and `struct_size` checks instead.

use crate::raw::{ConnHostV1, ConnPluginV1};
use abi_stable::type_layout::TypeLayout;
use abi_stable::StableAbi;
use std::ffi::c_void;

/// The type of `conn_abi_layout_v1`, which SDK connectors export for Rust hosts: it returns a
/// `&'static TypeLayout` (of `ConnPluginV1`) as an untyped pointer. Not part of the C header.
pub type AbiLayoutFn = extern "C" fn() -> *const c_void;

/// The layout of `ConnPluginV1` as this build of the crate sees it.
pub fn table_layout() -> &'static TypeLayout {
    <ConnPluginV1 as StableAbi>::LAYOUT
}

/// The layout of `ConnHostV1` as this build of the crate sees it.
pub fn host_layout() -> &'static TypeLayout {
    <ConnHostV1 as StableAbi>::LAYOUT
}

/// [`table_layout`] as an untyped pointer, for the exported `conn_abi_layout_v1` symbol.
pub fn table_layout_ptr() -> *const c_void {
    table_layout() as *const TypeLayout as *const c_void
}

/// Checks that `actual` (the connector's layout) is compatible with `expected` (the host's).
pub fn check(expected: &'static TypeLayout, actual: &'static TypeLayout) -> Result<(), String> {
    abi_stable::abi_stability::check_layout_compatibility(expected, actual).into_result().map_err(|e| e.to_string())
}
