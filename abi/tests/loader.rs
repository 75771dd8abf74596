//! Loader checks: every load error, version negotiation and layout checks, with connectors built
//! in-process from the SDK (so versions and tables can be bent) and with real libraries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design
#![allow(unsafe_code)] // the ABI crate's own tests build raw tables by hand

mod common;

use abi_stable::StableAbi;
use connector_abi::layout::AbiLayoutFn;
use connector_abi::loader::{negotiate, EntryPoints, LoadOptions};
use connector_abi::payload::*;
use connector_abi::raw::*;
use connector_abi::sdk::{self, Connector, ConnectorError, Logger};
use connector_abi::{CallError, ConnectorLibrary, LoadError, Operation};
use std::ffi::c_void;
use std::path::Path;

/// A minimal connector for in-process tables.
struct Mini;

impl Connector for Mini {
    fn describe() -> Descriptor {
        Descriptor {
            v: 1,
            name: "mini".into(),
            display_name: String::new(),
            version: "0.0.1".into(),
            description: String::new(),
            abi: AbiVersion { major: 1, minor: 0 },
            capabilities: vec![],
            configuration: vec![],
            object_classes: vec![],
        }
    }
    fn open(_: TargetSettings, _: Logger) -> Result<Self, ConnectorError> {
        Ok(Mini)
    }
    fn test(&self, _: TestRequest) -> Result<TestResponse, ConnectorError> {
        Ok(TestResponse { v: 1, message: "ok".into(), details: Default::default() })
    }
    fn provision(&self, r: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        Ok(ProvisionResponse {
            v: 1,
            results: r.records.iter().map(|x| RecordResult::of(x, Outcome::Unchanged, None)).collect(),
        })
    }
}

// The table entries of an in-process connector `C`, as `export_connector!` would generate them. Each one
// is called only by the loader under test, which follows the ABI contract of the entry it calls; that
// contract is what the SDK function behind it requires.
unsafe extern "C" fn bf(b: *mut ConnBuf) {
    // SAFETY: the loader passes NULL or a buffer this SDK filled, unchanged and not yet freed.
    unsafe { sdk::buf_free(b) }
}
unsafe extern "C" fn de<C: Connector>(o: *mut ConnBuf, e: *mut ConnBuf) -> i32 {
    // SAFETY: the loader passes NULL or writable buffers.
    unsafe { sdk::describe::<C>(o, e) }
}
unsafe extern "C" fn nw<C: Connector>(p: *const u8, n: usize, o: *mut *mut ConnInstance, e: *mut ConnBuf) -> i32 {
    // SAFETY: the loader passes `n` readable bytes at `p` and writable outputs.
    unsafe { sdk::instance_new::<C>(p, n, o, e) }
}
unsafe extern "C" fn fr<C: Connector>(i: *mut ConnInstance) {
    // SAFETY: the loader passes an instance from this table's `nw::<C>` (so a `C`) once, with no call in
    // flight.
    unsafe { sdk::instance_free::<C>(i) }
}
unsafe extern "C" fn te<C: Connector>(
    i: *const ConnInstance,
    p: *const u8,
    n: usize,
    o: *mut ConnBuf,
    e: *mut ConnBuf,
) -> i32 {
    // SAFETY: the loader passes a live instance from this table's `nw::<C>`, `n` readable bytes at `p` and
    // writable outputs.
    unsafe { sdk::operation::<C, _, _>(i, p, n, o, e, sdk::op_test::<C>) }
}
unsafe extern "C" fn pr<C: Connector>(
    i: *const ConnInstance,
    p: *const u8,
    n: usize,
    o: *mut ConnBuf,
    e: *mut ConnBuf,
) -> i32 {
    // SAFETY: as in `te`.
    unsafe { sdk::operation::<C, _, _>(i, p, n, o, e, sdk::op_provision::<C>) }
}
unsafe extern "C" fn se<C: Connector>(
    i: *const ConnInstance,
    p: *const u8,
    n: usize,
    o: *mut ConnBuf,
    e: *mut ConnBuf,
) -> i32 {
    // SAFETY: as in `te`.
    unsafe { sdk::operation::<C, _, _>(i, p, n, o, e, sdk::op_search::<C>) }
}

unsafe extern "C" fn ca<C: Connector>(i: *const ConnInstance) -> i32 {
    // SAFETY: `sdk::cancel` accepts any handle; the loader does not free it during the call.
    unsafe { sdk::cancel::<C>(i) }
}
unsafe extern "C" fn nh<C: Connector>(
    h: *const ConnHostV1,
    p: *const u8,
    n: usize,
    o: *mut *mut ConnInstance,
    e: *mut ConnBuf,
) -> i32 {
    // SAFETY: the loader passes a readable host struct, `n` readable bytes at `p` and writable outputs.
    unsafe { sdk::instance_new_with_host::<C>(h, p, n, o, e) }
}

/// The table of an in-process connector `C`.
const fn table_of<C: Connector>() -> ConnPluginV1 {
    // An ABI 1.0 table (the in-process connectors here say 1.0; abi_1_1.rs tests 1.1 with real libraries).
    sdk::table_v1_0(sdk::table(bf, de::<C>, nw::<C>, fr::<C>, te::<C>, pr::<C>, se::<C>, ca::<C>, nh::<C>))
}

/// A connector whose descriptor speaks a payload version this host does not know.
struct NewerDescriptor;
impl Connector for NewerDescriptor {
    fn describe() -> Descriptor {
        Descriptor { v: PAYLOAD_VERSION + 1, ..Mini::describe() }
    }
    fn open(_: TargetSettings, _: Logger) -> Result<Self, ConnectorError> {
        Ok(NewerDescriptor)
    }
    fn test(&self, _: TestRequest) -> Result<TestResponse, ConnectorError> {
        Err(ConnectorError::Unsupported("test".into()))
    }
    fn provision(&self, _: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        Err(ConnectorError::Unsupported("provision".into()))
    }
}

/// A connector that answers in a payload version this host does not know: its responses, and with
/// settings `{"fail": true}` its error payloads.
struct NewerResults {
    fail: bool,
}
impl Connector for NewerResults {
    fn describe() -> Descriptor {
        Mini::describe()
    }
    fn open(settings: TargetSettings, _: Logger) -> Result<Self, ConnectorError> {
        Ok(NewerResults { fail: settings.settings.get("fail").is_some_and(|f| f == true) })
    }
    fn test(&self, _: TestRequest) -> Result<TestResponse, ConnectorError> {
        Ok(TestResponse { v: PAYLOAD_VERSION + 1, message: "ok".into(), details: Default::default() })
    }
    fn provision(&self, r: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        if self.fail {
            let error = ErrorInfo { v: PAYLOAD_VERSION + 1, ..ErrorInfo::new(ErrorKind::Other, "in a newer shape") };
            return Err(ConnectorError::Failed(error));
        }
        Ok(ProvisionResponse {
            v: PAYLOAD_VERSION + 1,
            results: r.records.iter().map(|x| RecordResult::of(x, Outcome::Unchanged, None)).collect(),
        })
    }
}

/// A connector whose descriptor has no name.
struct NoName;
impl Connector for NoName {
    fn describe() -> Descriptor {
        let mut d = Mini::describe();
        d.name = String::new();
        d
    }
    fn open(_: TargetSettings, _: Logger) -> Result<Self, ConnectorError> {
        Ok(NoName)
    }
    fn test(&self, _: TestRequest) -> Result<TestResponse, ConnectorError> {
        Err(ConnectorError::Unsupported("test".into()))
    }
    fn provision(&self, _: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        Err(ConnectorError::Unsupported("provision".into()))
    }
}

const fn mini(major: u16, minor: u16, size: u32) -> ConnPluginV1 {
    let mut t = table_of::<Mini>();
    t.abi_major = major;
    t.abi_minor = minor;
    t.struct_size = size;
    t
}

/// ABI 1.5: the v1.0 table plus one appended entry.
#[repr(C)]
struct PluginV1_5 {
    base: ConnPluginV1,
    extra: Option<extern "C" fn() -> i32>,
}
extern "C" fn extra() -> i32 {
    42
}

static T_1_0: ConnPluginV1 = mini(1, 0, std::mem::size_of::<ConnPluginV1>() as u32);
static T_1_5: PluginV1_5 =
    PluginV1_5 { base: mini(1, 5, std::mem::size_of::<PluginV1_5>() as u32), extra: Some(extra) };
static T_SMALL: ConnPluginV1 = mini(1, 0, 16);
static T_LIES: ConnPluginV1 = mini(1, 3, std::mem::size_of::<ConnPluginV1>() as u32);
static T_NO_PROVISION: ConnPluginV1 = {
    let mut t = mini(1, 0, std::mem::size_of::<ConnPluginV1>() as u32);
    t.provision = None;
    t
};
static T_BAD_DESCRIPTOR: ConnPluginV1 = {
    let mut t = mini(1, 0, std::mem::size_of::<ConnPluginV1>() as u32);
    // A descriptor that is not valid (no name), written through the SDK's allocator so buf_free frees it.
    t.describe = Some(de::<NoName>);
    t
};
static T_NEWER_DESCRIPTOR: ConnPluginV1 = table_of::<NewerDescriptor>();
static T_NEWER_RESULTS: ConnPluginV1 = table_of::<NewerResults>();

extern "C" fn v1_0() -> u32 {
    1 << 16
}
extern "C" fn v1_5() -> u32 {
    (1 << 16) | 5
}
extern "C" fn v2_0() -> u32 {
    2 << 16
}
// `conn_plugin_entry` for each table above. The loader passes a valid `ConnHostV1` and a writable
// `out_plugin`, which is what `sdk::plugin_entry` requires.
unsafe extern "C" fn e_1_0(h: *const ConnHostV1, o: *mut *const ConnPluginV1) -> i32 {
    // SAFETY: valid host and out pointer (see above).
    unsafe { sdk::plugin_entry(h, o, &T_1_0) }
}
unsafe extern "C" fn e_1_5(h: *const ConnHostV1, o: *mut *const ConnPluginV1) -> i32 {
    // SAFETY: valid host and out pointer (see above).
    unsafe { sdk::plugin_entry(h, o, &T_1_5.base) }
}
unsafe extern "C" fn e_small(h: *const ConnHostV1, o: *mut *const ConnPluginV1) -> i32 {
    // SAFETY: valid host and out pointer (see above).
    unsafe { sdk::plugin_entry(h, o, &T_SMALL) }
}
unsafe extern "C" fn e_lies(h: *const ConnHostV1, o: *mut *const ConnPluginV1) -> i32 {
    // SAFETY: valid host and out pointer (see above).
    unsafe { sdk::plugin_entry(h, o, &T_LIES) }
}
unsafe extern "C" fn e_no_provision(h: *const ConnHostV1, o: *mut *const ConnPluginV1) -> i32 {
    // SAFETY: valid host and out pointer (see above).
    unsafe { sdk::plugin_entry(h, o, &T_NO_PROVISION) }
}
unsafe extern "C" fn e_bad_descriptor(h: *const ConnHostV1, o: *mut *const ConnPluginV1) -> i32 {
    // SAFETY: valid host and out pointer (see above).
    unsafe { sdk::plugin_entry(h, o, &T_BAD_DESCRIPTOR) }
}
unsafe extern "C" fn e_newer_descriptor(h: *const ConnHostV1, o: *mut *const ConnPluginV1) -> i32 {
    // SAFETY: valid host and out pointer (see above).
    unsafe { sdk::plugin_entry(h, o, &T_NEWER_DESCRIPTOR) }
}
unsafe extern "C" fn e_newer_results(h: *const ConnHostV1, o: *mut *const ConnPluginV1) -> i32 {
    // SAFETY: valid host and out pointer (see above).
    unsafe { sdk::plugin_entry(h, o, &T_NEWER_RESULTS) }
}
unsafe extern "C" fn e_refuses(_: *const ConnHostV1, _: *mut *const ConnPluginV1) -> i32 {
    CONN_ERR_ABI_MISMATCH
}
unsafe extern "C" fn e_must_not_run(_: *const ConnHostV1, _: *mut *const ConnPluginV1) -> i32 {
    panic!("conn_plugin_entry must not run when the version check fails")
}

/// The layout a connector would report if its table drifted (two entries swapped) under version 1.0.
#[repr(C)]
#[derive(StableAbi)]
struct DriftedPluginV1 {
    struct_size: u32,
    abi_major: u16,
    abi_minor: u16,
    buf_free: Option<unsafe extern "C" fn(buf: *mut ConnBuf)>,
    instance_free: Option<unsafe extern "C" fn(instance: *mut ConnInstance)>,
    describe: Option<unsafe extern "C" fn(out_descriptor: *mut ConnBuf, out_error: *mut ConnBuf) -> i32>,
}
extern "C" fn drifted_layout() -> *const c_void {
    <DriftedPluginV1 as StableAbi>::LAYOUT as *const _ as *const c_void
}
extern "C" fn good_layout() -> *const c_void {
    connector_abi::layout::table_layout_ptr()
}

fn load(
    abi_version: ConnAbiVersionFn,
    plugin_entry: ConnPluginEntryFn,
    layout: Option<AbiLayoutFn>,
) -> Result<std::sync::Arc<ConnectorLibrary>, LoadError> {
    load_opts(abi_version, plugin_entry, layout, LoadOptions::default())
}

fn load_opts(
    abi_version: ConnAbiVersionFn,
    plugin_entry: ConnPluginEntryFn,
    layout: Option<AbiLayoutFn>,
    options: LoadOptions,
) -> Result<std::sync::Arc<ConnectorLibrary>, LoadError> {
    // SAFETY: the entry points above implement the ABI (or break it on purpose in checked ways).
    unsafe {
        ConnectorLibrary::from_entry_points(
            Path::new("in-process"),
            EntryPoints { abi_version, plugin_entry, layout },
            options,
        )
    }
}

#[test]
fn same_version_loads_and_round_trips() {
    let lib = load(v1_0, e_1_0, Some(good_layout)).unwrap();
    assert_eq!(lib.descriptor().name, "mini");
    assert_eq!(lib.negotiated_minor(), 0);
    let inst = lib.open(&TargetSettings::default()).unwrap();
    let rec = Record {
        object_class: ObjectClass::User,
        source_id: "s1".into(),
        target_id: None,
        event: Event::Upsert,
        attributes: Default::default(),
        changed: None,
        members: vec![],
        previous_members: None,
    };
    let resp = inst.provision(&ProvisionRequest { v: 1, records: vec![rec], deadline_ms: None }).unwrap();
    assert_eq!(resp.results[0].outcome, Outcome::Unchanged);
    assert!(matches!(
        inst.search(&SearchRequest {
            v: 1,
            object_class: ObjectClass::User,
            filter: None,
            page_size: 10,
            cookie: None
        }),
        Err(connector_abi::CallError::Unsupported(_))
    ));
}

#[test]
fn newer_minor_connector_loads_in_older_host_and_extra_entries_stay_unread() {
    let lib = load(v1_5, e_1_5, None).unwrap();
    assert_eq!(lib.connector_abi(), (1, 5));
    assert_eq!(lib.negotiated_minor(), CONN_ABI_MINOR, "negotiated minor is the lesser side (the host's)");
    // The table is bigger than the host's struct; the host only reads what it knows.
    assert!(lib.table_size() as usize > std::mem::size_of::<ConnPluginV1>());
    assert!(lib.table_has(std::mem::size_of::<ConnPluginV1>() + 8));
    assert!(!lib.table_has(std::mem::size_of::<ConnPluginV1>() + 16));
}

#[test]
fn negotiation_rules() {
    let p = Path::new("x");
    // older-minor host, newer-minor connector
    assert_eq!(negotiate(p, (1, 5), (1, 0), 0).unwrap(), 0);
    // newer-minor host, older-minor connector
    assert_eq!(negotiate(p, (1, 0), (1, 3), 0).unwrap(), 0);
    assert_eq!(negotiate(p, (1, 2), (1, 3), 1).unwrap(), 2);
    assert!(matches!(
        negotiate(p, (1, 1), (1, 3), 2),
        Err(LoadError::MinorTooOld { found_minor: 1, required_minor: 2, .. })
    ));
    assert!(matches!(negotiate(p, (2, 0), (1, 0), 0), Err(LoadError::MajorMismatch { found_major: 2, .. })));
    assert!(matches!(negotiate(p, (0, 9), (1, 0), 0), Err(LoadError::MajorMismatch { .. })));
}

#[test]
fn major_mismatch_is_refused_before_any_other_connector_code_runs() {
    let err = load(v2_0, e_must_not_run, None).unwrap_err();
    assert!(matches!(err, LoadError::MajorMismatch { found_major: 2, host_major: 1, .. }), "{err}");
    assert!(err.to_string().contains("majors differ"));
}

#[test]
fn minor_too_old_is_refused() {
    let err = load_opts(v1_0, e_must_not_run, None, LoadOptions { min_minor: 1, ..Default::default() }).unwrap_err();
    assert!(matches!(err, LoadError::MinorTooOld { .. }), "{err}");
}

#[test]
fn table_too_small_is_refused() {
    let err = load(v1_0, e_small, None).unwrap_err();
    assert!(matches!(err, LoadError::TableTooSmall { found: 16, required: 64, .. }), "{err}");
}

#[test]
fn table_disagreeing_with_version_function_is_refused() {
    let err = load(v1_0, e_lies, None).unwrap_err();
    assert!(matches!(err, LoadError::TableInvalid { .. }), "{err}");
    assert!(err.to_string().contains("1.3"));
}

#[test]
fn null_required_entry_is_refused() {
    let err = load(v1_0, e_no_provision, None).unwrap_err();
    assert!(err.to_string().contains("`provision` is NULL"), "{err}");
}

#[test]
fn entry_refusal_is_reported() {
    let err = load(v1_0, e_refuses, None).unwrap_err();
    assert!(matches!(err, LoadError::EntryRefused { status: CONN_ERR_ABI_MISMATCH, .. }), "{err}");
}

#[test]
fn layout_drift_under_the_same_version_is_refused() {
    let err = load(v1_0, e_1_0, Some(drifted_layout)).unwrap_err();
    assert!(matches!(err, LoadError::LayoutMismatch { .. }), "{err}");
}

#[test]
fn invalid_descriptor_is_refused() {
    let err = load(v1_0, e_bad_descriptor, None).unwrap_err();
    assert!(matches!(err, LoadError::DescriptorInvalid { .. }), "{err}");
    assert!(err.to_string().contains("name is empty"));
}

#[test]
fn missing_file_is_refused() {
    let err = ConnectorLibrary::load("/nonexistent/libnothing.so").unwrap_err();
    assert!(matches!(err, LoadError::FileMissing { .. }), "{err}");
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("libgarbage.so");
    std::fs::write(&p, b"this is not an ELF file").unwrap();
    let err = ConnectorLibrary::load(&p).unwrap_err();
    assert!(matches!(err, LoadError::Open { .. }), "{err}");
}

#[test]
fn a_library_without_the_entry_symbols_is_not_a_connector() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("other.c");
    let so = dir.path().join("libother.so");
    std::fs::write(&src, "int some_other_function(void) { return 7; }\n").unwrap();
    let st = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .expect("gcc runs");
    assert!(st.success());
    let err = ConnectorLibrary::load(&so).unwrap_err();
    assert!(matches!(err, LoadError::NotAConnector { symbol: "conn_abi_version", .. }), "{err}");
}

#[test]
fn the_real_fake_connector_loads_with_its_layout_checked() {
    let lib = ConnectorLibrary::load(common::cdylib("fake_connector")).unwrap();
    assert_eq!(lib.descriptor().name, "fake");
    assert_eq!(lib.connector_abi(), (CONN_ABI_MAJOR, CONN_ABI_MINOR));
}

/// `ConnPluginV1` exactly as ABI v1.0 froze it, every operation spelt out, to check that the declaration
/// in `raw.rs` (operations typed `ConnOperationFn`) still derives the same abi_stable layout.
mod frozen {
    use abi_stable::StableAbi;
    use connector_abi::raw::{ConnBuf, ConnInstance};

    #[repr(C)]
    #[derive(StableAbi)]
    pub(crate) struct ConnPluginV1 {
        struct_size: u32,
        abi_major: u16,
        abi_minor: u16,
        buf_free: Option<unsafe extern "C" fn(buf: *mut ConnBuf)>,
        describe: Option<unsafe extern "C" fn(out_descriptor: *mut ConnBuf, out_error: *mut ConnBuf) -> i32>,
        instance_new: Option<
            unsafe extern "C" fn(
                settings_json: *const u8,
                settings_len: usize,
                out_instance: *mut *mut ConnInstance,
                out_error: *mut ConnBuf,
            ) -> i32,
        >,
        instance_free: Option<unsafe extern "C" fn(instance: *mut ConnInstance)>,
        test: Option<
            unsafe extern "C" fn(
                instance: *const ConnInstance,
                request_json: *const u8,
                request_len: usize,
                out_response: *mut ConnBuf,
                out_error: *mut ConnBuf,
            ) -> i32,
        >,
        provision: Option<
            unsafe extern "C" fn(
                instance: *const ConnInstance,
                request_json: *const u8,
                request_len: usize,
                out_response: *mut ConnBuf,
                out_error: *mut ConnBuf,
            ) -> i32,
        >,
        search: Option<
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

#[test]
fn frozen_v1_table_layout() {
    let frozen = <frozen::ConnPluginV1 as StableAbi>::LAYOUT;
    let current = connector_abi::layout::table_layout();
    // A host built now accepts a connector built at the freeze, and the other way round.
    connector_abi::layout::check(current, frozen).unwrap();
    connector_abi::layout::check(frozen, current).unwrap();
    assert_eq!(std::mem::size_of::<frozen::ConnPluginV1>(), CONN_PLUGIN_V1_0_SIZE as usize);
    assert_eq!(std::mem::offset_of!(ConnPluginV1, cancel), CONN_PLUGIN_V1_0_SIZE as usize, "1.1 only appends");
    // The operation fields have the frozen type (this fails to compile otherwise).
    type FrozenOp =
        Option<unsafe extern "C" fn(*const ConnInstance, *const u8, usize, *mut ConnBuf, *mut ConnBuf) -> i32>;
    let ops: [FrozenOp; 3] = [T_1_0.test, T_1_0.provision, T_1_0.search];
    assert!(ops.iter().all(Option::is_some));
}

#[test]
fn the_sdk_refuses_input_payloads_of_a_version_it_does_not_understand() {
    let lib = load(v1_0, e_1_0, None).unwrap();
    for settings in [&br#"{"v":2}"#[..], br#"{"v":0}"#, br#"{"v":2,"settings":"a shape v1 cannot read"}"#] {
        let err = lib.open_raw(settings).unwrap_err();
        assert!(
            matches!(err, CallError::InvalidArgument(ref e) if e.message.contains("target settings has payload version")),
            "{}: {err}",
            String::from_utf8_lossy(settings)
        );
    }
    // An absent `v` means 1.
    lib.open_raw(b"{}").unwrap();

    let inst = lib.open(&TargetSettings::default()).unwrap();
    for (op, request) in [
        (Operation::Test, r#"{"v":2}"#),
        (Operation::Provision, r#"{"v":2,"records":[]}"#),
        (Operation::Provision, r#"{"v":2,"records":{"a":"shape v1 cannot read"}}"#),
        (Operation::Search, r#"{"v":2,"object_class":"user"}"#),
    ] {
        let err = inst.call_raw(op, request.as_bytes()).unwrap_err();
        assert!(
            matches!(err, CallError::InvalidArgument(ref e)
                if e.message.contains("payload version 2") && e.message.contains("understands version 1")),
            "{request}: {err}"
        );
    }
    inst.call_raw(Operation::Provision, br#"{"records":[]}"#).unwrap();
    inst.call_raw(Operation::Provision, br#"{"v":1,"records":[]}"#).unwrap();
}

#[test]
fn the_loader_refuses_a_descriptor_of_a_version_it_does_not_understand() {
    let err = load(v1_0, e_newer_descriptor, None).unwrap_err();
    assert!(matches!(err, LoadError::UnsupportedPayloadVersion { payload: "descriptor", found: 2, .. }), "{err}");
    assert!(err.to_string().contains("descriptor has payload version 2; this host understands version 1"), "{err}");
}

#[test]
fn the_loader_refuses_responses_and_errors_of_a_version_it_does_not_understand() {
    let lib = load(v1_0, e_newer_results, None).unwrap();
    let inst = lib.open(&TargetSettings::default()).unwrap();
    let err = inst.provision(&ProvisionRequest::default()).unwrap_err();
    assert!(matches!(err, CallError::UnsupportedPayloadVersion { payload: "provision response", found: 2 }), "{err}");
    let err = inst.test().unwrap_err();
    assert!(matches!(err, CallError::UnsupportedPayloadVersion { payload: "test response", found: 2 }), "{err}");
    assert!(err.to_string().contains("payload version 2"), "{err}");

    let mut settings = TargetSettings::default();
    settings.settings.insert("fail".into(), true.into());
    let failing = lib.open(&settings).unwrap();
    let err = failing.provision(&ProvisionRequest::default()).unwrap_err();
    assert!(matches!(err, CallError::UnsupportedPayloadVersion { payload: "error payload", found: 2 }), "{err}");
}
