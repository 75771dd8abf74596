use connector_abi::payload::*;
use connector_abi::{Connector, ConnectorError, Logger};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone)]
struct Stored {
    target_id: String,
    attributes: Attributes,
    active: bool,
    members: Vec<String>,
    class: ObjectClass,
}

/// The fake connector instance.
pub struct FakeConnector {
    fail_ids: Vec<String>,
    fail_retryable: bool,
    panic_in: Option<String>,
    sleep_ms: u64,
    unsupported: Vec<String>,
    malformed: bool,
    results: Option<String>,
    store: Mutex<HashMap<String, Stored>>,
    next_id: AtomicU64,
    calls: AtomicU64,
    log: Logger,
    cancelled: Mutex<bool>,
    wake: std::sync::Condvar,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

impl FakeConnector {
    fn check(&self, op: &str) -> Result<(), ConnectorError> {
        if self.panic_in.as_deref() == Some(op) {
            panic!("fake connector asked to panic in {op}");
        }
        if self.unsupported.iter().any(|u| u == op) {
            return Err(ConnectorError::Unsupported(op.to_owned()));
        }
        Ok(())
    }

    fn apply(&self, store: &mut HashMap<String, Stored>, r: &Record) -> RecordResult {
        if self.fail_ids.iter().any(|id| id == "*" || *id == r.source_id) {
            let err = if self.fail_retryable {
                ErrorInfo::new(ErrorKind::RateLimited, "fake target throttled this record")
                    .retryable()
                    .with_retry_after_ms(10)
            } else {
                ErrorInfo::new(ErrorKind::InvalidAttribute, format!("fake target rejects record {}", r.source_id))
                    .with_code("fake_rejected")
            };
            return RecordResult::failed(r, err);
        }
        let key = format!("{}:{}", r.object_class.as_str(), r.source_id);
        match r.event {
            Event::Upsert => {
                let members: Vec<String> = r.members.iter().filter_map(|m| m.target_id.clone()).collect();
                match store.get_mut(&key) {
                    Some(s) => {
                        let changed = s.attributes != r.attributes || s.members != members;
                        let outcome = if !s.active {
                            Outcome::Reactivated
                        } else if changed {
                            Outcome::Updated
                        } else {
                            Outcome::Unchanged
                        };
                        s.attributes = r.attributes.clone();
                        s.members = members;
                        s.active = true;
                        RecordResult::of(r, outcome, Some(s.target_id.clone()))
                    }
                    None => {
                        let prefix = if r.object_class == ObjectClass::User { 'F' } else { 'G' };
                        let id = if self.results.is_some() {
                            format!("T-{}", r.source_id)
                        } else {
                            format!("{prefix}{:08}", self.next_id.fetch_add(1, Ordering::SeqCst))
                        };
                        store.insert(
                            key,
                            Stored {
                                target_id: id.clone(),
                                attributes: r.attributes.clone(),
                                active: true,
                                members,
                                class: r.object_class,
                            },
                        );
                        RecordResult::of(r, Outcome::Created, Some(id))
                    }
                }
            }
            Event::Disable => match store.get_mut(&key) {
                Some(s) => {
                    s.active = false;
                    RecordResult::of(r, Outcome::Disabled, Some(s.target_id.clone()))
                }
                None => RecordResult::of(r, Outcome::Skipped, None),
            },
            Event::Delete => match store.remove(&key) {
                Some(s) => RecordResult::of(r, Outcome::Deleted, Some(s.target_id)),
                None => RecordResult::of(r, Outcome::Skipped, None),
            },
        }
    }
}

impl Connector for FakeConnector {
    fn describe() -> Descriptor {
        let field = |name: &str, t: FieldType, confidential: bool, help: &str| ConfigField {
            name: name.into(),
            display_name: name.into(),
            field_type: t,
            required: false,
            confidential,
            default: None,
            allowed_values: Vec::new(),
            help: help.into(),
            group: "Behaviour".into(),
            order: 0,
            role: None,
        };
        let attr = |name: &str| AttributeInfo {
            name: name.into(),
            attr_type: "string".into(),
            multivalued: false,
            required: false,
            creatable: true,
            updateable: true,
            readable: true,
            returned_by_default: true,
            target_field: String::new(),
            help: String::new(),
        };
        Descriptor {
            v: PAYLOAD_VERSION,
            name: "fake".into(),
            display_name: "Fake Connector".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "An in-memory target that misbehaves on demand, for tests.".into(),
            abi: AbiVersion { major: connector_abi::raw::CONN_ABI_MAJOR, minor: connector_abi::raw::CONN_ABI_MINOR },
            capabilities: ["create", "update", "disable", "reactivate", "delete", "groups", "search", "test"]
                .map(String::from)
                .to_vec(),
            configuration: vec![
                field("fail_source_ids", FieldType::String, false, "Source ids whose records fail, or [\"*\"]"),
                field("fail_retryable", FieldType::Boolean, false, "Failures are retryable"),
                field("panic_in", FieldType::String, false, "Operation that panics"),
                field("sleep_ms", FieldType::Integer, false, "Delay before each provision call"),
                field("unsupported", FieldType::String, false, "Operations that answer unsupported"),
                field("malformed", FieldType::Boolean, false, "Return one result too few"),
                field("results", FieldType::String, false, "reorder, duplicate or foreign results"),
                field("secret", FieldType::String, true, "A confidential value, never echoed"),
                field("reject_open", FieldType::Boolean, false, "Refuse to open"),
            ],
            object_classes: vec![
                ObjectClassInfo {
                    name: ObjectClass::User,
                    attributes: vec![attr("userName"), attr("primaryEmail"), attr("title")],
                },
                ObjectClassInfo { name: ObjectClass::Group, attributes: vec![attr("displayName")] },
            ],
        }
    }

    fn open(settings: TargetSettings, log: Logger) -> Result<Self, ConnectorError> {
        let s = &settings.settings;
        if s.get("reject_open").and_then(Value::as_bool) == Some(true) {
            return Err(ErrorInfo::new(ErrorKind::Configuration, "fake connector refuses these settings").into());
        }
        let c = FakeConnector {
            fail_ids: strings(s.get("fail_source_ids")),
            fail_retryable: s.get("fail_retryable").and_then(Value::as_bool).unwrap_or(false),
            panic_in: s.get("panic_in").and_then(Value::as_str).map(str::to_owned),
            sleep_ms: s.get("sleep_ms").and_then(Value::as_u64).unwrap_or(0),
            unsupported: strings(s.get("unsupported")),
            malformed: s.get("malformed").and_then(Value::as_bool).unwrap_or(false),
            results: s.get("results").and_then(Value::as_str).map(str::to_owned),
            store: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            calls: AtomicU64::new(0),
            log,
            cancelled: Mutex::new(false),
            wake: std::sync::Condvar::new(),
        };
        c.check("open")?;
        c.log.info("fake connector opened");
        Ok(c)
    }

    fn test(&self, _request: TestRequest) -> Result<TestResponse, ConnectorError> {
        self.check("test")?;
        let mut details = Attributes::new();
        details.insert("live_buffers".into(), json!(connector_abi::sdk::live_buffers()));
        details.insert("provision_calls".into(), json!(self.calls.load(Ordering::SeqCst)));
        let count = self.store.lock().map(|s| s.len()).unwrap_or(0);
        details.insert("objects".into(), json!(count));
        Ok(TestResponse { v: PAYLOAD_VERSION, message: "fake target reachable".into(), details })
    }

    fn provision(&self, request: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        self.check("provision")?;
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.log.debug(&format!("provision: {} record(s)", request.records.len()));
        if self.sleep_ms > 0 {
            // A sleep that `cancel` (ABI 1.1) cuts short: then every record fails, retryable.
            let deadline = std::time::Instant::now() + Duration::from_millis(self.sleep_ms);
            let mut cancelled = self.cancelled.lock().map_err(|_| ErrorInfo::new(ErrorKind::Other, "poisoned"))?;
            *cancelled = false;
            while !*cancelled {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                cancelled = self
                    .wake
                    .wait_timeout(cancelled, left)
                    .map_err(|_| ErrorInfo::new(ErrorKind::Other, "poisoned"))?
                    .0;
            }
            if *cancelled {
                let info = ErrorInfo::new(ErrorKind::Other, "cancelled by the host").retryable();
                let results = request.records.iter().map(|r| RecordResult::failed(r, info.clone())).collect();
                return Ok(ProvisionResponse { v: PAYLOAD_VERSION, results });
            }
        }
        let mut store = self.store.lock().map_err(|_| ErrorInfo::new(ErrorKind::Other, "store poisoned"))?;
        let mut results: Vec<RecordResult> = request.records.iter().map(|r| self.apply(&mut store, r)).collect();
        if self.malformed {
            results.pop();
        }
        match self.results.as_deref() {
            Some("reorder") => results.reverse(),
            Some("duplicate") if results.len() > 1 => {
                let first = results[0].clone();
                if let Some(last) = results.last_mut() {
                    *last = first;
                }
            }
            Some("foreign") => {
                if let Some(last) = results.last_mut() {
                    last.source_id = "not-in-this-batch".into();
                }
            }
            _ => {}
        }
        Ok(ProvisionResponse { v: PAYLOAD_VERSION, results })
    }

    fn cancel(&self) {
        if let Ok(mut c) = self.cancelled.lock() {
            *c = true;
        }
        self.wake.notify_all();
    }

    fn search(&self, request: SearchRequest) -> Result<SearchPage, ConnectorError> {
        self.check("search")?;
        let store = self.store.lock().map_err(|_| ErrorInfo::new(ErrorKind::Other, "store poisoned"))?;
        let mut all: Vec<&Stored> = store.values().filter(|s| s.class == request.object_class).collect();
        all.sort_by(|a, b| a.target_id.cmp(&b.target_id));
        let start: usize = request.cookie.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
        let size = request.page_size.clamp(1, 1000) as usize;
        let objects = all
            .iter()
            .skip(start)
            .take(size)
            .map(|s| TargetObject {
                target_id: s.target_id.clone(),
                attributes: s.attributes.clone(),
                active: Some(s.active),
                members: s.members.clone(),
            })
            .collect::<Vec<_>>();
        let next = start + objects.len();
        Ok(SearchPage {
            v: PAYLOAD_VERSION,
            next_cookie: (next < all.len()).then(|| next.to_string()),
            total: Some(all.len() as u64),
            objects,
        })
    }
}

