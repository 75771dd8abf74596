//! The host side of the ABI: load a connector library, check it, open instances and call them.
//!
//! Order of checks on load: the file exists and opens; `conn_abi_version` is present and called first,
//! before any other connector code; its major must equal ours and its minor must reach the host's
//! minimum; `conn_plugin_entry` returns a table whose `struct_size` covers every v1.0 field and whose
//! required entries are set; the abi_stable layout of the table matches ours (when the connector exports
//! `conn_abi_layout_v1`); the descriptor parses and has a payload version this host understands.
//! Libraries are never unloaded.
//!
//! Every payload the connector returns (descriptor, responses, error payloads) is refused when its `v` is
//! not a version this host understands (see [`crate::payload`]): [`LoadError::UnsupportedPayloadVersion`]
//! while loading, [`CallError::UnsupportedPayloadVersion`] on a call.

use crate::layout::AbiLayoutFn;
use crate::payload::{
    decode, understood_versions, DecodeError, Descriptor, ErrorInfo, ErrorKind, ProvisionRequest, ProvisionResponse,
    SearchPage, SearchRequest, TargetSettings, TestRequest, TestResponse, Versioned,
};
use crate::raw::*;
use abi_stable::type_layout::TypeLayout;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

/// Why a connector library could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// No file at the path.
    #[error("connector library not found: {path}")]
    FileMissing {
        /// The path.
        path: PathBuf,
    },
    /// The dynamic loader refused the file.
    #[error("cannot load connector library {path}: {message}")]
    Open {
        /// The path.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// A required symbol is absent: not a connector.
    #[error("{path} is not a connector: symbol `{symbol}` not found")]
    NotAConnector {
        /// The path.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
    },
    /// ABI majors differ.
    #[error("{path}: connector ABI {found_major}.{found_minor} is incompatible with host ABI {host_major}.{host_minor} (majors differ)")]
    MajorMismatch {
        /// The path.
        path: PathBuf,
        /// The connector's major.
        found_major: u16,
        /// The connector's minor.
        found_minor: u16,
        /// Our major.
        host_major: u16,
        /// Our minor.
        host_minor: u16,
    },
    /// The connector's minor is older than the host requires.
    #[error("{path}: connector ABI minor {found_minor} is older than the {required_minor} this host requires")]
    MinorTooOld {
        /// The path.
        path: PathBuf,
        /// The connector's minor.
        found_minor: u16,
        /// The host's minimum.
        required_minor: u16,
    },
    /// `conn_plugin_entry` refused.
    #[error("{path}: conn_plugin_entry refused the host (status {status})")]
    EntryRefused {
        /// The path.
        path: PathBuf,
        /// The status it returned.
        status: i32,
    },
    /// The table reports a smaller size than v1.0 needs.
    #[error("{path}: connector table is {found} bytes; ABI v1.0 needs at least {required}")]
    TableTooSmall {
        /// The path.
        path: PathBuf,
        /// `struct_size` as reported.
        found: u32,
        /// What v1.0 needs.
        required: u32,
    },
    /// The table disagrees with `conn_abi_version`, or a required entry is NULL.
    #[error("{path}: connector table is invalid: {message}")]
    TableInvalid {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The abi_stable layout check failed.
    #[error("{path}: connector table layout differs from this host's ABI v{CONN_ABI_MAJOR} layout: {details}")]
    LayoutMismatch {
        /// The path.
        path: PathBuf,
        /// abi_stable's report.
        details: String,
    },
    /// The descriptor could not be read or is invalid.
    #[error("{path}: connector descriptor is invalid: {message}")]
    DescriptorInvalid {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The descriptor (or the error payload `describe` returned) has a payload version this host does not
    /// understand.
    #[error(
        "{path}: connector {payload} has payload version {found}; this host understands {}",
        understood_versions()
    )]
    UnsupportedPayloadVersion {
        /// The path.
        path: PathBuf,
        /// Which payload: `descriptor` or `error payload`.
        payload: &'static str,
        /// The payload's `v`.
        found: u32,
    },
}

/// Why a call into a connector failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The connector rejected the arguments (`CONN_ERR_INVALID_ARG`).
    #[error("invalid argument: {0}")]
    InvalidArgument(ErrorInfo),
    /// The operation is not supported (`CONN_ERR_UNSUPPORTED` or a NULL entry).
    #[error("operation not supported by the connector: {0}")]
    Unsupported(String),
    /// The connector failed (`CONN_ERR_CONNECTOR`).
    #[error("{0}")]
    Connector(ErrorInfo),
    /// The connector panicked (`CONN_ERR_PANIC`); discard the instance.
    #[error("connector panicked: {0}")]
    Panic(String),
    /// The connector answered `CONN_ERR_ABI_MISMATCH`.
    #[error("ABI mismatch: {0}")]
    AbiMismatch(String),
    /// The connector returned a status this host does not know.
    #[error("unknown status {status}: {message}")]
    UnknownStatus {
        /// The status.
        status: i32,
        /// The error payload's message, if any.
        message: String,
    },
    /// The connector's response was not valid for the operation.
    #[error("malformed response from connector: {0}")]
    BadResponse(String),
    /// The host could not encode its own request (nothing was sent to the connector).
    #[error("cannot encode the request: {0}")]
    Encode(String),
    /// The connector returned a payload (a response or an error payload) whose `v` this host does not
    /// understand.
    #[error("the connector's {payload} has payload version {found}; this host understands {}", understood_versions())]
    UnsupportedPayloadVersion {
        /// Which payload, e.g. `provision response` or `error payload`.
        payload: &'static str,
        /// The payload's `v`.
        found: u32,
    },
}

impl CallError {
    /// An [`ErrorInfo`] for this error, to record against every record of a failed batch.
    pub fn to_error_info(&self) -> ErrorInfo {
        match self {
            CallError::InvalidArgument(e) | CallError::Connector(e) => e.clone(),
            CallError::Panic(m) => ErrorInfo::new(ErrorKind::Other, format!("connector panicked: {m}")).retryable(),
            other => ErrorInfo::new(ErrorKind::Other, other.to_string()).retryable(),
        }
    }
}

/// Options for [`ConnectorLibrary::load_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// The oldest connector minor this host accepts (features it needs).
    pub min_minor: u16,
    /// Behave as a host of this older minor (it announces it and never uses later entries): for testing
    /// that connectors still serve older hosts. `None`: this crate's `CONN_ABI_MINOR`.
    pub host_minor: Option<u16>,
}

/// The three entry points of a connector, as found in a library (or supplied by a test).
#[derive(Clone, Copy)]
pub struct EntryPoints {
    /// `conn_abi_version`.
    pub abi_version: ConnAbiVersionFn,
    /// `conn_plugin_entry`.
    pub plugin_entry: ConnPluginEntryFn,
    /// `conn_abi_layout_v1`, exported by Rust (SDK) connectors only.
    pub layout: Option<AbiLayoutFn>,
}

/// A loaded, checked connector. Cheap to share (`Arc`); the library stays loaded for the process.
pub struct ConnectorLibrary {
    path: PathBuf,
    table: &'static ConnPluginV1,
    connector_abi: (u16, u16),
    negotiated_minor: u16,
    descriptor: Descriptor,
    descriptor_json: Vec<u8>,
}

impl std::fmt::Debug for ConnectorLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorLibrary")
            .field("path", &self.path)
            .field("connector_abi", &self.connector_abi)
            .field("name", &self.descriptor.name)
            .finish()
    }
}

/// Minimum table size for ABI v1.0: every field up to and including `search`.
pub const TABLE_V1_0_SIZE: u32 = std::mem::offset_of!(ConnPluginV1, cancel) as u32;

/// Where one instance's log lines go (ABI 1.1 `instance_new_with_host`): a sink of the host's choosing,
/// or `tracing` with the instance's label (e.g. the connection's name).
pub type LogSink = Arc<dyn Fn(i32, &str) + Send + Sync>;

/// The `user_data` of an instance's own host services.
struct InstanceLog {
    label: String,
    sink: Option<LogSink>,
}

extern "C" fn host_log(user_data: *mut c_void, level: i32, msg: *const u8, len: usize) {
    if msg.is_null() || len > CONN_MAX_INPUT_LEN {
        return;
    }
    if !user_data.is_null() {
        // SAFETY: a non-NULL `user_data` is only ever the `InstanceLog` this loader boxed for one instance
        // (`open_with_log`), which lives until after that instance is freed, so it is valid here.
        let ctx = unsafe { &*(user_data as *const InstanceLog) };
        // SAFETY: `msg` is non-NULL and points to `len` readable bytes for the duration of the call (ABI).
        let text = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(msg, len) });
        if let Some(sink) = &ctx.sink {
            sink(level, &text);
            return;
        }
        let connection = ctx.label.as_str();
        match level {
            CONN_LOG_ERROR => tracing::error!(target: "connector", connection, "{text}"),
            CONN_LOG_WARN => tracing::warn!(target: "connector", connection, "{text}"),
            CONN_LOG_INFO => tracing::info!(target: "connector", connection, "{text}"),
            CONN_LOG_DEBUG => tracing::debug!(target: "connector", connection, "{text}"),
            _ => tracing::trace!(target: "connector", connection, "{text}"),
        }
        return;
    }
    // SAFETY: `msg` is non-NULL and the ABI says it points to `len` readable bytes for the duration of the
    // call (this private function is only ever called by connectors, through `ConnHostV1::log`); `len` is
    // bounded above, and the slice does not outlive the call.
    let bytes = unsafe { std::slice::from_raw_parts(msg, len) };
    let text = String::from_utf8_lossy(bytes);
    match level {
        CONN_LOG_ERROR => tracing::error!(target: "connector", "{text}"),
        CONN_LOG_WARN => tracing::warn!(target: "connector", "{text}"),
        CONN_LOG_INFO => tracing::info!(target: "connector", "{text}"),
        CONN_LOG_DEBUG => tracing::debug!(target: "connector", "{text}"),
        _ => tracing::trace!(target: "connector", "{text}"),
    }
}

/// Splits `(major << 16) | minor`.
pub fn split_version(v: u32) -> (u16, u16) {
    ((v >> 16) as u16, (v & 0xffff) as u16)
}

/// The version rule: majors equal, the connector's minor at least `min_minor`; the negotiated minor is
/// the lesser of the two sides'.
pub fn negotiate(path: &Path, connector: (u16, u16), host: (u16, u16), min_minor: u16) -> Result<u16, LoadError> {
    if connector.0 != host.0 {
        return Err(LoadError::MajorMismatch {
            path: path.to_owned(),
            found_major: connector.0,
            found_minor: connector.1,
            host_major: host.0,
            host_minor: host.1,
        });
    }
    if connector.1 < min_minor {
        return Err(LoadError::MinorTooOld {
            path: path.to_owned(),
            found_minor: connector.1,
            required_minor: min_minor,
        });
    }
    Ok(connector.1.min(host.1))
}

impl ConnectorLibrary {
    /// Loads the connector at `path` with default options.
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<Self>, LoadError> {
        Self::load_with(path, LoadOptions::default())
    }

    /// Loads the connector at `path`.
    pub fn load_with(path: impl AsRef<Path>, options: LoadOptions) -> Result<Arc<Self>, LoadError> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(LoadError::FileMissing { path: path.to_owned() });
        }
        // SAFETY: loading a library runs its initialisers. Connector libraries are trusted code chosen by
        // the administrator; this is the one place the host accepts that. The library is leaked below and
        // never unloaded, so symbols taken from it stay valid for the process.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| LoadError::Open { path: path.to_owned(), message: e.to_string() })?;
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        // SAFETY: the symbol types are those the ABI defines for these names (include/connector_abi.h).
        let entry = unsafe {
            let abi_version = *lib
                .get::<ConnAbiVersionFn>(b"conn_abi_version\0")
                .map_err(|_| LoadError::NotAConnector { path: path.to_owned(), symbol: "conn_abi_version" })?;
            let plugin_entry = *lib
                .get::<ConnPluginEntryFn>(b"conn_plugin_entry\0")
                .map_err(|_| LoadError::NotAConnector { path: path.to_owned(), symbol: "conn_plugin_entry" })?;
            let layout = lib.get::<AbiLayoutFn>(b"conn_abi_layout_v1\0").ok().map(|s| *s);
            EntryPoints { abi_version, plugin_entry, layout }
        };
        // SAFETY: the entry points come from the connector library, which implements the ABI.
        unsafe { Self::from_entry_points(path, entry, options) }
    }

    /// Checks and wraps a connector given by its entry points (used by `load`, and by tests that build
    /// connectors in-process).
    ///
    /// # Safety
    /// The entry points must implement the ABI's contracts: `plugin_entry` returns a table that lives for
    /// the process, `layout` returns a `&'static TypeLayout`, and so on.
    pub unsafe fn from_entry_points(
        path: &Path,
        entry: EntryPoints,
        options: LoadOptions,
    ) -> Result<Arc<Self>, LoadError> {
        let connector_abi = split_version((entry.abi_version)());
        let host_minor = options.host_minor.unwrap_or(CONN_ABI_MINOR).min(CONN_ABI_MINOR);
        let negotiated_minor = negotiate(path, connector_abi, (CONN_ABI_MAJOR, host_minor), options.min_minor)?;

        let host = ConnHostV1 {
            struct_size: std::mem::size_of::<ConnHostV1>() as u32,
            abi_major: CONN_ABI_MAJOR,
            abi_minor: host_minor,
            user_data: std::ptr::null_mut(),
            log: Some(host_log),
        };
        let mut table_ptr: *const ConnPluginV1 = std::ptr::null();
        // SAFETY: `host` and `table_ptr` are live locals, valid for the call; the caller promises that
        // `plugin_entry` follows the ABI, which borrows `host` for the call only.
        let status = unsafe { (entry.plugin_entry)(&host, &mut table_ptr) };
        if status != CONN_OK {
            return Err(LoadError::EntryRefused { path: path.to_owned(), status });
        }
        if table_ptr.is_null() {
            return Err(LoadError::TableInvalid {
                path: path.to_owned(),
                message: "conn_plugin_entry returned NULL".into(),
            });
        }
        // Read only the fixed header first: it exists in every version of the table.
        // SAFETY: `table_ptr` is non-NULL and, by the ABI, points to a static table. Every version of the table
        // starts with struct_size/abi_major/abi_minor, so these reads are in bounds whatever its size.
        let (struct_size, t_major, t_minor) =
            unsafe { ((*table_ptr).struct_size, (*table_ptr).abi_major, (*table_ptr).abi_minor) };
        if struct_size < TABLE_V1_0_SIZE {
            return Err(LoadError::TableTooSmall {
                path: path.to_owned(),
                found: struct_size,
                required: TABLE_V1_0_SIZE,
            });
        }
        if (t_major, t_minor) != connector_abi {
            return Err(LoadError::TableInvalid {
                path: path.to_owned(),
                message: format!(
                    "table says ABI {t_major}.{t_minor} but conn_abi_version said {}.{}",
                    connector_abi.0, connector_abi.1
                ),
            });
        }
        // Copy the connector's table: only its first `struct_size` bytes are its own (a 1.0 table is shorter
        // than ours), the rest stay zero, which reads as NULL entries. Fields of a minor the negotiation did
        // not reach are dropped too.
        let mut copy = std::mem::MaybeUninit::<ConnPluginV1>::zeroed();
        let n = (struct_size as usize).min(std::mem::size_of::<ConnPluginV1>());
        // SAFETY: the source is the connector's static table, readable for `struct_size >= n` bytes (ABI
        // contract); the destination is a local of `size_of::<ConnPluginV1>() >= n` bytes; they do not
        // overlap.
        unsafe { std::ptr::copy_nonoverlapping(table_ptr as *const u8, copy.as_mut_ptr() as *mut u8, n) };
        // SAFETY: every field of `ConnPluginV1` is an integer or an `Option` of a function pointer, for which
        // all-zero bytes (and the connector's bytes, by the ABI) are valid values.
        let mut copy = unsafe { copy.assume_init() };
        // An appended entry exists only when the negotiated minor has it and `struct_size` covers all of
        // it (a size ending inside a field would leave half a pointer).
        let covers = |offset: usize| struct_size as usize >= offset + std::mem::size_of::<usize>();
        if negotiated_minor < 1 || !covers(std::mem::offset_of!(ConnPluginV1, cancel)) {
            copy.cancel = None;
        }
        if negotiated_minor < 1 || !covers(std::mem::offset_of!(ConnPluginV1, instance_new_with_host)) {
            copy.instance_new_with_host = None;
        }
        // One small allocation per loaded library, which is never unloaded.
        let table: &'static ConnPluginV1 = Box::leak(Box::new(copy));
        for (name, present) in [
            ("buf_free", table.buf_free.is_some()),
            ("describe", table.describe.is_some()),
            ("instance_new", table.instance_new.is_some()),
            ("instance_free", table.instance_free.is_some()),
            ("provision", table.provision.is_some()),
        ] {
            if !present {
                return Err(LoadError::TableInvalid {
                    path: path.to_owned(),
                    message: format!("required entry `{name}` is NULL"),
                });
            }
        }
        if let Some(layout_fn) = entry.layout {
            let ptr = layout_fn() as *const TypeLayout;
            if ptr.is_null() {
                return Err(LoadError::LayoutMismatch {
                    path: path.to_owned(),
                    details: "conn_abi_layout_v1 returned NULL".into(),
                });
            }
            // SAFETY: `ptr` is non-NULL and the caller promises that `conn_abi_layout_v1` returns a
            // `&'static TypeLayout`.
            let actual: &'static TypeLayout = unsafe { &*ptr };
            crate::layout::check(crate::layout::table_layout(), actual)
                .map_err(|details| LoadError::LayoutMismatch { path: path.to_owned(), details })?;
        }

        let mut lib = ConnectorLibrary {
            path: path.to_owned(),
            table,
            connector_abi,
            negotiated_minor,
            descriptor: Descriptor {
                v: 1,
                name: String::new(),
                display_name: String::new(),
                version: String::new(),
                description: String::new(),
                abi: crate::payload::AbiVersion { major: connector_abi.0, minor: connector_abi.1 },
                capabilities: Vec::new(),
                configuration: Vec::new(),
                object_classes: Vec::new(),
            },
            descriptor_json: Vec::new(),
        };
        let invalid = |message: String| LoadError::DescriptorInvalid { path: path.to_owned(), message };
        let unsupported =
            |payload, found| LoadError::UnsupportedPayloadVersion { path: path.to_owned(), payload, found };
        let describe = table.describe.ok_or_else(|| invalid("describe is NULL".into()))?;
        let json = lib.call_raw(|out, err| {
            // SAFETY: `describe` comes from a table that passed the checks above, and out/err are valid,
            // empty buffers owned by call_raw for the duration of the call.
            unsafe { describe(out, err) }
        });
        let json = json.map_err(|e| match e {
            CallError::UnsupportedPayloadVersion { payload, found } => unsupported(payload, found),
            e => invalid(e.to_string()),
        })?;
        let descriptor: Descriptor = decode(&json).map_err(|e| match e {
            DecodeError::Version(e) => unsupported("descriptor", e.found),
            DecodeError::Json(e) => invalid(e.to_string()),
        })?;
        if descriptor.name.trim().is_empty() {
            return Err(invalid("name is empty".into()));
        }
        if descriptor.abi.major != connector_abi.0 {
            return Err(invalid(format!(
                "descriptor says ABI major {} but the library says {}",
                descriptor.abi.major, connector_abi.0
            )));
        }
        lib.descriptor = descriptor;
        lib.descriptor_json = json;
        Ok(Arc::new(lib))
    }

    /// The library path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connector's descriptor.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The descriptor exactly as the connector sent it.
    pub fn descriptor_json(&self) -> &[u8] {
        &self.descriptor_json
    }

    /// The connector's `(major, minor)`.
    pub fn connector_abi(&self) -> (u16, u16) {
        self.connector_abi
    }

    /// `struct_size` of the connector's table.
    pub fn table_size(&self) -> u32 {
        self.table.struct_size
    }

    /// Whether the connector's table extends to `end_offset` bytes: check it before reading a field added
    /// in a later minor (`offsetof(field) + sizeof(field)`).
    pub fn table_has(&self, end_offset: usize) -> bool {
        self.table.struct_size as usize >= end_offset
    }

    /// The raw table, for tests that probe the entry points directly.
    pub fn raw_table(&self) -> &'static ConnPluginV1 {
        self.table
    }

    /// The minor both sides speak.
    pub fn negotiated_minor(&self) -> u16 {
        self.negotiated_minor
    }

    /// Calls `f` with two fresh buffers, frees them through the connector, and maps the status.
    fn call_raw(&self, f: impl FnOnce(*mut ConnBuf, *mut ConnBuf) -> i32) -> Result<Vec<u8>, CallError> {
        let mut out = ConnBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 };
        let mut err = ConnBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 };
        let status = f(&mut out, &mut err);
        let take = |b: &ConnBuf| -> Vec<u8> {
            if b.ptr.is_null() || b.len == 0 {
                Vec::new()
            } else {
                // SAFETY: the connector filled `b` with `len` readable bytes at a non-NULL `ptr`, valid until
                // `buf_free` below; the bytes are copied before that.
                unsafe { std::slice::from_raw_parts(b.ptr, b.len) }.to_vec()
            }
        };
        let out_bytes = take(&out);
        let err_bytes = take(&err);
        if let Some(free) = self.table.buf_free {
            // SAFETY: both buffers were filled (or left empty) by this connector and are unchanged since, and
            // each is freed exactly once, here.
            unsafe {
                free(&mut out);
                free(&mut err);
            }
        }
        if status == CONN_OK {
            return Ok(out_bytes);
        }
        let info: Option<ErrorInfo> = match decode(&err_bytes) {
            Ok(info) => Some(info),
            Err(DecodeError::Version(e)) => {
                return Err(CallError::UnsupportedPayloadVersion { payload: "error payload", found: e.found })
            }
            Err(DecodeError::Json(_)) => None,
        };
        let message = info
            .as_ref()
            .map(|i| i.message.clone())
            .unwrap_or_else(|| String::from_utf8_lossy(&err_bytes).into_owned());
        Err(match status {
            CONN_ERR_INVALID_ARG => {
                CallError::InvalidArgument(info.unwrap_or_else(|| ErrorInfo::new(ErrorKind::Configuration, message)))
            }
            CONN_ERR_UNSUPPORTED => CallError::Unsupported(message),
            CONN_ERR_CONNECTOR => CallError::Connector(
                info.ok_or_else(|| CallError::BadResponse(format!("error payload is not valid JSON: {message}")))
                    .unwrap_or_else(|e| ErrorInfo::new(ErrorKind::Other, e.to_string())),
            ),
            // The SDK's payload already says "connector panicked: ": keep one prefix, from `CallError`.
            CONN_ERR_PANIC => {
                CallError::Panic(message.strip_prefix("connector panicked: ").unwrap_or(&message).to_owned())
            }
            CONN_ERR_ABI_MISMATCH => CallError::AbiMismatch(message),
            status => CallError::UnknownStatus { status, message },
        })
    }

    /// Opens an instance from target settings.
    pub fn open(self: &Arc<Self>, settings: &TargetSettings) -> Result<Instance, CallError> {
        let json = serde_json::to_vec(settings).map_err(|e| CallError::Encode(e.to_string()))?;
        self.open_raw(&json)
    }

    /// Opens an instance from raw settings bytes (for tests of the connector's validation).
    pub fn open_raw(self: &Arc<Self>, settings_json: &[u8]) -> Result<Instance, CallError> {
        let Some(new) = self.table.instance_new else {
            return Err(CallError::Unsupported("instance_new".into()));
        };
        let mut handle: *mut ConnInstance = std::ptr::null_mut();
        self.call_raw(|_out, err| {
            // SAFETY: settings_json is borrowed for the call; handle and err are valid out pointers.
            unsafe { new(settings_json.as_ptr(), settings_json.len(), &mut handle, err) }
        })?;
        let ptr = NonNull::new(handle)
            .ok_or_else(|| CallError::BadResponse("instance_new returned OK but no instance".into()))?;
        Ok(Instance { lib: Arc::clone(self), ptr, log: None })
    }

    /// Opens an instance whose log lines go to `sink`, or with `sink` `None` to `tracing` labelled
    /// `label` (ABI 1.1 `instance_new_with_host`, so two instances never mix their logs). With a 1.0
    /// connector it falls back to [`open`](Self::open) (logs through the library-wide services).
    pub fn open_with_log(
        self: &Arc<Self>,
        settings: &TargetSettings,
        label: &str,
        sink: Option<LogSink>,
    ) -> Result<Instance, CallError> {
        let Some(new) = self.table.instance_new_with_host else {
            return self.open(settings);
        };
        let json = serde_json::to_vec(settings).map_err(|e| CallError::Encode(e.to_string()))?;
        let ctx = Box::new(InstanceLog { label: label.to_owned(), sink });
        let user_data = &*ctx as *const InstanceLog as *mut c_void;
        let host = ConnHostV1 {
            struct_size: std::mem::size_of::<ConnHostV1>() as u32,
            abi_major: CONN_ABI_MAJOR,
            abi_minor: CONN_ABI_MINOR,
            user_data,
            log: Some(host_log),
        };
        let mut handle: *mut ConnInstance = std::ptr::null_mut();
        self.call_raw(|_out, err| {
            // SAFETY: `host` and the settings are borrowed for the call; handle and err are valid out
            // pointers; `user_data` stays valid until the instance is freed (it is kept in `Instance`).
            unsafe { new(&host, json.as_ptr(), json.len(), &mut handle, err) }
        })?;
        let ptr = NonNull::new(handle)
            .ok_or_else(|| CallError::BadResponse("instance_new_with_host returned OK but no instance".into()))?;
        Ok(Instance { lib: Arc::clone(self), ptr, log: Some(ctx) })
    }
}

/// An open connector instance. `Send + Sync`: the ABI requires instances to be internally
/// synchronised. Dropping it calls the connector's `instance_free`.
pub struct Instance {
    lib: Arc<ConnectorLibrary>,
    ptr: NonNull<ConnInstance>,
    /// The instance's own log services (ABI 1.1), freed after the instance (fields drop after `drop`).
    #[allow(dead_code)] // kept alive for the connector, which holds a pointer to it
    log: Option<Box<InstanceLog>>,
}

// SAFETY: ABI v1 rule 5: instances are internally synchronised and may be called from any thread.
unsafe impl Send for Instance {}
// SAFETY: as above; every operation takes the instance by const pointer.
unsafe impl Sync for Instance {}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("connector", &self.lib.descriptor.name).finish()
    }
}

impl Instance {
    /// The library this instance belongs to.
    pub fn library(&self) -> &Arc<ConnectorLibrary> {
        &self.lib
    }

    /// Calls an operation with raw request bytes; returns the raw response bytes.
    pub fn call_raw(&self, op: Operation, request: &[u8]) -> Result<Vec<u8>, CallError> {
        let f: ConnOperationFn = match op {
            Operation::Test => self.lib.table.test,
            Operation::Provision => self.lib.table.provision,
            Operation::Search => self.lib.table.search,
        };
        let Some(f) = f else {
            return Err(CallError::Unsupported(op.name().into()));
        };
        let inst = self.ptr.as_ptr() as *const ConnInstance;
        self.lib.call_raw(|out, err| {
            // SAFETY: the instance is live (we own it), the request is borrowed for the call, and out/err
            // are valid buffers owned by call_raw.
            unsafe { f(inst, request.as_ptr(), request.len(), out, err) }
        })
    }

    fn call<Req: Serialize, Resp: DeserializeOwned + Versioned>(
        &self,
        op: Operation,
        request: &Req,
    ) -> Result<Resp, CallError> {
        let json = serde_json::to_vec(request).map_err(|e| CallError::Encode(e.to_string()))?;
        let bytes = self.call_raw(op, &json)?;
        decode(&bytes).map_err(|e| match e {
            DecodeError::Version(e) => {
                CallError::UnsupportedPayloadVersion { payload: op.response_payload(), found: e.found }
            }
            DecodeError::Json(e) => CallError::BadResponse(format!("{} response: {e}", op.name())),
        })
    }

    /// Verifies credentials and settings against the target.
    pub fn test(&self) -> Result<TestResponse, CallError> {
        self.call(Operation::Test, &TestRequest::default())
    }

    /// Provisions a batch; checks that there is one result per record.
    pub fn provision(&self, request: &ProvisionRequest) -> Result<ProvisionResponse, CallError> {
        let response: ProvisionResponse = self.call(Operation::Provision, request)?;
        if response.results.len() != request.records.len() {
            return Err(CallError::BadResponse(format!(
                "{} results for {} records",
                response.results.len(),
                request.records.len()
            )));
        }
        Ok(response)
    }

    /// Reads one page of target objects.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchPage, CallError> {
        self.call(Operation::Search, request)
    }

    /// Whether the connector can be asked to cancel (ABI 1.1 `cancel`, negotiated).
    pub fn can_cancel(&self) -> bool {
        self.lib.table.cancel.is_some()
    }

    /// Asks every call in flight on this instance to finish early (ABI 1.1). Returns `Ok(false)` when the
    /// connector does not offer `cancel` (a 1.0 connector): the calls then run to their deadline.
    pub fn cancel(&self) -> Result<bool, CallError> {
        let Some(cancel) = self.lib.table.cancel else { return Ok(false) };
        // SAFETY: the instance is live (we own it and do not free it during this call); `cancel` is
        // thread-safe by the ABI.
        match unsafe { cancel(self.ptr.as_ptr()) } {
            CONN_OK => Ok(true),
            CONN_ERR_PANIC => Err(CallError::Panic("in cancel".into())),
            CONN_ERR_INVALID_ARG => {
                Err(CallError::InvalidArgument(ErrorInfo::new(ErrorKind::Other, "cancel refused the instance")))
            }
            status => Err(CallError::UnknownStatus { status, message: String::new() }),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(free) = self.lib.table.instance_free {
            // SAFETY: the handle came from instance_new and is freed once; &mut self means no call is in flight.
            unsafe { free(self.ptr.as_ptr()) }
        }
    }
}

/// The instance operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `test`.
    Test,
    /// `provision`.
    Provision,
    /// `search`.
    Search,
}

impl Operation {
    /// The operation's name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Test => "test",
            Operation::Provision => "provision",
            Operation::Search => "search",
        }
    }

    /// The name of the operation's response payload, for messages.
    fn response_payload(self) -> &'static str {
        match self {
            Operation::Test => "test response",
            Operation::Provision => "provision response",
            Operation::Search => "search page",
        }
    }
}
