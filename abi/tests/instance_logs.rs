//! ABI 1.1 per-instance log services end with the instance: once `instance_free` has returned, a
//! thread of the connector that is still running (a task winding down) never calls the host's `log`
//! with that instance's `user_data`, which the host may then release.
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

#[test]
fn no_line_reaches_the_host_after_instance_free_returns() {
    for _ in 0..20 {
        // Leaked, so a late call would be counted rather than be a use after free in the test itself.
        let counter: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let host = ConnHostV1 {
            struct_size: std::mem::size_of::<ConnHostV1>() as u32,
            abi_major: CONN_ABI_MAJOR,
            abi_minor: CONN_ABI_MINOR,
            user_data: counter as *const AtomicUsize as *mut c_void,
            log: Some(count),
        };
        let settings = br#"{"v":1,"settings":{}}"#;
        let mut instance: *mut ConnInstance = std::ptr::null_mut();
        // SAFETY: a valid host struct and settings for the call, a writable out pointer, no error buffer.
        let rc = unsafe {
            sdk::instance_new_with_host::<Chatty>(
                &host,
                settings.as_ptr(),
                settings.len(),
                &mut instance,
                std::ptr::null_mut(),
            )
        };
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
