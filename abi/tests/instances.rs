//! Instance handles and what ends with an instance: a freed handle never reaches an instance opened
//! later, and ABI 1.1 per-instance log services end with their instance (once `instance_free` has
//! returned, a thread of the connector still winding down never calls the host's `log` with that
//! instance's `user_data`, which the host may then release).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
#![allow(unsafe_code)] // the ABI crate's own tests call the SDK's raw entries

use connector_abi::payload::*;
use connector_abi::raw::*;
use connector_abi::sdk::{self, Connector, ConnectorError, Logger};
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A connector whose background thread logs for as long as the process runs.
struct Chatty;

impl Connector for Chatty {
    fn describe() -> Descriptor {
        Descriptor {
            v: 1,
            name: "chatty".into(),
            display_name: String::new(),
            version: "0.0.1".into(),
            description: String::new(),
            abi: AbiVersion { major: 1, minor: 1 },
            capabilities: vec![],
            configuration: vec![],
            object_classes: vec![],
        }
    }
    fn open(_: TargetSettings, log: Logger) -> Result<Self, ConnectorError> {
        std::thread::spawn(move || loop {
            log.info("tick");
            std::thread::sleep(Duration::from_micros(200));
        });
        Ok(Chatty)
    }
    fn test(&self, _: TestRequest) -> Result<TestResponse, ConnectorError> {
        Err(ConnectorError::Unsupported("test".into()))
    }
    fn provision(&self, _: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        Err(ConnectorError::Unsupported("provision".into()))
    }
}

/// Counts the lines logged through it; `user_data` is the counter.
extern "C" fn count(user_data: *mut c_void, _level: i32, _msg: *const u8, _len: usize) {
    // SAFETY: `user_data` is the `AtomicUsize` each test leaks for its instance, valid for ever.
    let counter = unsafe { &*(user_data as *const AtomicUsize) };
    counter.fetch_add(1, Ordering::SeqCst);
}

/// Opens a `C` through `instance_new_with_host` with a log callback that counts into the returned
/// counter: the status code and the instance.
fn open_counting<C: Connector>(settings: &[u8]) -> (&'static AtomicUsize, i32, *mut ConnInstance) {
    // Leaked, so a late call would be counted rather than be a use after free in the test itself.
    let counter: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let host = ConnHostV1 {
        struct_size: std::mem::size_of::<ConnHostV1>() as u32,
        abi_major: CONN_ABI_MAJOR,
        abi_minor: CONN_ABI_MINOR,
        user_data: counter as *const AtomicUsize as *mut c_void,
        log: Some(count),
    };
    let mut instance: *mut ConnInstance = std::ptr::null_mut();
    // SAFETY: a valid host struct and settings for the call, a writable out pointer, no error buffer.
    let rc = unsafe {
        sdk::instance_new_with_host::<C>(&host, settings.as_ptr(), settings.len(), &mut instance, std::ptr::null_mut())
    };
    (counter, rc, instance)
}

#[test]
fn no_line_reaches_the_host_after_instance_free_returns() {
    for _ in 0..20 {
        let (counter, rc, instance) = open_counting::<Chatty>(br#"{"v":1,"settings":{}}"#);
        assert_eq!(rc, CONN_OK);
        let t = Instant::now();
        while counter.load(Ordering::SeqCst) == 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "the connector never logged");
            std::thread::yield_now();
        }
        // SAFETY: a live instance of `Chatty` from this SDK, with no call in flight.
        unsafe { sdk::instance_free::<Chatty>(instance) };
        let at_free = counter.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.load(Ordering::SeqCst), at_free, "a line reached the host after instance_free returned");
    }
}

/// A connector that says which org its settings name.
struct Org(String);

impl Connector for Org {
    fn describe() -> Descriptor {
        Descriptor { name: "org".into(), ..Chatty::describe() }
    }
    fn open(s: TargetSettings, _: Logger) -> Result<Self, ConnectorError> {
        Ok(Org(s.settings.get("org").and_then(|v| v.as_str()).unwrap_or_default().to_owned()))
    }
    fn test(&self, _: TestRequest) -> Result<TestResponse, ConnectorError> {
        Ok(TestResponse { v: 1, message: self.0.clone(), details: Default::default() })
    }
    fn provision(&self, _: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        Err(ConnectorError::Unsupported("provision".into()))
    }
}

fn open_org(org: &str) -> *mut ConnInstance {
    let settings = format!(r#"{{"v":1,"settings":{{"org":"{org}"}}}}"#);
    let mut instance: *mut ConnInstance = std::ptr::null_mut();
    // SAFETY: settings readable for the call, a writable out pointer, no error buffer.
    let rc =
        unsafe { sdk::instance_new::<Org>(settings.as_ptr(), settings.len(), &mut instance, std::ptr::null_mut()) };
    assert_eq!(rc, CONN_OK);
    instance
}

/// `test` through the raw entry: the org the instance answers for, or the status code.
fn org_of(instance: *const ConnInstance) -> Result<String, i32> {
    let req = br#"{"v":1}"#;
    let mut out = ConnBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 };
    let mut err = ConnBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 };
    // SAFETY: a request readable for the call and writable buffers; the instance is not freed meanwhile.
    let rc = unsafe {
        sdk::operation::<Org, TestRequest, TestResponse>(
            instance,
            req.as_ptr(),
            req.len(),
            &mut out,
            &mut err,
            sdk::op_test,
        )
    };
    let text = |b: &ConnBuf| {
        // SAFETY: a buffer the SDK filled: `len` readable bytes at `ptr` (or NULL and 0).
        let bytes = if b.ptr.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(b.ptr, b.len) } };
        String::from_utf8_lossy(bytes).into_owned()
    };
    let answer = text(&out);
    // SAFETY: buffers this SDK filled (or left empty), freed once.
    unsafe {
        sdk::buf_free(&mut out);
        sdk::buf_free(&mut err);
    }
    match rc {
        CONN_OK => Ok(serde_json::from_str::<TestResponse>(&answer).unwrap().message),
        code => Err(code),
    }
}

#[test]
fn a_freed_handle_never_reaches_an_instance_opened_later() {
    for _ in 0..20 {
        let a = open_org("org-a");
        assert_eq!(org_of(a), Ok("org-a".into()));
        // SAFETY: a live instance of `Org`, no call in flight.
        unsafe { sdk::instance_free::<Org>(a) };
        // The allocator hands the freed memory to the next instance of the same size.
        let b = open_org("org-b");
        assert_ne!(a, b, "a handle is never given out twice");
        assert_eq!(org_of(a), Err(CONN_ERR_INVALID_ARG), "the stale handle reached another instance");
        // SAFETY: `cancel` accepts any handle.
        assert_eq!(unsafe { sdk::cancel::<Org>(a) }, CONN_ERR_INVALID_ARG);
        // A handle of another connector type in the same library is foreign too.
        // SAFETY: `cancel` accepts any handle.
        assert_eq!(unsafe { sdk::cancel::<Chatty>(b) }, CONN_ERR_INVALID_ARG);
        // SAFETY: freeing a stale handle is ignored; then `b` is freed once.
        unsafe {
            sdk::instance_free::<Org>(a);
            sdk::instance_free::<Chatty>(b);
        }
        assert_eq!(org_of(b), Ok("org-b".into()), "freeing `b` as another type was ignored");
        // SAFETY: a live instance of `Org`, no call in flight.
        unsafe { sdk::instance_free::<Org>(b) };
    }
}

/// A connector whose `open` starts a thread that logs for ever, then fails (or panics).
struct FailsAfterStarting;

impl Connector for FailsAfterStarting {
    fn describe() -> Descriptor {
        Descriptor { name: "fails".into(), ..Chatty::describe() }
    }
    fn open(s: TargetSettings, log: Logger) -> Result<Self, ConnectorError> {
        std::thread::spawn(move || loop {
            log.info("tick");
            std::thread::sleep(Duration::from_micros(200));
        });
        std::thread::sleep(Duration::from_millis(5));
        if s.settings.contains_key("panic") {
            panic!("open panicked");
        }
        Err(ConnectorError::Failed(ErrorInfo::new(ErrorKind::Configuration, "bad settings")))
    }
    fn test(&self, _: TestRequest) -> Result<TestResponse, ConnectorError> {
        Err(ConnectorError::Unsupported("test".into()))
    }
    fn provision(&self, _: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        Err(ConnectorError::Unsupported("provision".into()))
    }
}

#[test]
fn no_line_reaches_the_host_after_a_failed_open_returns() {
    for settings in [&br#"{"v":1,"settings":{}}"#[..], &br#"{"v":1,"settings":{"panic":true}}"#[..]] {
        let (counter, rc, instance) = open_counting::<FailsAfterStarting>(settings);
        assert_ne!(rc, CONN_OK);
        assert!(instance.is_null());
        let at_return = counter.load(Ordering::SeqCst);
        assert!(at_return > 0, "the thread logged while open ran");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.load(Ordering::SeqCst), at_return, "a line reached the host after the failed open");
    }
}
