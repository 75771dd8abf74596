//! The connector side of the ABI: the [`Connector`] trait and the
//! [`export_connector!`](crate::export_connector) macro.
//!
//! A connector implements [`Connector`] and writes `connector_abi::export_connector!(MyConnector);`.
//! The macro exports `conn_abi_version`, `conn_plugin_entry` and `conn_abi_layout_v1`; every entry point
//! it generates validates its inputs (NULL, bad UTF-8, bad JSON, oversized input, a payload version it does
//! not understand, wrong `struct_size`) and turns a panic into `CONN_ERR_PANIC` with the message. No
//! connector writes `extern "C"` by hand.

use crate::payload::{
    decode, understood_versions, DecodeError, Descriptor, ErrorInfo, ErrorKind, ProvisionRequest, ProvisionResponse,
    SearchPage, SearchRequest, TargetSettings, TestRequest, TestResponse, Versioned,
};
use crate::raw::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, RwLock};

/// Why a connector operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The request or the settings were malformed (becomes `CONN_ERR_INVALID_ARG`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The operation is not supported (becomes `CONN_ERR_UNSUPPORTED`).
    #[error("unsupported operation: {0}")]
    Unsupported(String),
    /// The operation failed (becomes `CONN_ERR_CONNECTOR` with this error payload).
    #[error("{0}")]
    Failed(ErrorInfo),
}

impl From<ErrorInfo> for ConnectorError {
    fn from(e: ErrorInfo) -> Self {
        ConnectorError::Failed(e)
    }
}

/// A connector built on the SDK. Instances must be `Send + Sync`: hosts call them from several threads.
pub trait Connector: Send + Sync + Sized + 'static {
    /// The descriptor. Must not fail and must not touch the network.
    fn describe() -> Descriptor;

    /// Creates an instance from target settings. Validates them without touching the network.
    fn open(settings: TargetSettings, log: Logger) -> Result<Self, ConnectorError>;

    /// Verifies credentials and settings against the target.
    fn test(&self, request: TestRequest) -> Result<TestResponse, ConnectorError>;

    /// Applies a batch of records; returns one result per record, in order.
    fn provision(&self, request: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError>;

    /// Reads one page of target objects. Unsupported unless overridden.
    fn search(&self, request: SearchRequest) -> Result<SearchPage, ConnectorError> {
        let _ = request;
        Err(ConnectorError::Unsupported("search".to_owned()))
    }

    /// ABI 1.1: asks every call in flight to finish early (called from another thread than the calls).
    /// The calls then return soon, their unfinished records failed and retryable. Does nothing unless
    /// overridden.
    fn cancel(&self) {}
}

/// A live instance: its connector (a `Box<C>` turned into a raw pointer), of which type, and its own
/// log sink (ABI 1.1).
struct Live {
    connector: usize,
    ty: std::any::TypeId,
    sink: Option<Arc<InstanceSink>>,
}

/// The instances this library created and has not freed, by handle. Every entry point that takes an
/// instance looks its handle up here first, so a freed or foreign handle is an error, not undefined
/// behaviour. A handle is a number, never an address, and never given out twice: a stale handle kept
/// by a host after `instance_free` can never reach an instance opened later (with another org's
/// settings) that happens to live at the same address.
static INSTANCES: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<usize, Live>>> =
    std::sync::LazyLock::new(Default::default);

/// The next handle, in steps of 16 so handles look like aligned pointers to tools that print them.
static NEXT_HANDLE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(16);

fn instances() -> std::sync::MutexGuard<'static, std::collections::HashMap<usize, Live>> {
    match INSTANCES.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The connector of `instance` when it is a live instance of `C` from this library.
fn live<C: Connector>(instance: *const ConnInstance) -> Option<*const C> {
    let live = instances();
    let l = live.get(&(instance as usize))?;
    (l.ty == std::any::TypeId::of::<C>()).then_some(l.connector as *const C)
}

fn not_live() -> (i32, ErrorInfo) {
    invalid("instance is NULL, freed, or not an instance of this connector")
}

/// Host services as copied from `ConnHostV1`.
#[derive(Clone, Copy, Debug, Default)]
struct HostServices {
    user_data: usize,
    log: Option<extern "C" fn(*mut c_void, i32, *const u8, usize)>,
}

static HOST: RwLock<Option<HostServices>> = RwLock::new(None);

/// One instance's own host services (ABI 1.1 `instance_new_with_host`), open until the instance is
/// freed: the host may release its `user_data` once `instance_free` has returned, so a thread of the
/// connector that logs later (a task still winding down) must not reach it.
#[derive(Debug)]
struct InstanceSink {
    services: HostServices,
    /// Cleared by `instance_free` under the write lock: a log call in progress (which holds the read
    /// lock) finishes first, and none starts after.
    open: RwLock<bool>,
}

impl InstanceSink {
    /// No log line reaches the host through this sink after this returns.
    fn close(&self) {
        *self.open.write().unwrap_or_else(std::sync::PoisonError::into_inner) = false;
    }
}

/// Closes an instance's sink unless the instance was opened: a failed or panicking `open` may have
/// handed its logger to a thread that outlives it, and the host releases `user_data` on failure.
struct CloseUnlessOpened(Option<Arc<InstanceSink>>);

impl Drop for CloseUnlessOpened {
    fn drop(&mut self) {
        if let Some(sink) = self.0.take() {
            sink.close();
        }
    }
}

static LIVE_BUFFERS: AtomicIsize = AtomicIsize::new(0);

/// Number of buffers this library handed out and the host has not freed yet (for leak tests).
pub fn live_buffers() -> isize {
    LIVE_BUFFERS.load(Ordering::SeqCst)
}

/// Log levels a connector can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// An error.
    Error,
    /// A warning.
    Warn,
    /// Information.
    Info,
    /// Debug detail.
    Debug,
    /// Trace detail.
    Trace,
}

impl Level {
    fn code(self) -> i32 {
        match self {
            Level::Error => CONN_LOG_ERROR,
            Level::Warn => CONN_LOG_WARN,
            Level::Info => CONN_LOG_INFO,
            Level::Debug => CONN_LOG_DEBUG,
            Level::Trace => CONN_LOG_TRACE,
        }
    }
}

/// Sends log lines to the host's log callback (if it gave one): the instance's own (ABI 1.1
/// `instance_new_with_host`; nothing is sent once the instance has been freed) or else the one given to
/// `conn_plugin_entry`. Cheap to clone; any thread.
///
/// Never log secrets through it: the host writes these lines to its logs.
#[derive(Debug, Clone, Default)]
pub struct Logger {
    sink: Option<Arc<InstanceSink>>,
}

impl Logger {
    /// Logs `msg` at `level`.
    pub fn log(&self, level: Level, msg: &str) {
        let send = |host: HostServices| {
            if let HostServices { user_data, log: Some(log) } = host {
                log(user_data as *mut c_void, level.code(), msg.as_ptr(), msg.len());
            }
        };
        match &self.sink {
            Some(sink) => {
                let open = sink.open.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                if *open {
                    send(sink.services);
                }
            }
            None => {
                let host = *HOST.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(h) = host {
                    send(h);
                }
            }
        }
    }

    /// Logs at error level.
    pub fn error(&self, msg: &str) {
        self.log(Level::Error, msg)
    }

    /// Logs at warning level.
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, msg)
    }

    /// Logs at info level.
    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg)
    }

    /// Logs at debug level.
    pub fn debug(&self, msg: &str) {
        self.log(Level::Debug, msg)
    }
}

/// Installs, once, a panic hook in the connector library (a cdylib has its own standard library, so
/// this never touches the host's hook): a panic's message and backtrace go to the host's log at debug
/// level instead of stderr. The panic itself still becomes `CONN_ERR_PANIC` with its message.
#[doc(hidden)]
pub fn route_panics_to_host_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let backtrace = std::backtrace::Backtrace::force_capture();
            Logger::default().debug(&format!("connector panic: {info}\n{backtrace}"));
        }));
    });
}

/// `(major << 16) | minor` of the ABI this SDK implements.
pub const fn abi_version() -> u32 {
    ((CONN_ABI_MAJOR as u32) << 16) | CONN_ABI_MINOR as u32
}

/// The table every SDK connector exports, with its size and version filled in.
///
/// Storing the `test`, `provision` and `search` parameters in [`ConnOperationFn`] fields also checks, at
/// compile time, that the alias is exactly the signature spelt out here.
#[doc(hidden)]
#[allow(clippy::type_complexity, clippy::too_many_arguments)] // one argument per table entry
pub const fn table(
    buf_free: unsafe extern "C" fn(*mut ConnBuf),
    describe: unsafe extern "C" fn(*mut ConnBuf, *mut ConnBuf) -> i32,
    instance_new: unsafe extern "C" fn(*const u8, usize, *mut *mut ConnInstance, *mut ConnBuf) -> i32,
    instance_free: unsafe extern "C" fn(*mut ConnInstance),
    test: unsafe extern "C" fn(*const ConnInstance, *const u8, usize, *mut ConnBuf, *mut ConnBuf) -> i32,
    provision: unsafe extern "C" fn(*const ConnInstance, *const u8, usize, *mut ConnBuf, *mut ConnBuf) -> i32,
    search: unsafe extern "C" fn(*const ConnInstance, *const u8, usize, *mut ConnBuf, *mut ConnBuf) -> i32,
    cancel: unsafe extern "C" fn(*const ConnInstance) -> i32,
    instance_new_with_host: unsafe extern "C" fn(
        *const ConnHostV1,
        *const u8,
        usize,
        *mut *mut ConnInstance,
        *mut ConnBuf,
    ) -> i32,
) -> ConnPluginV1 {
    ConnPluginV1 {
        struct_size: std::mem::size_of::<ConnPluginV1>() as u32,
        abi_major: CONN_ABI_MAJOR,
        abi_minor: CONN_ABI_MINOR,
        buf_free: Some(buf_free),
        describe: Some(describe),
        instance_new: Some(instance_new),
        instance_free: Some(instance_free),
        test: Some(test),
        provision: Some(provision),
        search: Some(search),
        cancel: Some(cancel),
        instance_new_with_host: Some(instance_new_with_host),
    }
}

/// The table as [`table`] built it (the current minor).
#[doc(hidden)]
pub const fn table_as_is(full: ConnPluginV1) -> ConnPluginV1 {
    full
}

/// `(major << 16) | minor` of ABI 1.0, for [`table_v1_0`].
pub const fn abi_version_1_0() -> u32 {
    (CONN_ABI_MAJOR as u32) << 16
}

/// The table an ABI **1.0** connector exports (`struct_size` of the 1.0 table, minor 0, none of the
/// 1.1 entries), for testing hosts against a connector built before 1.1 (`export_connector!(T, abi_1_0)`).
#[doc(hidden)]
pub const fn table_v1_0(full: ConnPluginV1) -> ConnPluginV1 {
    ConnPluginV1 {
        // The 1.0 table ends where `cancel` starts, on every target.
        struct_size: std::mem::offset_of!(ConnPluginV1, cancel) as u32,
        abi_minor: 0,
        cancel: None,
        instance_new_with_host: None,
        ..full
    }
}

/// Minimum `ConnHostV1` size a v1 connector accepts.
const HOST_V1_MIN_SIZE: usize = std::mem::size_of::<ConnHostV1>();

/// `conn_plugin_entry`: checks the host's version and table, remembers its services, returns `table`.
///
/// # Safety
/// `host` must be NULL or point to a readable `ConnHostV1` of at least `host.struct_size` bytes;
/// `out_plugin` must be NULL or writable.
#[doc(hidden)]
pub unsafe fn plugin_entry(
    host: *const ConnHostV1,
    out_plugin: *mut *const ConnPluginV1,
    table: &'static ConnPluginV1,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if host.is_null() || out_plugin.is_null() {
            return CONN_ERR_INVALID_ARG;
        }
        // SAFETY: `host` is non-NULL and the caller promises it points to a readable `ConnHostV1` of at least
        // `struct_size` bytes, which is what `read_host` needs.
        let Some(services) = (unsafe { read_host(host) }) else { return CONN_ERR_ABI_MISMATCH };
        match HOST.write() {
            Ok(mut guard) => *guard = Some(services),
            Err(poisoned) => *poisoned.into_inner() = Some(services),
        }
        // SAFETY: `out_plugin` is non-NULL and the caller promises it is writable and aligned for a pointer.
        unsafe { *out_plugin = table as *const ConnPluginV1 };
        CONN_OK
    }));
    result.unwrap_or(CONN_ERR_PANIC)
}

/// The services of a host struct, or `None` when its major or size is wrong. The header fields are read
/// first, on their own, so a struct shorter than v1.0 is refused before anything else of it is read.
///
/// # Safety
/// `host` must be non-NULL, aligned, and point to at least `struct_size` readable bytes (at least the
/// 8-byte header, which every version has).
unsafe fn read_host(host: *const ConnHostV1) -> Option<HostServices> {
    // SAFETY: the header (struct_size, abi_major) exists in every version; the caller promises it is readable.
    let (size, major) =
        unsafe { (std::ptr::addr_of!((*host).struct_size).read(), std::ptr::addr_of!((*host).abi_major).read()) };
    if major != CONN_ABI_MAJOR || (size as usize) < HOST_V1_MIN_SIZE {
        return None;
    }
    // SAFETY: `struct_size` covers the whole v1.0 struct, which the caller promises is readable; the
    // reference ends with this function.
    let h = unsafe { &*host };
    Some(HostServices { user_data: h.user_data as usize, log: h.log })
}

/// `buf_free`: releases a buffer this library allocated and resets it.
///
/// # Safety
/// `buf` must be NULL or point to a `ConnBuf` that is empty or was filled by this library and not
/// modified since.
#[doc(hidden)]
pub unsafe fn buf_free(buf: *mut ConnBuf) {
    if buf.is_null() {
        return;
    }
    // SAFETY: `buf` is non-NULL and the caller promises it points to a valid, writable `ConnBuf` that nothing
    // else accesses during this call.
    let b = unsafe { &mut *buf };
    if !b.ptr.is_null() {
        // SAFETY: ptr/len/cap came from a Vec<u8> this library leaked in `write_buf`, unchanged since
        // (caller contract), so rebuilding and dropping the Vec frees it exactly once; the struct is then
        // reset so a second free is a no-op.
        drop(unsafe { Vec::from_raw_parts(b.ptr, b.len, b.cap) });
        LIVE_BUFFERS.fetch_sub(1, Ordering::SeqCst);
    }
    b.ptr = std::ptr::null_mut();
    b.len = 0;
    b.cap = 0;
}

/// Moves `bytes` into `*out` (which the host will free with `buf_free`).
///
/// # Safety
/// `out` must be NULL or writable.
unsafe fn write_buf(out: *mut ConnBuf, bytes: Vec<u8>) {
    if out.is_null() {
        return;
    }
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    let (ptr, len, cap) = (bytes.as_mut_ptr(), bytes.len(), bytes.capacity());
    LIVE_BUFFERS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: `out` is non-NULL and the caller promises it is writable and aligned for a `ConnBuf`. The old
    // contents are overwritten without being dropped: the ABI says outputs start empty.
    unsafe { *out = ConnBuf { ptr, len, cap } };
}

/// Writes an error payload to `out_error` (if given) and returns `status`.
///
/// # Safety
/// `out_error` must be NULL or writable.
unsafe fn fail(out_error: *mut ConnBuf, status: i32, error: &ErrorInfo) -> i32 {
    let bytes =
        serde_json::to_vec(error).unwrap_or_else(|_| b"{\"v\":1,\"kind\":\"other\",\"message\":\"error\"}".to_vec());
    // SAFETY: `write_buf` needs `out_error` NULL or writable, which is this function's own contract.
    unsafe { write_buf(out_error, bytes) };
    status
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Runs `f` and maps its outcome (or panic) to a status, writing `out_error` on failure.
///
/// # Safety
/// `out_error` must be NULL or writable.
unsafe fn guarded(out_error: *mut ConnBuf, f: impl FnOnce() -> Result<(), (i32, ErrorInfo)>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CONN_OK,
        // SAFETY: `fail` needs `out_error` NULL or writable, which is this function's own contract.
        Ok(Err((status, error))) => unsafe { fail(out_error, status, &error) },
        Err(payload) => {
            let error = ErrorInfo::new(ErrorKind::Other, format!("connector panicked: {}", panic_message(&*payload)));
            // SAFETY: as above; this runs outside `catch_unwind`, which is fine because serialising a plain
            // `ErrorInfo` cannot panic.
            unsafe { fail(out_error, CONN_ERR_PANIC, &error) }
        }
    }
}

fn invalid(message: impl Into<String>) -> (i32, ErrorInfo) {
    (CONN_ERR_INVALID_ARG, ErrorInfo::new(ErrorKind::Configuration, message))
}

fn map_error(e: ConnectorError) -> (i32, ErrorInfo) {
    match e {
        ConnectorError::InvalidArgument(m) => invalid(m),
        ConnectorError::Unsupported(op) => {
            (CONN_ERR_UNSUPPORTED, ErrorInfo::new(ErrorKind::Configuration, format!("operation not supported: {op}")))
        }
        ConnectorError::Failed(info) => (CONN_ERR_CONNECTOR, info),
    }
}

/// Borrows and parses a JSON input payload, refusing a payload version this SDK does not understand.
///
/// # Safety
/// `ptr` must be NULL or point to `len` readable bytes for the duration of the call.
unsafe fn parse_input<T: DeserializeOwned + Versioned>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<T, (i32, ErrorInfo)> {
    if len > CONN_MAX_INPUT_LEN {
        return Err(invalid(format!("{what} is {len} bytes; the limit is {CONN_MAX_INPUT_LEN}")));
    }
    if ptr.is_null() {
        return Err(invalid(format!("{what} pointer is NULL")));
    }
    // SAFETY: `ptr` is non-NULL and the caller promises `len` readable bytes there for the duration of this
    // call; `len` is at most CONN_MAX_INPUT_LEN, far below isize::MAX, and the slice does not escape.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(invalid(format!("{what} is not valid UTF-8 (byte {})", e.valid_up_to())));
    }
    decode(bytes).map_err(|e| match e {
        DecodeError::Version(e) => invalid(format!(
            "{what} has payload version {}, which this connector does not understand (it understands {})",
            e.found,
            understood_versions()
        )),
        DecodeError::Json(e) => invalid(format!("{what} is not valid JSON for this operation: {e}")),
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, (i32, ErrorInfo)> {
    serde_json::to_vec(value)
        .map_err(|e| (CONN_ERR_CONNECTOR, ErrorInfo::new(ErrorKind::Other, format!("cannot encode response: {e}"))))
}

/// `describe`.
///
/// # Safety
/// Both pointers must be NULL or writable.
#[doc(hidden)]
pub unsafe fn describe<C: Connector>(out: *mut ConnBuf, out_error: *mut ConnBuf) -> i32 {
    let run = || {
        if out.is_null() {
            return Err(invalid("out_descriptor is NULL"));
        }
        let bytes = to_json(&C::describe())?;
        // SAFETY: `out` is non-NULL and the caller promises it is writable.
        unsafe { write_buf(out, bytes) };
        Ok(())
    };
    // SAFETY: `guarded` needs `out_error` NULL or writable, which the caller promises.
    unsafe { guarded(out_error, run) }
}

/// `instance_new`.
///
/// # Safety
/// `settings` must be NULL or point to `len` readable bytes; the out pointers NULL or writable.
#[doc(hidden)]
pub unsafe fn instance_new<C: Connector>(
    settings: *const u8,
    len: usize,
    out_instance: *mut *mut ConnInstance,
    out_error: *mut ConnBuf,
) -> i32 {
    // SAFETY: the caller promises what `open_instance` needs of `settings`, `len` and `out_instance`.
    let run = || unsafe { open_instance::<C>(settings, len, out_instance, Logger::default()) };
    // SAFETY: `guarded` needs `out_error` NULL or writable, which the caller promises.
    unsafe { guarded(out_error, run) }
}

/// Opens an instance of `C` logging through `log`, registers its handle and writes it to `out_instance`.
///
/// # Safety
/// `settings` must be NULL or point to `len` readable bytes for the call; `out_instance` NULL or writable.
unsafe fn open_instance<C: Connector>(
    settings: *const u8,
    len: usize,
    out_instance: *mut *mut ConnInstance,
    log: Logger,
) -> Result<(), (i32, ErrorInfo)> {
    if out_instance.is_null() {
        return Err(invalid("out_instance is NULL"));
    }
    // SAFETY: the caller promises `settings` is NULL or points to `len` readable bytes for this call.
    let settings: TargetSettings = unsafe { parse_input(settings, len, "target settings") }?;
    let sink = log.sink.clone();
    let instance = C::open(settings, log).map_err(map_error)?;
    let connector = Box::into_raw(Box::new(instance)) as usize;
    let handle = NEXT_HANDLE.fetch_add(16, Ordering::SeqCst);
    instances().insert(handle, Live { connector, ty: std::any::TypeId::of::<C>(), sink });
    // SAFETY: `out_instance` is non-NULL and the caller promises it is writable.
    unsafe { *out_instance = handle as *mut ConnInstance };
    Ok(())
}

/// `instance_new_with_host` (ABI 1.1): an instance that logs through `host`'s services alone.
///
/// # Safety
/// `host` must be NULL or point to a readable `ConnHostV1` of at least `host.struct_size` bytes;
/// `settings` NULL or `len` readable bytes; the out pointers NULL or writable.
#[doc(hidden)]
pub unsafe fn instance_new_with_host<C: Connector>(
    host: *const ConnHostV1,
    settings: *const u8,
    len: usize,
    out_instance: *mut *mut ConnInstance,
    out_error: *mut ConnBuf,
) -> i32 {
    let run = || {
        if host.is_null() {
            return Err(invalid("host is NULL"));
        }
        // SAFETY: `host` is non-NULL and the caller promises a readable `ConnHostV1` of at least its
        // `struct_size` bytes, which is what `read_host` needs.
        let services = unsafe { read_host(host) }.ok_or_else(|| {
            (
                CONN_ERR_ABI_MISMATCH,
                ErrorInfo::new(ErrorKind::Configuration, "host ABI major or struct_size not supported"),
            )
        })?;
        let sink = Arc::new(InstanceSink { services, open: RwLock::new(true) });
        let mut close = CloseUnlessOpened(Some(Arc::clone(&sink)));
        // SAFETY: the caller promises what `open_instance` needs of `settings`, `len` and `out_instance`.
        let opened = unsafe { open_instance::<C>(settings, len, out_instance, Logger { sink: Some(sink) }) };
        if opened.is_ok() {
            // The instance owns the sink now: `instance_free` closes it.
            close.0 = None;
        }
        opened
    };
    // SAFETY: `guarded` needs `out_error` NULL or writable, which the caller promises.
    unsafe { guarded(out_error, run) }
}

/// `cancel` (ABI 1.1).
///
/// # Safety
/// `instance` may be anything: it is used only if it is a live instance of `C` from this library, which
/// the caller must not free while this call runs.
#[doc(hidden)]
pub unsafe fn cancel<C: Connector>(instance: *const ConnInstance) -> i32 {
    let Some(connector) = live::<C>(instance) else {
        return CONN_ERR_INVALID_ARG;
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the handle is live for `C`, so `connector` came from `Box::<C>::into_raw` in this library
        // and is not freed (the caller does not free the instance during this call); `C: Sync`.
        let connector = unsafe { &*connector };
        connector.cancel();
    }));
    if result.is_ok() {
        CONN_OK
    } else {
        CONN_ERR_PANIC
    }
}

/// `instance_free`. A NULL, already freed or foreign handle is ignored.
///
/// # Safety
/// No call may be in flight on `instance`.
#[doc(hidden)]
pub unsafe fn instance_free<C: Connector>(instance: *mut ConnInstance) {
    // A NULL, freed or foreign handle is ignored: freeing it would be undefined behaviour.
    let Live { connector, sink, .. } = {
        let mut live = instances();
        match live.get(&(instance as usize)) {
            Some(l) if l.ty == std::any::TypeId::of::<C>() => {}
            _ => return,
        }
        let Some(l) = live.remove(&(instance as usize)) else { return };
        if live.is_empty() {
            // Give the map's memory back once no instance is left (leak checkers see a clean exit).
            live.shrink_to_fit();
        }
        l
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the handle was live for `C` (and is now removed), so `connector` came from
        // `Box::<C>::into_raw` in this library and was not freed; no call is in flight (caller contract),
        // so rebuilding the box and dropping it frees it exactly once.
        drop(unsafe { Box::from_raw(connector as *mut C) });
    }));
    // The instance logs through the host's services until here (its drop may log), and never after.
    if let Some(sink) = sink {
        sink.close();
    }
}

/// Shared body of `test`, `provision` and `search`.
///
/// # Safety
/// `instance` must be NULL or a live instance of `C` from this library; `req` NULL or `len` readable
/// bytes; the out pointers NULL or writable.
#[doc(hidden)]
pub unsafe fn operation<C: Connector, Req: DeserializeOwned + Versioned, Resp: Serialize>(
    instance: *const ConnInstance,
    req: *const u8,
    len: usize,
    out: *mut ConnBuf,
    out_error: *mut ConnBuf,
    op: fn(&C, Req) -> Result<Resp, ConnectorError>,
) -> i32 {
    let run = || {
        let Some(connector) = live::<C>(instance) else {
            return Err(not_live());
        };
        if out.is_null() {
            return Err(invalid("out_response is NULL"));
        }
        // SAFETY: the caller promises `req` is NULL or points to `len` readable bytes for this call.
        let request: Req = unsafe { parse_input(req, len, "request") }?;
        // SAFETY: the handle is live for `C`, so `connector` came from `Box::<C>::into_raw` in this library,
        // and the caller does not free the instance while this call runs. `C: Sync`, so shared references
        // to it from several threads at once are sound.
        let connector = unsafe { &*connector };
        let response = op(connector, request).map_err(map_error)?;
        let bytes = to_json(&response)?;
        // SAFETY: `out` is non-NULL and the caller promises it is writable.
        unsafe { write_buf(out, bytes) };
        Ok(())
    };
    // SAFETY: `guarded` needs `out_error` NULL or writable, which the caller promises.
    unsafe { guarded(out_error, run) }
}

/// `test` body.
#[doc(hidden)]
pub fn op_test<C: Connector>(c: &C, r: TestRequest) -> Result<TestResponse, ConnectorError> {
    c.test(r)
}

/// `provision` body: also checks the one-result-per-record rule.
#[doc(hidden)]
pub fn op_provision<C: Connector>(c: &C, r: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
    let n = r.records.len();
    let response = c.provision(r)?;
    if response.results.len() != n {
        return Err(ConnectorError::Failed(ErrorInfo::new(
            ErrorKind::Other,
            format!("connector bug: {} results for {} records", response.results.len(), n),
        )));
    }
    Ok(response)
}

/// `search` body.
#[doc(hidden)]
pub fn op_search<C: Connector>(c: &C, r: SearchRequest) -> Result<SearchPage, ConnectorError> {
    c.search(r)
}

/// Exports a [`Connector`] implementation through the C ABI.
///
/// Generates `conn_abi_version`, `conn_plugin_entry` and `conn_abi_layout_v1`, and a static
/// `ConnPluginV1` whose entries are panic-safe wrappers around the trait. Use it once per library: the
/// symbol names are fixed by the ABI.
///
/// The expansion's `unsafe` blocks carry their own `// SAFETY:` comments and compile clean in the expanding
/// crate under `unsafe_op_in_unsafe_fn`, `clippy::undocumented_unsafe_blocks` and `unreachable_pub`.
#[macro_export]
macro_rules! export_connector {
    ($ty:ty) => {
        $crate::export_connector!(@export $ty, $crate::sdk::abi_version(), $crate::sdk::table_as_is);
    };
    // A connector as an ABI 1.0 build would export it (1.0 table and version): for testing hosts
    // against connectors built before 1.1.
    ($ty:ty, abi_1_0) => {
        $crate::export_connector!(@export $ty, $crate::sdk::abi_version_1_0(), $crate::sdk::table_v1_0);
    };
    (@export $ty:ty, $version:expr, $shape:expr) => {
        #[allow(unsafe_code)]
        const _: () = {
            use $crate::raw::{ConnBuf, ConnHostV1, ConnInstance, ConnPluginV1};

            // Each wrapper below is what a C host calls through the table. Their contracts are the ones
            // include/connector_abi.h states for the entry of the same name; each SDK function requires no
            // more than that, and checks NULLs, sizes, encodings and versions itself and catches panics.
            unsafe extern "C" fn __conn_buf_free(buf: *mut ConnBuf) {
                // SAFETY: the C caller passes NULL or a buffer this library filled and has not changed or
                // freed (the `buf_free` contract), which is what `sdk::buf_free` requires.
                unsafe { $crate::sdk::buf_free(buf) }
            }
            unsafe extern "C" fn __conn_describe(out: *mut ConnBuf, err: *mut ConnBuf) -> i32 {
                // SAFETY: the C caller passes NULL or writable buffers (the `describe` contract), which is
                // what `sdk::describe` requires.
                unsafe { $crate::sdk::describe::<$ty>(out, err) }
            }
            unsafe extern "C" fn __conn_instance_new(
                p: *const u8,
                n: usize,
                out: *mut *mut ConnInstance,
                err: *mut ConnBuf,
            ) -> i32 {
                // SAFETY: the C caller passes NULL or `n` readable bytes, and NULL or writable outputs (the
                // `instance_new` contract), which is what `sdk::instance_new` requires.
                unsafe { $crate::sdk::instance_new::<$ty>(p, n, out, err) }
            }
            unsafe extern "C" fn __conn_instance_free(i: *mut ConnInstance) {
                // SAFETY: the C caller passes NULL or a live instance from this table's `instance_new`
                // (so a `$ty`) with no call in flight (the `instance_free` contract), which is what
                // `sdk::instance_free::<$ty>` requires.
                unsafe { $crate::sdk::instance_free::<$ty>(i) }
            }
            unsafe extern "C" fn __conn_test(
                i: *const ConnInstance,
                p: *const u8,
                n: usize,
                out: *mut ConnBuf,
                err: *mut ConnBuf,
            ) -> i32 {
                // SAFETY: the C caller passes NULL or a live `$ty` instance from this table, NULL or `n`
                // readable bytes, and NULL or writable outputs (the `ConnOperationFn` contract), which is
                // what `sdk::operation::<$ty, ..>` requires.
                unsafe { $crate::sdk::operation::<$ty, _, _>(i, p, n, out, err, $crate::sdk::op_test::<$ty>) }
            }
            unsafe extern "C" fn __conn_provision(
                i: *const ConnInstance,
                p: *const u8,
                n: usize,
                out: *mut ConnBuf,
                err: *mut ConnBuf,
            ) -> i32 {
                // SAFETY: as in `__conn_test`: the `ConnOperationFn` contract the C caller follows is what
                // `sdk::operation::<$ty, ..>` requires.
                unsafe { $crate::sdk::operation::<$ty, _, _>(i, p, n, out, err, $crate::sdk::op_provision::<$ty>) }
            }
            unsafe extern "C" fn __conn_search(
                i: *const ConnInstance,
                p: *const u8,
                n: usize,
                out: *mut ConnBuf,
                err: *mut ConnBuf,
            ) -> i32 {
                // SAFETY: as in `__conn_test`: the `ConnOperationFn` contract the C caller follows is what
                // `sdk::operation::<$ty, ..>` requires.
                unsafe { $crate::sdk::operation::<$ty, _, _>(i, p, n, out, err, $crate::sdk::op_search::<$ty>) }
            }

            unsafe extern "C" fn __conn_cancel(i: *const ConnInstance) -> i32 {
                // SAFETY: `sdk::cancel` uses the handle only if it is a live `$ty` of this library, and the
                // C caller does not free it during the call (the `cancel` contract).
                unsafe { $crate::sdk::cancel::<$ty>(i) }
            }
            unsafe extern "C" fn __conn_instance_new_with_host(
                h: *const ConnHostV1,
                p: *const u8,
                n: usize,
                out: *mut *mut ConnInstance,
                err: *mut ConnBuf,
            ) -> i32 {
                // SAFETY: the C caller passes NULL or a readable host struct, NULL or `n` readable bytes,
                // and NULL or writable outputs (the `instance_new_with_host` contract), which is what
                // `sdk::instance_new_with_host` requires.
                unsafe { $crate::sdk::instance_new_with_host::<$ty>(h, p, n, out, err) }
            }

            static __CONN_TABLE: ConnPluginV1 = ($shape)($crate::sdk::table(
                __conn_buf_free,
                __conn_describe,
                __conn_instance_new,
                __conn_instance_free,
                __conn_test,
                __conn_provision,
                __conn_search,
                __conn_cancel,
                __conn_instance_new_with_host,
            ));

            /// Returns `(major << 16) | minor`. Pure.
            #[no_mangle]
            extern "C" fn conn_abi_version() -> u32 {
                $version
            }

            /// Returns the connector's static table after checking the host's.
            ///
            /// # Safety
            /// `host` must be NULL or point to a readable `ConnHostV1` of at least `host->struct_size`
            /// bytes; `out_plugin` must be NULL or writable.
            #[no_mangle]
            unsafe extern "C" fn conn_plugin_entry(
                host: *const ConnHostV1,
                out_plugin: *mut *const ConnPluginV1,
            ) -> i32 {
                $crate::sdk::route_panics_to_host_log();
                // SAFETY: the C caller follows this function's contract (above, and `conn_plugin_entry` in
                // include/connector_abi.h), which is what `sdk::plugin_entry` requires.
                unsafe { $crate::sdk::plugin_entry(host, out_plugin, &__CONN_TABLE) }
            }

            /// Rust hosts only: the abi_stable `TypeLayout` of `ConnPluginV1` as this library sees it.
            #[no_mangle]
            extern "C" fn conn_abi_layout_v1() -> *const ::std::ffi::c_void {
                $crate::layout::table_layout_ptr()
            }

            // The exported symbols have exactly the types hosts look them up with: the typedefs of the
            // header, and the loader's type for the layout symbol.
            const _: $crate::raw::ConnAbiVersionFn = conn_abi_version;
            const _: $crate::raw::ConnPluginEntryFn = conn_plugin_entry;
            const _: $crate::layout::AbiLayoutFn = conn_abi_layout_v1;
        };
    };
}
