//! The C contract of the provisioning connector ABI v1: fixed-width integers, pointers and `#[repr(C)]`
//! structs of them, shared by a provisioning host and the connectors it loads.
//!
//! `include/connector_abi.h` is generated from `abi/src/raw.rs` by cbindgen: its items, their doc
//! comments and this overview. Do not edit the header by hand; regenerate it with
//! `UPDATE_EXPECT=1 cargo test -p connector-abi --test generated` (the same test fails when it is stale).
//!
//! # Loading a connector
//!
//! 1. Open the library (`dlopen`) and never close it: connector threads may run until the process exits.
//! 2. Call `conn_abi_version()` before anything else and refuse the connector when its major differs from
//!    `CONN_ABI_MAJOR`. Both sides then speak the lesser of the two minors.
//! 3. Fill a `ConnHostV1` and call `conn_plugin_entry()` for the connector's `ConnPluginV1` table. Refuse a
//!    table whose `struct_size` is below the v1.0 size (`CONN_PLUGIN_V1_0_SIZE`) or whose required entries
//!    are NULL. Read a field added in a later minor only when the negotiated minor has it and
//!    `struct_size` covers it (copy the first `struct_size` bytes into a zeroed `ConnPluginV1`: the
//!    missing entries then read as NULL).
//! 4. Call `describe`, then `instance_new` (or, from 1.1, `instance_new_with_host`), the operations
//!    (`test`, `provision`, `search`; from 1.1 `cancel` from another thread) and finally `instance_free`.
//!
//! Connectors built with the Rust SDK also export `conn_abi_layout_v1`. It is for Rust hosts only (it
//! returns an abi_stable type layout, to catch a table that drifted under the same version); other hosts
//! ignore it.
//!
//! # Status codes
//!
//! Every function returning `int32_t` returns `CONN_OK` or one of the `CONN_ERR_*` codes; a host treats
//! any other value as a failure. Except in `conn_plugin_entry`, a failure comes with an error payload in
//! `out_error` whenever `out_error` is not NULL.
//!
//! # Ownership
//!
//! - Inputs (request and settings bytes, the `ConnHostV1` struct) are borrowed for the call only: the
//!   connector neither keeps nor frees them.
//! - Every `ConnBuf` the connector fills was allocated by the connector. The host releases it exactly
//!   once, and only through the same connector's `buf_free`: never with `free()`, never through another
//!   connector's `buf_free`.
//! - Hosts pass output buffers initialised to `{NULL, 0, 0}`. The connector overwrites an output buffer
//!   without reading or freeing what it held, so a buffer that still holds data leaks.
//! - Instances are created by `instance_new` and destroyed by `instance_free`; hosts never dereference them.
//! - The `ConnPluginV1` table is static: never freed, valid until the process exits.
//!
//! # On failure
//!
//! On `CONN_OK` only the call's own outputs are written and `out_error` is left untouched. On any other
//! status only `out_error` is written (when it is not NULL) and the call's own outputs (`out_response`,
//! `out_descriptor`, `*out_instance`, `*out_plugin`) are left untouched. No entry crashes on NULL pointers,
//! bad UTF-8, malformed JSON or oversized inputs, and a panic inside the connector becomes
//! `CONN_ERR_PANIC`: it never unwinds into the host.
//!
//! # Threads
//!
//! Every function may be called from any thread, and concurrently, including several operations on one
//! instance. Only `instance_free` must not overlap a call on the same instance. Operations block until
//! their work is done. The host's `log` callback may be called from any connector thread, concurrently,
//! until the process exits.
//!
//! # Payloads
//!
//! Requests, responses, settings, the descriptor and errors are UTF-8 JSON, described by the JSON Schemas
//! in `include/schemas/`. Unknown fields are ignored, so payloads grow without layout changes. Every
//! top-level payload carries `"v"`, its payload version, which is 1 throughout ABI v1: an absent `v` means
//! 1, and a reader refuses a `v` it does not understand (any other value today) rather than guess: the
//! connector answers `CONN_ERR_INVALID_ARG`, a host refuses the connector's payload. `v` changes only for
//! an incompatible change; additions keep it. Objects nested in a payload (an error inside a `provision`
//! result) follow the `v` of the payload that holds them. Inputs larger than `CONN_MAX_INPUT_LEN` bytes
//! are refused with `CONN_ERR_INVALID_ARG`.

use abi_stable::StableAbi;
use std::ffi::c_void;

/// Major version of the connector ABI. A host and a connector must agree on it exactly: a host refuses a
/// connector whose `conn_abi_version()` reports another major, and `conn_plugin_entry` refuses a host
/// whose `abi_major` differs.
pub const CONN_ABI_MAJOR: u16 = 1;
/// Minor version of the connector ABI. Minors only append (table fields, optional operations, payload
/// fields); both sides use the lesser of the two.
///
/// - 1.0: the first table (`struct_size` 64 on 64-bit targets).
/// - 1.1: appends `cancel` and `instance_new_with_host` to `ConnPluginV1`; `ProvisionRequest` gains
///   `deadline_ms`.
pub const CONN_ABI_MINOR: u16 = 1;

/// `sizeof` the ABI 1.0 `ConnPluginV1` on 64-bit targets: a table whose `struct_size` is this has none of
/// the fields 1.1 appended (hosts compare with `offsetof(ConnPluginV1, cancel)` on other targets).
pub const CONN_PLUGIN_V1_0_SIZE: u32 = 64;

/// The call succeeded: its outputs were written and `out_error` was left untouched.
pub const CONN_OK: i32 = 0;
/// An argument was invalid: a NULL pointer, bad UTF-8, malformed JSON, an oversized input, a payload
/// version the connector does not understand, or settings or a request the connector rejected. Sending
/// the same input again fails again.
pub const CONN_ERR_INVALID_ARG: i32 = 1;
/// The host and the connector do not share an ABI major, or a table is too small.
pub const CONN_ERR_ABI_MISMATCH: i32 = 2;
/// The operation is not supported by this connector; `out_error` says which.
pub const CONN_ERR_UNSUPPORTED: i32 = 3;
/// The connector failed; `out_error` holds an error payload (JSON) with kind, message and retry hints.
pub const CONN_ERR_CONNECTOR: i32 = 4;
/// The connector panicked (a bug). The process is unharmed, but the instance should be discarded
/// (`instance_free`) and a new one opened; `out_error` holds the message.
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

/// Largest JSON input, in bytes, accepted as `settings_len` or `request_len` (64 MiB); a larger input gets
/// `CONN_ERR_INVALID_ARG` before any of its bytes is read.
pub const CONN_MAX_INPUT_LEN: usize = 67_108_864;

/// An opaque connector instance, created by `instance_new` and destroyed by `instance_free`.
///
/// Hosts never dereference it, and it need not be an address (connectors built with the Rust SDK hand
/// out numbers that are never reused, so a handle kept after `instance_free` is refused with
/// `CONN_ERR_INVALID_ARG` instead of reaching an instance opened later). Instances are internally
/// synchronised: a host may call operations on one instance from several threads at once.
///
/// The header declares it as an incomplete type (`typedef struct ConnInstance ConnInstance;`); the
/// generator writes that line itself, because cbindgen would give the struct a body.
#[repr(C)]
#[derive(StableAbi)]
pub struct ConnInstance {
    _opaque: [u8; 0],
}

/// A byte buffer the connector allocated and returns to the host (UTF-8 JSON, not NUL-terminated).
///
/// Ownership: the connector allocates it when it fills an output. The host reads `len` bytes at `ptr`, then
/// releases the buffer exactly once, only through the same connector's `buf_free`, from any thread.
/// `buf_free` resets the struct to `{NULL, 0, 0}`, so freeing it again is harmless. Hosts pass output
/// buffers initialised to `{NULL, 0, 0}`: the connector overwrites an output without reading or freeing
/// what it held.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct ConnBuf {
    /// Start of the bytes, or NULL when empty.
    pub ptr: *mut u8,
    /// Number of valid bytes at `ptr`.
    pub len: usize,
    /// Allocation size in bytes. It is here for the connector, not the host: the connector's allocator
    /// needs it to free the buffer (Rust frees an allocation by pointer and capacity). Hosts treat it as
    /// opaque and never change it. ABI v1's layout is frozen, so it stays; a future major may hide it.
    pub cap: usize,
}

/// Services the host offers the connector, passed to `conn_plugin_entry`.
///
/// Borrowed for the call only: the connector copies the fields it knows. A connector reads a field added in
/// a later minor only after checking `struct_size`. In ABI v1 the services belong to the library, not to an
/// instance: the last `conn_plugin_entry` call's `log` and `user_data` serve every instance.
#[repr(C)]
#[derive(StableAbi)]
pub struct ConnHostV1 {
    /// `sizeof(ConnHostV1)` as the host compiled it. A connector refuses a struct smaller than its v1.0
    /// size with `CONN_ERR_ABI_MISMATCH`.
    pub struct_size: u32,
    /// The host's ABI major (`CONN_ABI_MAJOR`); a connector refuses another major with
    /// `CONN_ERR_ABI_MISMATCH`.
    pub abi_major: u16,
    /// The host's ABI minor (`CONN_ABI_MINOR`).
    pub abi_minor: u16,
    /// Opaque pointer passed back as `log`'s first argument; may be NULL. The connector never dereferences
    /// it; the host keeps it valid for as long as `log` may be called.
    pub user_data: *mut c_void,
    /// Log sink, or NULL for none. Called from any connector thread, possibly concurrently, at any time
    /// after `conn_plugin_entry` returns until the process exits, so it must be thread-safe. `level` is a
    /// `CONN_LOG_*` value; `msg` is `msg_len` bytes of UTF-8 (not NUL-terminated), borrowed for the call
    /// only, and never contains secrets.
    pub log: Option<extern "C" fn(user_data: *mut c_void, level: i32, msg: *const u8, msg_len: usize)>,
}

/// The signature of the instance operations `test`, `provision` and `search`:
/// `(instance, request_json, request_len, out_response, out_error) -> status`. NULL in a table means the
/// connector does not provide the operation.
///
/// - `instance`: a live handle from the same connector's `instance_new`; must not be NULL.
/// - `request_json`, `request_len`: the request payload (UTF-8 JSON), borrowed for the call only; must not
///   be NULL, at most `CONN_MAX_INPUT_LEN` bytes.
/// - `out_response`: must not be NULL; on `CONN_OK` it receives the response payload, which the host frees
///   with `buf_free`.
/// - `out_error`: may be NULL; on any other status it receives an error payload, which the host frees
///   with `buf_free`.
///
/// Returns `CONN_OK`; `CONN_ERR_INVALID_ARG` for a NULL argument, an oversized input, bad UTF-8, malformed
/// JSON, a payload version the connector does not understand or a request it rejects;
/// `CONN_ERR_UNSUPPORTED`; `CONN_ERR_CONNECTOR` when the operation failed as a whole (per-record failures of
/// `provision` are results, under `CONN_OK`); `CONN_ERR_PANIC`. On failure `out_response` is untouched; on
/// success `out_error` is untouched.
///
/// Blocking: returns when the work is done. Thread-safe: several operations may run on one instance at
/// once, from any threads.
pub type ConnOperationFn = Option<
    unsafe extern "C" fn(
        instance: *const ConnInstance,
        request_json: *const u8,
        request_len: usize,
        out_response: *mut ConnBuf,
        out_error: *mut ConnBuf,
    ) -> i32,
>;

/// The connector's function table, written by `conn_plugin_entry`. Static: never freed, valid until the
/// process exits, readable from any thread.
///
/// Append-only: a field added in minor N is read only when `struct_size >= offsetof(field) + sizeof(field)`.
///
/// Required entries: `buf_free`, `describe`, `instance_new`, `instance_free` and `provision`; a host refuses
/// a table where one of them is NULL. Optional: `test` and `search` may be NULL, which a host treats like
/// `CONN_ERR_UNSUPPORTED`. (Connectors built with the Rust SDK fill every entry and answer
/// `CONN_ERR_UNSUPPORTED` at call time instead.)
// `test`, `provision` and `search` are `ConnOperationFn` for cbindgen, which then declares them with that
// typedef. abi_stable's derive cannot see through a type alias, so each of them spells the signature out
// for it in `unsafe_change_type`: the derived layout stays the one ABI v1 froze (parameter names included),
// which the `frozen_v1_table_layout` test in `abi/tests/loader.rs` checks against a copy of the v1.0
// declaration; `sdk::table` checks that the alias is that signature.
#[repr(C)]
#[derive(StableAbi)]
pub struct ConnPluginV1 {
    /// `sizeof(ConnPluginV1)` as the connector compiled it: at least the v1.0 size.
    pub struct_size: u32,
    /// The connector's ABI major, equal to the major `conn_abi_version()` reports.
    pub abi_major: u16,
    /// The connector's ABI minor, equal to the minor `conn_abi_version()` reports.
    pub abi_minor: u16,
    /// Releases a buffer this connector filled and resets it to `{NULL, 0, 0}`. Required.
    ///
    /// `buf` may be NULL (nothing happens) or point to an empty buffer (it is only reset). Otherwise it
    /// must point to a buffer this same connector filled, unchanged since (`cap` included) and not yet
    /// freed. Never fails; thread-safe.
    pub buf_free: Option<unsafe extern "C" fn(buf: *mut ConnBuf)>,
    /// Writes the connector's descriptor payload (JSON) to `out_descriptor`. Required.
    ///
    /// `out_descriptor` must not be NULL; `out_error` may be NULL. Needs no instance and touches no network;
    /// thread-safe. Returns `CONN_OK` (the host frees `out_descriptor` with `buf_free`),
    /// `CONN_ERR_INVALID_ARG` when `out_descriptor` is NULL, `CONN_ERR_CONNECTOR` or `CONN_ERR_PANIC`. On
    /// failure `out_descriptor` is untouched.
    pub describe: Option<unsafe extern "C" fn(out_descriptor: *mut ConnBuf, out_error: *mut ConnBuf) -> i32>,
    /// Creates an instance from the target settings payload (JSON). Required.
    ///
    /// `settings_json` points to `settings_len` bytes, borrowed for the call only, and must not be NULL;
    /// `out_instance` must not be NULL; `out_error` may be NULL. Validates the settings without touching the
    /// network; thread-safe. Returns `CONN_OK` and writes the new handle to `*out_instance` (the host
    /// destroys it with `instance_free`); `CONN_ERR_INVALID_ARG` for a NULL pointer, an oversized input, bad
    /// UTF-8, malformed JSON or a payload version the connector does not understand; `CONN_ERR_INVALID_ARG`
    /// or `CONN_ERR_CONNECTOR` when the connector rejects the settings; `CONN_ERR_UNSUPPORTED`;
    /// `CONN_ERR_PANIC`. On failure `*out_instance` is untouched.
    pub instance_new: Option<
        unsafe extern "C" fn(
            settings_json: *const u8,
            settings_len: usize,
            out_instance: *mut *mut ConnInstance,
            out_error: *mut ConnBuf,
        ) -> i32,
    >,
    /// Destroys an instance and stops its threads, blocking until they stop. Required.
    ///
    /// `instance` may be NULL (nothing happens); otherwise it must come from this connector's
    /// `instance_new` and not be destroyed yet, with no call on it in flight and none started afterwards.
    /// Never fails. Buffers the instance returned stay valid, and are still freed with `buf_free`.
    pub instance_free: Option<unsafe extern "C" fn(instance: *mut ConnInstance)>,
    /// Verifies the credentials and settings against the target: a test request payload in, a test
    /// response payload out. Optional (NULL: unsupported). See `ConnOperationFn`.
    #[sabi(unsafe_change_type = Option<
        unsafe extern "C" fn(
            instance: *const ConnInstance,
            request_json: *const u8,
            request_len: usize,
            out_response: *mut ConnBuf,
            out_error: *mut ConnBuf,
        ) -> i32,
    >)]
    pub test: ConnOperationFn,
    /// Applies a batch of channel records: a provision request payload in, a provision response payload
    /// out, holding one result per record in request order. Required. See `ConnOperationFn`.
    #[sabi(unsafe_change_type = Option<
        unsafe extern "C" fn(
            instance: *const ConnInstance,
            request_json: *const u8,
            request_len: usize,
            out_response: *mut ConnBuf,
            out_error: *mut ConnBuf,
        ) -> i32,
    >)]
    pub provision: ConnOperationFn,
    /// Reads one page of target objects: a search request payload in, a search page payload out.
    /// Optional (NULL: unsupported). See `ConnOperationFn`.
    #[sabi(unsafe_change_type = Option<
        unsafe extern "C" fn(
            instance: *const ConnInstance,
            request_json: *const u8,
            request_len: usize,
            out_response: *mut ConnBuf,
            out_error: *mut ConnBuf,
        ) -> i32,
    >)]
    pub search: ConnOperationFn,
    /// **ABI 1.1.** Asks every call in flight on `instance` to finish early. Optional: absent from a 1.0
    /// table (read it only when `struct_size >= offsetof(ConnPluginV1, cancel) + sizeof(void *)` and the
    /// negotiated minor is at least 1) or NULL.
    ///
    /// Returns at once; the calls in flight then return soon, each record not finished coming back
    /// `failed` with `retryable: true` (nothing more is sent for it). Calls made after `cancel` run
    /// normally. `instance` must be a live instance of this connector; a NULL, freed or foreign handle
    /// gets `CONN_ERR_INVALID_ARG`. Returns `CONN_OK` or `CONN_ERR_PANIC`. Thread-safe: meant to be
    /// called from another thread than the one blocked in `provision` (not from a signal handler).
    pub cancel: Option<unsafe extern "C" fn(instance: *const ConnInstance) -> i32>,
    /// **ABI 1.1.** Like `instance_new`, with host services for this instance alone: the instance logs
    /// through `host->log` with `host->user_data` (copied; `host` is borrowed for the call only), so two
    /// hosts in one process never receive each other's logs. The instance calls that `log` only until
    /// `instance_free` returns for it (a call in progress when it is freed finishes first), or, when
    /// this call fails, until it returns; the host may then release that `user_data`. That `log` must
    /// not wait for the thread that calls `instance_free`, nor call `instance_free` itself. Optional
    /// (absent from a 1.0 table, see `cancel`); without it, instances log through the services given to
    /// `conn_plugin_entry`. `host` must not be NULL and must
    /// pass the same checks as in `conn_plugin_entry`; the other arguments, return codes and ownership
    /// are those of `instance_new`.
    pub instance_new_with_host: Option<
        unsafe extern "C" fn(
            host: *const ConnHostV1,
            settings_json: *const u8,
            settings_len: usize,
            out_instance: *mut *mut ConnInstance,
            out_error: *mut ConnBuf,
        ) -> i32,
    >,
}

/// The type of `conn_abi_version`, for hosts that look the symbol up at run time (`dlsym`).
pub type ConnAbiVersionFn = extern "C" fn() -> u32;

/// The type of `conn_plugin_entry`, for hosts that look the symbol up at run time (`dlsym`).
pub type ConnPluginEntryFn = unsafe extern "C" fn(host: *const ConnHostV1, out_plugin: *mut *const ConnPluginV1) -> i32;

// The entry points every connector library exports, declared here so that cbindgen writes their prototypes
// into the header from the same source as everything else (cbindgen declares the functions of an
// `extern "C"` block). `cfg(doc)` keeps the block out of every real build (no Rust code can call, or link
// against, a symbol the abi crate does not define) while rustdoc shows it and cbindgen, which reads the
// source without evaluating `cfg`, emits it. The definitions are generated by `export_connector!`, which
// checks them against `ConnAbiVersionFn` and `ConnPluginEntryFn`; the C host (`tests/c/host.c`) checks
// that these prototypes agree with those typedefs.
#[cfg(doc)]
extern "C" {
    /// Returns the ABI version the connector implements, as `(major << 16) | minor`.
    ///
    /// The first function a host calls: pure (no allocation, no threads, no other connector code runs),
    /// infallible and thread-safe. A host refuses the connector when `conn_abi_version() >> 16` differs from
    /// `CONN_ABI_MAJOR`.
    pub fn conn_abi_version() -> u32;

    /// Checks the host's services and writes a pointer to the connector's static function table to
    /// `*out_plugin`.
    ///
    /// - `host`: the host's services, borrowed for the call only (the connector copies `log` and
    ///   `user_data`, see `ConnHostV1`); must not be NULL.
    /// - `out_plugin`: must not be NULL; on `CONN_OK` it receives the static `ConnPluginV1`, never freed.
    ///
    /// Returns `CONN_OK`; `CONN_ERR_INVALID_ARG` when an argument is NULL; `CONN_ERR_ABI_MISMATCH` when
    /// `host->abi_major` differs from the connector's or `host->struct_size` is below its v1.0 size;
    /// `CONN_ERR_PANIC`. On failure `*out_plugin` is untouched. Allocates nothing the host must free.
    /// Thread-safe, and may be called again: the last call's services serve every instance.
    pub fn conn_plugin_entry(host: *const ConnHostV1, out_plugin: *mut *const ConnPluginV1) -> i32;
}

// Layout pins for 64-bit targets: changing any of these is an ABI break (bump the major).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<ConnBuf>() == 24);
    assert!(std::mem::size_of::<ConnHostV1>() == 24);
    assert!(std::mem::size_of::<ConnPluginV1>() == 80);
    assert!(std::mem::offset_of!(ConnPluginV1, buf_free) == 8);
    assert!(std::mem::offset_of!(ConnPluginV1, provision) == 48);
    assert!(std::mem::offset_of!(ConnPluginV1, search) == 56);
    // ABI 1.1 appended these; the v1.0 table ends where `cancel` starts.
    assert!(std::mem::offset_of!(ConnPluginV1, cancel) == CONN_PLUGIN_V1_0_SIZE as usize);
    assert!(std::mem::offset_of!(ConnPluginV1, instance_new_with_host) == 72);
};
