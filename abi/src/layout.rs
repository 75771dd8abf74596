//! abi_stable layout checks: a Rust host refuses a connector whose table drifted under the same major.
//! C and Java hosts rely on the version and `struct_size` checks instead.
//!
//! What is compared is the **v1.0 prefix** of `ConnPluginV1` ([`TableV1_0`], frozen): every 1.x table
//! starts with it, so a 1.0 connector and a 1.1 host (or the other way round) compare equal, while a field
//! that changed type or place under major 1 is caught. Fields a minor appends are covered by
//! `struct_size`, the negotiated minor, and const assertions on their offsets in `raw.rs`.

use crate::raw::{ConnBuf, ConnHostV1, ConnInstance, ConnPluginV1};
use abi_stable::type_layout::TypeLayout;
use abi_stable::StableAbi;
use std::ffi::c_void;

/// The ABI 1.0 table, frozen: never edit it (a new major gets a new prefix).
pub use v1_0::ConnPluginV1 as TableV1_0;

mod v1_0 {
    use super::*;

    /// The ABI 1.0 `ConnPluginV1`, frozen. It keeps that name because abi_stable compares type names:
    /// connectors built before 1.1 export the layout of a type called `ConnPluginV1`.
    #[repr(C)]
    #[derive(StableAbi)]
    #[allow(dead_code, missing_docs, unreachable_pub)] // a layout description; never instantiated
    pub struct ConnPluginV1 {
        pub(super) struct_size: u32,
        pub(super) abi_major: u16,
        pub(super) abi_minor: u16,
        pub(super) buf_free: Option<unsafe extern "C" fn(buf: *mut ConnBuf)>,
        pub(super) describe: Option<unsafe extern "C" fn(out_descriptor: *mut ConnBuf, out_error: *mut ConnBuf) -> i32>,
        pub(super) instance_new: Option<
            unsafe extern "C" fn(
                settings_json: *const u8,
                settings_len: usize,
                out_instance: *mut *mut ConnInstance,
                out_error: *mut ConnBuf,
            ) -> i32,
        >,
        pub(super) instance_free: Option<unsafe extern "C" fn(instance: *mut ConnInstance)>,
        pub(super) test: Option<
            unsafe extern "C" fn(
                instance: *const ConnInstance,
                request_json: *const u8,
                request_len: usize,
                out_response: *mut ConnBuf,
                out_error: *mut ConnBuf,
            ) -> i32,
        >,
        pub(super) provision: Option<
            unsafe extern "C" fn(
                instance: *const ConnInstance,
                request_json: *const u8,
                request_len: usize,
                out_response: *mut ConnBuf,
                out_error: *mut ConnBuf,
            ) -> i32,
        >,
        pub(super) search: Option<
            unsafe extern "C" fn(
                instance: *const ConnInstance,
                request_json: *const u8,
                request_len: usize,
                out_response: *mut ConnBuf,
                out_error: *mut ConnBuf,
            ) -> i32,
        >,
    }
}

// The current table starts with the frozen prefix, field by field.
const _: () = {
    use std::mem::offset_of;
    assert!(
        std::mem::size_of::<TableV1_0>() == crate::raw::CONN_PLUGIN_V1_0_SIZE as usize
            || cfg!(not(target_pointer_width = "64"))
    );
    assert!(offset_of!(TableV1_0, buf_free) == offset_of!(ConnPluginV1, buf_free));
    assert!(offset_of!(TableV1_0, describe) == offset_of!(ConnPluginV1, describe));
    assert!(offset_of!(TableV1_0, instance_new) == offset_of!(ConnPluginV1, instance_new));
    assert!(offset_of!(TableV1_0, instance_free) == offset_of!(ConnPluginV1, instance_free));
    assert!(offset_of!(TableV1_0, test) == offset_of!(ConnPluginV1, test));
    assert!(offset_of!(TableV1_0, provision) == offset_of!(ConnPluginV1, provision));
    assert!(offset_of!(TableV1_0, search) == offset_of!(ConnPluginV1, search));
    assert!(offset_of!(ConnPluginV1, cancel) == std::mem::size_of::<TableV1_0>());
};

/// The type of `conn_abi_layout_v1`, which SDK connectors export for Rust hosts: it returns a
/// `&'static TypeLayout` (of `ConnPluginV1`) as an untyped pointer. Not part of the C header.
pub type AbiLayoutFn = extern "C" fn() -> *const c_void;

/// The layout every 1.x table is checked against: the frozen v1.0 prefix ([`TableV1_0`]).
pub fn table_layout() -> &'static TypeLayout {
    <TableV1_0 as StableAbi>::LAYOUT
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
