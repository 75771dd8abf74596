//! The C-level contract of ABI v1: fixed-width integers, pointers and `#[repr(C)]` structs of them.
//!
//! This file is the single source of `include/connector_abi.h` (cbindgen reads this file only). Rules:
//! tables only grow by appending fields, every table starts with `struct_size` and its version, status
//! codes are `int32_t` constants (never Rust enums), and no struct is passed by value.

use abi_stable::StableAbi;
use std::ffi::c_void;

/// Major version of the connector ABI. A host and a connector must agree on it exactly.
pub const CONN_ABI_MAJOR: u16 = 1;
/// Minor version of the connector ABI. Minors only append; both sides use the lesser of the two.
pub const CONN_ABI_MINOR: u16 = 0;

/// The call succeeded; outputs were written.
pub const CONN_OK: i32 = 0;
/// An argument was invalid: a NULL pointer, bad UTF-8, malformed JSON, an oversized or undersized input.
pub const CONN_ERR_INVALID_ARG: i32 = 1;
/// The host and the connector do not share an ABI major, or a table is too small.
pub const CONN_ERR_ABI_MISMATCH: i32 = 2;
/// The operation is not supported by this connector.
pub const CONN_ERR_UNSUPPORTED: i32 = 3;
/// The connector failed; `out_error` holds an error payload (JSON) with kind, message and retry hints.
pub const CONN_ERR_CONNECTOR: i32 = 4;
/// The connector panicked (a bug). The instance should be discarded; `out_error` holds the message.
pub const CONN_ERR_PANIC: i32 = 5;

/// Log level: error.
pub const CONN_LOG_ERROR: i32 = 1;
/// Log level: warning.
pub const CONN_LOG_WARN: i32 = 2;
/// Log level: information.
pub const CONN_LOG_INFO: i32 = 3;
/// Log level: debug.
pub const CONN_LOG_DEBUG: i32 = 4;
/// Log level: trace.
pub const CONN_LOG_TRACE: i32 = 5;

/// Largest JSON input, in bytes, any entry point accepts (64 MiB); larger inputs get `CONN_ERR_INVALID_ARG`.
pub const CONN_MAX_INPUT_LEN: usize = 67_108_864;

/// An opaque connector instance, created by `instance_new` and destroyed by `instance_free`.
///
/// Instances are internally synchronised: a host may call operations on one instance from several
/// threads at once.
#[repr(C)]
#[derive(StableAbi)]
pub struct ConnInstance {
    _opaque: [u8; 0],
}

/// A byte buffer allocated by the connector (UTF-8 JSON unless stated otherwise).
///
/// Ownership: the host must release every buffer the connector filled, and only through the same
/// connector's `buf_free`. `buf_free` resets the struct to `{NULL, 0, 0}`, so freeing twice is harmless.
/// A host initialises buffers to `{NULL, 0, 0}` before passing them as outputs.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct ConnBuf {
    /// Start of the bytes, or NULL when empty.
    pub ptr: *mut u8,
    /// Number of valid bytes.
    pub len: usize,
    /// Allocation size, for the connector's own use. Hosts must not change it.
    pub cap: usize,
}

/// Services the host offers to the connector, passed to `conn_plugin_entry`.
///
/// The connector copies the fields it knows; the struct is borrowed for the call only. A connector
/// reads a field added in a later minor only after checking `struct_size`.
#[repr(C)]
#[derive(StableAbi)]
pub struct ConnHostV1 {
    /// `sizeof(ConnHostV1)` as the host compiled it.
    pub struct_size: u32,
    /// The host's ABI major.
    pub abi_major: u16,
    /// The host's ABI minor.
    pub abi_minor: u16,
    /// Opaque pointer passed back to `log`.
    pub user_data: *mut c_void,
    /// Log sink, or NULL. May be called from any connector thread, at any time until the process
    /// exits; `msg` is UTF-8, borrowed for the call only, and never contains secrets.
    pub log: Option<extern "C" fn(user_data: *mut c_void, level: i32, msg: *const u8, msg_len: usize)>,
}

/// The connector's function table, returned by `conn_plugin_entry`. Static: never freed.
///
/// Append-only: fields added in minor N are read only when
/// `struct_size >= offsetof(field) + sizeof(field)`. Optional operations may be NULL
/// (the host treats NULL like `CONN_ERR_UNSUPPORTED`).
///
/// Operation signature: `(instance, request_json, request_len, out_response, out_error) -> status`.
/// Inputs are borrowed for the call only. On `CONN_OK` only `out_response` is written; on any other
/// status only `out_error` is written (an error payload), and only when `out_error` is not NULL.
#[repr(C)]
#[derive(StableAbi)]
pub struct ConnPluginV1 {
    /// `sizeof(ConnPluginV1)` as the connector compiled it.
    pub struct_size: u32,
    /// The connector's ABI major.
    pub abi_major: u16,
    /// The connector's ABI minor.
    pub abi_minor: u16,
    /// Frees a buffer this connector filled and resets it to `{NULL, 0, 0}`. NULL-safe, thread-safe.
    pub buf_free: Option<unsafe extern "C" fn(buf: *mut ConnBuf)>,
    /// Writes the descriptor (JSON) to `out_descriptor`. Thread-safe; needs no instance.
    pub describe: Option<unsafe extern "C" fn(out_descriptor: *mut ConnBuf, out_error: *mut ConnBuf) -> i32>,
    /// Creates an instance from target settings (JSON). Validates them without touching the network.
    pub instance_new: Option<
        unsafe extern "C" fn(
            settings_json: *const u8,
            settings_len: usize,
            out_instance: *mut *mut ConnInstance,
            out_error: *mut ConnBuf,
        ) -> i32,
    >,
    /// Destroys an instance (stops its runtime). NULL-safe. No call on it may be in flight.
    pub instance_free: Option<unsafe extern "C" fn(instance: *mut ConnInstance)>,
    /// Verifies the credentials and settings against the target. Blocking; thread-safe.
    pub test: Option<
        unsafe extern "C" fn(
            instance: *const ConnInstance,
            request_json: *const u8,
            request_len: usize,
            out_response: *mut ConnBuf,
            out_error: *mut ConnBuf,
        ) -> i32,
    >,
    /// Applies a batch of channel records; the response holds one result per record, in order.
    /// Blocking; thread-safe.
    pub provision: Option<
        unsafe extern "C" fn(
            instance: *const ConnInstance,
            request_json: *const u8,
            request_len: usize,
            out_response: *mut ConnBuf,
            out_error: *mut ConnBuf,
        ) -> i32,
    >,
    /// Reads one page of target objects. Blocking; thread-safe. Optional (NULL = unsupported).
    pub search: Option<
        unsafe extern "C" fn(
            instance: *const ConnInstance,
            request_json: *const u8,
            request_len: usize,
            out_response: *mut ConnBuf,
            out_error: *mut ConnBuf,
        ) -> i32,
    >,
}

/// Type of `conn_abi_version`: returns `(major << 16) | minor`. Pure: no allocation, no runtime,
/// callable before anything else.
pub type ConnAbiVersionFn = extern "C" fn() -> u32;

/// Type of `conn_plugin_entry`: checks the host's version and table, then writes the connector's
/// static table to `*out_plugin`. Returns `CONN_ERR_ABI_MISMATCH` when the majors differ.
pub type ConnPluginEntryFn = unsafe extern "C" fn(host: *const ConnHostV1, out_plugin: *mut *const ConnPluginV1) -> i32;

// Layout pins for 64-bit targets: changing any of these is an ABI break (bump the major).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<ConnBuf>() == 24);
    assert!(std::mem::size_of::<ConnHostV1>() == 24);
    assert!(std::mem::size_of::<ConnPluginV1>() == 64);
    assert!(std::mem::offset_of!(ConnPluginV1, buf_free) == 8);
    assert!(std::mem::offset_of!(ConnPluginV1, provision) == 48);
    assert!(std::mem::offset_of!(ConnPluginV1, search) == 56);
};
