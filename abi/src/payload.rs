//! The JSON payloads that cross the ABI inside `ConnBuf`s and request buffers.
//!
//! Unknown fields are ignored, so payloads evolve without layout changes. The JSON Schemas in
//! `include/schemas/` are generated from these types.
//!
//! # Payload versions
//!
//! Every top-level payload carries `"v"`, its payload version ([`PAYLOAD_VERSION`], 1 throughout ABI v1).
//! `v` changes only for an incompatible change; additions keep it. A reader *understands* the versions
//! from [`MIN_PAYLOAD_VERSION`] to [`PAYLOAD_VERSION`] (only 1 today); an absent `v` means 1. Both sides
//! refuse a payload whose `v` they do not understand rather than guess at its meaning:
//!
//! - the connector side (the SDK) answers `CONN_ERR_INVALID_ARG` with a message naming the version;
//! - the host side (the loader) refuses the descriptor with
//!   [`LoadError::UnsupportedPayloadVersion`](crate::LoadError::UnsupportedPayloadVersion) and a response
//!   or error payload with [`CallError::UnsupportedPayloadVersion`](crate::CallError::UnsupportedPayloadVersion).
//!
//! Objects nested in a payload (an [`ErrorInfo`] inside a [`RecordResult`]) follow the `v` of the payload
//! that holds them. [`decode`] applies these rules; the `Default` of every payload has `v: 1`.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The payload version these types describe, and the newest one this crate understands.
pub const PAYLOAD_VERSION: u32 = 1;

/// The oldest payload version this crate understands.
pub const MIN_PAYLOAD_VERSION: u32 = 1;

fn v1() -> u32 {
    PAYLOAD_VERSION
}

/// A top-level payload: it carries its payload version in `"v"`.
pub trait Versioned {
    /// The payload's `v`.
    fn version(&self) -> u32;
}

macro_rules! versioned {
    ($($ty:ty),* $(,)?) => {
        $(impl Versioned for $ty {
            fn version(&self) -> u32 {
                self.v
            }
        })*
    };
}

versioned!(
    Descriptor,
    TargetSettings,
    ProvisionRequest,
    ProvisionResponse,
    TestRequest,
    TestResponse,
    SearchRequest,
    SearchPage,
    ErrorInfo
);

/// A payload version this crate does not understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedVersion {
    /// The payload's `v`.
    pub found: u32,
}

impl std::fmt::Display for UnsupportedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "payload version {} is not supported (this side understands {})", self.found, understood_versions())
    }
}

/// The payload versions this crate understands, for messages: `version 1`, or `versions 1 to N`.
pub fn understood_versions() -> String {
    if MIN_PAYLOAD_VERSION == PAYLOAD_VERSION {
        format!("version {PAYLOAD_VERSION}")
    } else {
        format!("versions {MIN_PAYLOAD_VERSION} to {PAYLOAD_VERSION}")
    }
}

impl std::error::Error for UnsupportedVersion {}

/// Checks that `v` is a payload version this crate understands.
pub fn check_version(v: u32) -> Result<(), UnsupportedVersion> {
    if (MIN_PAYLOAD_VERSION..=PAYLOAD_VERSION).contains(&v) {
        Ok(())
    } else {
        Err(UnsupportedVersion { found: v })
    }
}

/// Why [`decode`] refused a payload.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The payload's `v` is not a version this crate understands.
    #[error(transparent)]
    Version(#[from] UnsupportedVersion),
    /// The bytes are not valid JSON for this payload.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Parses a top-level payload and checks its version.
///
/// The version wins over the shape: a payload of a version this crate does not understand is refused as
/// such ([`DecodeError::Version`]) even when its fields no longer fit these types. The check costs nothing
/// extra on the success path (the version is read back from the parsed value).
pub fn decode<T: DeserializeOwned + Versioned>(json: &[u8]) -> Result<T, DecodeError> {
    match serde_json::from_slice::<T>(json) {
        Ok(value) => {
            check_version(value.version())?;
            Ok(value)
        }
        Err(e) => {
            if let Some(v) = probe_version(json) {
                check_version(v)?;
            }
            Err(e.into())
        }
    }
}

/// The top-level `v` of a JSON object that did not parse as its payload type (absent means 1), or `None`
/// when the bytes are not a JSON object with a numeric `v`.
fn probe_version(json: &[u8]) -> Option<u32> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default = "v1")]
        v: u32,
    }
    serde_json::from_slice::<Probe>(json).ok().map(|p| p.v)
}

fn yes() -> bool {
    true
}

/// A JSON object of attribute (or setting) name to value.
pub type Attributes = Map<String, Value>;

/// What a connector is and what it can do (PingFederate's `SaasPluginDescriptor`, ConnId's schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Descriptor {
    /// Payload version: 1. Absent means 1; a reader refuses a version it does not understand.
    #[serde(default = "v1")]
    pub v: u32,
    /// Stable machine name, e.g. `slack`.
    pub name: String,
    /// Name shown to administrators, e.g. `Slack Provisioner`.
    #[serde(default)]
    pub display_name: String,
    /// The connector's own version (semver).
    pub version: String,
    /// One-paragraph description.
    #[serde(default)]
    pub description: String,
    /// The ABI version the connector was built for.
    pub abi: AbiVersion,
    /// Capability names: `create`, `update`, `disable`, `reactivate`, `delete`, `provision_disabled`,
    /// `groups`, `search`, `test`, `clear_attributes`.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Target settings the connector accepts.
    #[serde(default)]
    pub configuration: Vec<ConfigField>,
    /// Object classes (`user`, `group`) and their attributes.
    #[serde(default)]
    pub object_classes: Vec<ObjectClassInfo>,
}

/// An ABI version pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AbiVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

/// Type of a configuration field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text.
    String,
    /// `true` or `false`.
    Boolean,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// One of `allowed_values`.
    Select,
    /// An absolute URL.
    Url,
    /// A field of a type this host does not know.
    #[serde(other)]
    Unknown,
}

/// One target setting (ConnId `@ConfigurationProperty`, PingFederate field descriptor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigField {
    /// Key in the target settings object.
    pub name: String,
    /// Label shown to administrators.
    #[serde(default)]
    pub display_name: String,
    /// Value type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether the setting must be present.
    #[serde(default)]
    pub required: bool,
    /// Whether the value is a secret: never logged, printed or stored by either side.
    #[serde(default)]
    pub confidential: bool,
    /// Value used when the setting is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Allowed values for `select` fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
    /// Help text.
    #[serde(default)]
    pub help: String,
    /// Group heading (e.g. `Connection`, `Provisioning options`, `Pacing`).
    #[serde(default)]
    pub group: String,
    /// Display order within the group.
    #[serde(default)]
    pub order: u32,
    /// What the host must know this setting to be, beyond its value. Today one role:
    /// `unique_user_identifier`: the value names the record attribute (e.g. `primaryEmail`) by which the
    /// connector matches existing target accounts, so the host keeps that attribute unique across a
    /// connection and keeps the choice fixed once accounts were matched by it. Absent for most fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The [`ConfigField::role`] of the setting that chooses the unique user identifier.
pub const ROLE_UNIQUE_USER_IDENTIFIER: &str = "unique_user_identifier";

/// An object class and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectClassInfo {
    /// `user` or `group`.
    pub name: ObjectClass,
    /// Attributes of the class.
    #[serde(default)]
    pub attributes: Vec<AttributeInfo>,
}

/// One attribute of an object class, with ConnId-style flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttributeInfo {
    /// Attribute name as the host maps it (e.g. `primaryEmail`).
    pub name: String,
    /// Value type (`string`, `boolean`, `datetime`, `reference`).
    #[serde(rename = "type", default = "string_type")]
    pub attr_type: String,
    /// Whether the attribute holds several values.
    #[serde(default)]
    pub multivalued: bool,
    /// Whether a create needs it.
    #[serde(default)]
    pub required: bool,
    /// Whether it can be set on create.
    #[serde(default = "yes")]
    pub creatable: bool,
    /// Whether it can be changed after create.
    #[serde(default = "yes")]
    pub updateable: bool,
    /// Whether search returns it.
    #[serde(default = "yes")]
    pub readable: bool,
    /// Whether search returns it without being asked.
    #[serde(default = "yes")]
    pub returned_by_default: bool,
    /// Where it lands in the target, for administrators (e.g. `emails[primary]`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_field: String,
    /// Help text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
}

fn string_type() -> String {
    "string".to_owned()
}

/// The kind of object a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectClass {
    /// A person.
    User,
    /// A group of users.
    Group,
}

impl ObjectClass {
    /// The lowercase name used in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectClass::User => "user",
            ObjectClass::Group => "group",
        }
    }
}

/// Target settings passed to `instance_new`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetSettings {
    /// Payload version: 1. Absent means 1; a reader refuses a version it does not understand.
    #[serde(default = "v1")]
    pub v: u32,
    /// Setting name to value, as described by the descriptor's `configuration`.
    #[serde(default)]
    pub settings: Attributes,
}

impl Default for TargetSettings {
    /// Empty, with `v` = [`PAYLOAD_VERSION`].
    fn default() -> Self {
        TargetSettings { v: PAYLOAD_VERSION, settings: Attributes::new() }
    }
}

/// What the host wants done with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Make the object exist, active, with these attributes (create, update or reactivate).
    Upsert,
    /// The source disabled the object: apply the connector's disable path.
    Disable,
    /// The object left the source (deleted or out of the source location): deprovision it.
    Delete,
}

/// A reference to a group member.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct MemberRef {
    /// The member's source id.
    pub source_id: String,
    /// The member's target id, when the host knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

/// One channel record: an object to bring the target in step with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    /// `user` or `group`.
    pub object_class: ObjectClass,
    /// The stable id of the object in the source (entryUUID, objectGUID, a CSV key).
    pub source_id: String,
    /// The object's id in the target, when the host knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// What to do.
    pub event: Event,
    /// The mapped attributes (the full desired set). `null` or absence means "no value": a connector
    /// that supports `clear_attributes` clears it in the target.
    #[serde(default)]
    pub attributes: Attributes,
    /// Names of the attributes that changed since the last provisioned state, when the host knows
    /// them. Absent means unknown: the connector compares with the target itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<String>>,
    /// Groups: the members the source lists now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberRef>,
    /// Groups: the members the host provisioned last time, when known (drives Merge handling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_members: Option<Vec<MemberRef>>,
}

/// A batch of records for `provision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionRequest {
    /// Payload version: 1. Absent means 1; a reader refuses a version it does not understand.
    #[serde(default = "v1")]
    pub v: u32,
    /// The records, applied in order (users before the groups that reference them).
    #[serde(default)]
    pub records: Vec<Record>,
    /// The call's time budget in milliseconds, from when the connector receives it (added in ABI 1.1,
    /// ignored by 1.0 connectors). Records not finished by then come back `failed` with kind `timeout`
    /// and `retryable`; absent means no deadline beyond the connector's own timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

impl Default for ProvisionRequest {
    /// Empty, with `v` = [`PAYLOAD_VERSION`].
    fn default() -> Self {
        ProvisionRequest { v: PAYLOAD_VERSION, records: Vec::new(), deadline_ms: None }
    }
}

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The object was created.
    Created,
    /// The object was changed.
    Updated,
    /// The object already matched; nothing was sent.
    Unchanged,
    /// A deactivated object was reactivated (and updated where needed).
    Reactivated,
    /// The object was deactivated.
    Disabled,
    /// The object was deleted.
    Deleted,
    /// Nothing was done on purpose (an option is off, or nothing to deprovision).
    Skipped,
    /// The record failed; see `error`.
    Failed,
    /// An outcome this host does not know.
    #[serde(other)]
    Unknown,
}

/// Error classes, ConnId-shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The object (or a unique value of it) already exists.
    AlreadyExists,
    /// The object does not exist in the target.
    NotFound,
    /// An attribute value was rejected.
    InvalidAttribute,
    /// The credential was rejected.
    InvalidCredential,
    /// The credential lacks the rights for this operation.
    PermissionDenied,
    /// The target throttled the request.
    RateLimited,
    /// The target could not be reached, or broke the connection.
    ConnectionFailed,
    /// The target did not answer in time.
    Timeout,
    /// The settings or the request are wrong.
    Configuration,
    /// Anything else (including kinds this host does not know).
    #[serde(other)]
    Other,
}

impl ErrorKind {
    /// The snake_case name used in payloads and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidAttribute => "invalid_attribute",
            ErrorKind::InvalidCredential => "invalid_credential",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::ConnectionFailed => "connection_failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Other => "other",
        }
    }
}

/// An error: per record in a result, or for a whole call in `out_error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorInfo {
    /// Payload version: 1. Absent means 1. As the top-level payload (`out_error`), a reader refuses a
    /// version it does not understand; nested in a result, it follows the payload that holds it.
    #[serde(default = "v1")]
    pub v: u32,
    /// The class of error.
    pub kind: ErrorKind,
    /// What went wrong and what to do, for a person. Never contains secrets.
    pub message: String,
    /// Whether the same request may succeed later.
    #[serde(default)]
    pub retryable: bool,
    /// How long the target asked to wait, when it said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The target's own error code (e.g. Slack's `email_taken`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ErrorInfo {
    /// A non-retryable error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorInfo {
            v: PAYLOAD_VERSION,
            kind,
            message: message.into(),
            retryable: false,
            retry_after_ms: None,
            code: None,
        }
    }

    /// Marks the error retryable.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// Sets the target's error code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the retry hint.
    pub fn with_retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

/// The result of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordResult {
    /// The record's source id (results come in request order as well).
    pub source_id: String,
    /// The record's object class.
    pub object_class: ObjectClass,
    /// What happened.
    pub outcome: Outcome,
    /// The object's target id, when it exists in the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// Why it failed (with `outcome: failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Things an administrator should know even though the record succeeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl RecordResult {
    /// A result with `outcome` for `record`.
    pub fn of(record: &Record, outcome: Outcome, target_id: Option<String>) -> Self {
        RecordResult {
            source_id: record.source_id.clone(),
            object_class: record.object_class,
            outcome,
            target_id,
            error: None,
            warnings: Vec::new(),
        }
    }

    /// A failed result for `record`.
    pub fn failed(record: &Record, error: ErrorInfo) -> Self {
        RecordResult {
            source_id: record.source_id.clone(),
            object_class: record.object_class,
            outcome: Outcome::Failed,
            target_id: record.target_id.clone(),
            error: Some(error),
            warnings: Vec::new(),
        }
    }
}

/// The response of `provision`: one result per record, in request order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProvisionResponse {
    /// Payload version: 1. Absent means 1; a reader refuses a version it does not understand.
    #[serde(default = "v1")]
    pub v: u32,
    /// One result per record.
    #[serde(default)]
    pub results: Vec<RecordResult>,
}

impl Default for ProvisionResponse {
    /// Empty, with `v` = [`PAYLOAD_VERSION`].
    fn default() -> Self {
        ProvisionResponse { v: PAYLOAD_VERSION, results: Vec::new() }
    }
}

/// The request of `test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestRequest {
    /// Payload version: 1. Absent means 1; a reader refuses a version it does not understand.
    #[serde(default = "v1")]
    pub v: u32,
}

impl Default for TestRequest {
    /// Empty, with `v` = [`PAYLOAD_VERSION`].
    fn default() -> Self {
        TestRequest { v: PAYLOAD_VERSION }
    }
}

/// The response of a successful `test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestResponse {
    /// Payload version: 1. Absent means 1; a reader refuses a version it does not understand.
    #[serde(default = "v1")]
    pub v: u32,
    /// A one-line summary for a person.
    pub message: String,
    /// Facts learnt (API version, account, counts).
    #[serde(default)]
    pub details: Attributes,
}

impl Default for TestResponse {
    /// Empty, with `v` = [`PAYLOAD_VERSION`].
    fn default() -> Self {
        TestResponse { v: PAYLOAD_VERSION, message: String::new(), details: Attributes::new() }
    }
}

/// An equality filter on one attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchFilter {
    /// Attribute name (as in the descriptor).
    pub attribute: String,
    /// Value to match (case-insensitive where the target is).
    pub value: String,
}

/// The request of `search`: one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchRequest {
    /// Payload version: 1. Absent means 1; a reader refuses a version it does not understand.
    #[serde(default = "v1")]
    pub v: u32,
    /// What to read.
    pub object_class: ObjectClass,
    /// Optional equality filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<SearchFilter>,
    /// Objects per page (the connector may clamp it).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The `next_cookie` of the previous page; absent for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

fn default_page_size() -> u32 {
    100
}

/// An object read from the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetObject {
    /// The object's target id.
    pub target_id: String,
    /// Attributes, named as in the descriptor.
    #[serde(default)]
    pub attributes: Attributes,
    /// Whether the object is active (users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Member target ids (groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// One page of `search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchPage {
    /// Payload version: 1. Absent means 1; a reader refuses a version it does not understand.
    #[serde(default = "v1")]
    pub v: u32,
    /// The objects on this page.
    #[serde(default)]
    pub objects: Vec<TargetObject>,
    /// Pass back to read the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cookie: Option<String>,
    /// Total number of objects, when the target says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl Default for SearchPage {
    /// Empty, with `v` = [`PAYLOAD_VERSION`].
    fn default() -> Self {
        SearchPage { v: PAYLOAD_VERSION, objects: Vec::new(), next_cookie: None, total: None }
    }
}

/// Every payload with its schema file name, for schema generation and the agreement test.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("descriptor", schemars::schema_for!(Descriptor)),
        ("target_settings", schemars::schema_for!(TargetSettings)),
        ("provision_request", schemars::schema_for!(ProvisionRequest)),
        ("provision_response", schemars::schema_for!(ProvisionResponse)),
        ("test_request", schemars::schema_for!(TestRequest)),
        ("test_response", schemars::schema_for!(TestResponse)),
        ("search_request", schemars::schema_for!(SearchRequest)),
        ("search_page", schemars::schema_for!(SearchPage)),
        ("error", schemars::schema_for!(ErrorInfo)),
    ]
}
