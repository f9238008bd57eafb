//! `GET /openapi.json`: the front's OpenAPI 3.1 document, generated from the code: each path
//! from the `#[utoipa::path]` on its handler (declared with it, `routes.rs`), the query
//! parameters from the handlers' own query types (with every bound they check), the packet
//! schema from the core's column list and field bounds, the window schema from the core's
//! feature list, who may call each path and every status it can answer from the route table
//! (`routes::ROUTES`), and the response bodies from the types below. Nothing is written twice:
//! a bound changed in the code changes here, and schemathesis holds the front to the document.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{OpenApi, PartialSchema, ToSchema};

use traffic_core::columns::{ColumnType, COLUMNS};
use traffic_core::features::FEATURES;
use traffic_core::packet::{numeric_range, text_limit, Limits, MIN_TIMESTAMP};

use crate::auth::Access;
use crate::config::Config;
use crate::routes::{Routes, ROUTES};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "traffic_analyzer front",
        description = "Packet ingest, alerts and window reads of the in-Postgres traffic analyzer. Sensors ingest with a sensor token (or from a trusted address without one); everything else but /health needs a user's API token (Authorization: Bearer) or a signed-in session (cookie)."
    ),
    components(schemas(
        IngestAck,
        ErrorBody,
        ErrorDetail,
        Health,
        Alert,
        WindowRow,
        FeatureRow,
        TimelineBucket,
        Prediction
    ))
)]
struct ApiDoc;

/// The document as served: it depends on the configuration and on the day (the latest
/// capture time a batch may have), so it is made once a day.
pub struct Served(Mutex<Option<(i64, Bytes)>>);

impl Default for Served {
    fn default() -> Self {
        Served(Mutex::new(None))
    }
}

pub fn routes() -> Routes {
    Routes::new().api(Access::Read, utoipa_axum::routes!(openapi_json))
}

#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json(State(state): State<Arc<AppState>>) -> Response {
    let now = crate::ingest::now_epoch_seconds();
    let day = (now / 86_400.0).floor() as i64;
    let document = {
        let mut served = state.openapi.0.lock().unwrap_or_else(|e| e.into_inner());
        match served.as_ref() {
            Some((made, document)) if *made == day => document.clone(),
            _ => {
                let document = Bytes::from(document(&state.config, now));
                *served = Some((day, document.clone()));
                document
            }
        }
    };
    ([(header::CONTENT_TYPE, "application/json")], document).into_response()
}

/// The whole document for a front with this configuration whose clock reads `now`.
pub fn document(config: &Config, now: f64) -> String {
    let mut api = ApiDoc::openapi();
    let (paths, schemas) = crate::routes::api_paths();
    api.paths = paths;
    if let Some(components) = api.components.as_mut() {
        for (name, schema) in schemas {
            components.schemas.entry(name).or_insert(schema);
        }
    }
    let mut doc = serde_json::to_value(api).unwrap_or_else(|e| json!({"error": e.to_string()}));
    doc["components"]["schemas"]["RawPacket"] = raw_packet(Limits::at(now, config.max_clock_skew_secs), false);
    doc["components"]["schemas"]["StoredPacket"] = raw_packet(Limits::at(now, config.max_clock_skew_secs), true);
    doc["components"]["schemas"]["Traffic"] = traffic();
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "A user's API token (tau_..., create_api_token()), a sensor token (ta_..., create_sensor_token()) for ingest, or METRICS_TOKEN for /metrics"},
        "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE,
                    "description": "A signed-in browser's session (POST /login)"}
    });
    if let Some(count) = doc
        .pointer_mut("/paths/~1api~1raw_packets~1last~1{count}/get/parameters/0/schema")
        .and_then(Value::as_object_mut)
    {
        count.insert("minimum".into(), json!(1));
        count.insert("maximum".into(), json!(config.max_last_packets));
    }
    if let Some(key) =
        doc.pointer_mut("/paths/~1ingest_packets/post/parameters/0/schema").and_then(Value::as_object_mut)
    {
        key.insert("pattern".into(), json!(crate::ingest::BATCH_ID_PATTERN));
    }
    for route in ROUTES.iter() {
        let pointer =
            format!("/paths/{}/{}", route.path.replace('~', "~0").replace('/', "~1"), route.method.to_lowercase());
        if let Some(operation) = doc.pointer_mut(&pointer) {
            complete(operation, route);
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Who may call an operation, and the answers every operation of its kind can give besides its
/// own: authentication, the body's limits, and the front's own (timeouts, database, faults).
fn complete(operation: &mut Value, route: &crate::routes::Route) {
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
    let retry =
        json!({"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}});
    let mut add = |status: &str, mut response: Value| {
        let responses = operation["responses"].as_object_mut();
        if let Some(responses) = responses {
            if status == "503" || status == "429" {
                response["headers"] = retry.clone();
            }
            responses.entry(status.to_string()).or_insert(response);
        }
    };
    add("500", error("A fault of the front's (internal error, with the request id; details in its log)"));
    add("503", error("The database is away, or a limit is reached (too many batches, the request took too long)"));
    if route.method == "POST" {
        add("400", error("The body is not well-formed (JSON, gzip) or broke off"));
        add("408", error("The body did not arrive in time"));
        add("413", error("The body is over the size or packet limit"));
        add("415", error("Content-Type (or Content-Encoding) is missing or not accepted"));
    }
    if route.access != Access::Public {
        let mut unauthorized = error("No credentials, or ones that are not (or no longer) valid");
        unauthorized["headers"] = json!({"WWW-Authenticate": {"schema": {"type": "string"}}});
        add("401", unauthorized);
        add("403", error("The credentials do not allow this"));
        let security = match route.access {
            Access::Ingest => json!([{"bearer": []}, {}]),
            _ => json!([{"bearer": []}, {"session": []}]),
        };
        operation["security"] = security;
    } else {
        operation["security"] = json!([]);
    }
    // Every answer names its request.
    if let Some(responses) = operation["responses"].as_object_mut() {
        for response in responses.values_mut() {
            response["headers"]["x-request-id"] =
                json!({"description": "This request's id (in the front's log too)", "schema": {"type": "string"}});
        }
    }
}

// Parameter schemas (`#[param(schema_with = ...)]`): what the filters accept, exactly.

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A window scope.
pub fn scope() -> utoipa::openapi::Object {
    string().enum_values(Some(traffic_core::features::SCOPE_NAMES)).build()
}

/// Which detector raised an alert (the core's list).
pub fn detector() -> utoipa::openapi::Object {
    string().enum_values(Some(traffic_core::alerts::Detector::ALL.map(|d| d.name()))).build()
}

pub fn severity() -> utoipa::openapi::Object {
    string().enum_values(Some(traffic_core::alerts::SEVERITY_NAMES)).build()
}

/// A text filter: 1 to 64 characters, no NUL.
pub fn text() -> utoipa::openapi::Object {
    string()
        .min_length(Some(1))
        .max_length(Some(crate::filters::MAX_FILTER_TEXT))
        .pattern(Some("^[^\\u0000]*$"))
        .build()
}

fn ip_schema() -> utoipa::openapi::schema::AnyOf {
    utoipa::openapi::schema::AnyOfBuilder::new()
        .item(string().format(Some(utoipa::openapi::SchemaFormat::Custom("ipv4".into()))))
        .item(string().format(Some(utoipa::openapi::SchemaFormat::Custom("ipv6".into()))))
        .build()
}

/// An IPv4 or IPv6 address.
pub fn ip() -> RefOr<Schema> {
    RefOr::T(Schema::AnyOf(ip_schema()))
}

/// An RFC 3339 time or Unix seconds.
pub fn time() -> RefOr<Schema> {
    RefOr::T(Schema::AnyOf(
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(
                string()
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime))),
            )
            .item(string().pattern(Some(crate::filters::UNIX_SECONDS_PATTERN)))
            .build(),
    ))
}

pub fn cursor() -> utoipa::openapi::Object {
    string().pattern(Some(crate::paging::CURSOR_PATTERN)).build()
}

pub fn features() -> utoipa::openapi::Object {
    string().pattern(Some(crate::api::features::features_pattern())).build()
}

fn nullable(ty: Type) -> SchemaType {
    SchemaType::from_iter([ty, Type::Null])
}

/// One packet in the ingest wire format (`timestamp` in Unix seconds); its schema is
/// [`raw_packet`]'s (made from the core's columns and bounds when the document is).
pub struct RawPacket;

impl PartialSchema for RawPacket {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(ObjectBuilder::new().build()))
    }
}

impl ToSchema for RawPacket {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RawPacket")
    }
}

/// A stored packet as /api/raw_packets and /api/packets return it: the wire format plus `id`
/// and `inserted_at`.
pub struct StoredPacket;

impl PartialSchema for StoredPacket {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(ObjectBuilder::new().build()))
    }
}

impl ToSchema for StoredPacket {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StoredPacket")
    }
}

/// The schema of one packet field: its JSON type and every bound the front checks.
fn field(column: &traffic_core::Column, limits: Limits, address: &Value) -> Value {
    let mut schema = match column.ty {
        ColumnType::Timestamptz => json!({"type": "number", "minimum": MIN_TIMESTAMP, "maximum": limits.max_timestamp,
            "description": "Unix seconds; from 1980 to the end of the UTC day MAX_CLOCK_SKEW_SECS ahead of the front's clock (this document's maximum is today's)"}),
        ColumnType::Text => json!({"type": "string", "maxLength": text_limit(column.json), "pattern": "^[^\\u0000]*$"}),
        ColumnType::Inet => address.clone(),
        ColumnType::Macaddr => json!({"type": "string",
            "pattern": "^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$|^[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}$"}),
        ColumnType::Int2 | ColumnType::Int4 => {
            let (lo, hi) = numeric_range(column.json).unwrap_or((i64::from(i32::MIN), i64::from(i32::MAX)));
            json!({"type": "integer", "minimum": lo, "maximum": hi})
        }
        ColumnType::Bool => json!({"type": "boolean"}),
    };
    if column.json == "interface" {
        schema["minLength"] = json!(1);
    }
    if column.json == "ip_version" {
        schema = json!({"type": "integer", "enum": [4, 6]});
    }
    if column.required {
        schema
    } else if schema.get("anyOf").is_some() {
        let mut any = schema["anyOf"].as_array().cloned().unwrap_or_default();
        any.push(json!({"type": "null"}));
        json!({"anyOf": any})
    } else {
        json!({"anyOf": [schema, {"type": "null"}]})
    }
}

/// A packet: the core's columns with their bounds, in three shapes (addresses of the family
/// ip_version says, or of either without it), since validation checks them together. Stored
/// packets also have `id` and `inserted_at`.
fn raw_packet(limits: Limits, stored: bool) -> Value {
    let v4 = json!({"type": "string", "format": "ipv4"});
    let v6 = json!({"type": "string", "format": "ipv6"});
    let shapes = [(Some(4), json!(v4.clone())), (Some(6), json!(v6.clone())), (None, json!({"anyOf": [v4, v6]}))];
    let any_of: Vec<Value> = shapes
        .iter()
        .map(|(version, address)| {
            let mut properties = serde_json::Map::new();
            let mut required = Vec::new();
            for column in COLUMNS {
                let mut schema = field(column, limits, address);
                if column.json == "ip_version" {
                    schema = match version {
                        Some(v) => json!({"type": "integer", "enum": [v]}),
                        None => json!({"type": "null"}),
                    };
                    if version.is_some() {
                        required.push(json!(column.json));
                    }
                }
                if column.required {
                    required.push(json!(column.json));
                }
                properties.insert(column.json.to_string(), schema);
            }
            if stored {
                properties.insert("id".into(), json!({"type": "integer"}));
                properties.insert("inserted_at".into(), json!({"type": "string", "format": "date-time"}));
                required.push(json!("id"));
                required.push(json!("inserted_at"));
            }
            json!({"type": "object", "properties": properties, "required": required})
        })
        .collect();
    let description = if stored {
        "A stored packet: the wire format plus id and inserted_at"
    } else {
        "A packet as sensors post it (unknown fields are ignored; `sensor` is set from the credentials, whatever the body says)"
    };
    json!({"description": description, "anyOf": any_of})
}

/// The body of the legacy POST /predict: the original's Traffic, and any feature of
/// feature_names() by name.
fn traffic() -> Value {
    let number = json!({"type": "number"});
    let optional_number = json!({"type": ["number", "null"]});
    let mut properties = serde_json::Map::new();
    for f in FEATURES {
        properties.insert(f.name.to_string(), optional_number.clone());
    }
    for name in ["dest_ip", "source_mac", "dest_mac"] {
        properties.insert(name.into(), json!({"type": "string"}));
    }
    for name in ["packet_count", "packet_per_sec"] {
        properties.insert(name.into(), number.clone());
    }
    for name in ["byte_count", "byte_per_sec", "connection_attempts", "unique_ports"] {
        properties.insert(name.into(), optional_number.clone());
    }
    properties.insert("tcp_flags".into(), json!({"type": ["string", "null"], "description": "e.g. SYN,ACK"}));
    properties.insert("protocol".into(), json!({"type": ["string", "null"], "description": "TCP, UDP, ICMP"}));
    json!({
        "type": "object",
        "description": "A flow, the original's Traffic shape; feature_names() may be given directly and win over the legacy fields",
        "properties": properties,
        "required": ["dest_ip", "source_mac", "dest_mac", "packet_count", "packet_per_sec"]
    })
}

/// One `aggregated_features` row: the window, its scope, every feature (feature_names() order)
/// and the model's prediction.
pub struct WindowRow;

/// The window's keys and prediction, then every feature (all optional: a row holds those asked
/// for), with the feature list's own definitions.
fn window_object(described: &str) -> ObjectBuilder {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let mut object = ObjectBuilder::new()
        .description(Some(described))
        .property("id", ObjectBuilder::new().schema_type(Type::Integer))
        .property("window_seconds", ObjectBuilder::new().schema_type(Type::Integer))
        .property("window_start", text().description(Some("RFC 3339")))
        .property("window_end", text().description(Some("RFC 3339")))
        .property("scope", text().description(Some("global, src_host or dst_host")))
        .property("host", ObjectBuilder::new().schema_type(nullable(Type::String)))
        .property(
            "predicted_label",
            ObjectBuilder::new().schema_type(nullable(Type::String)).description(Some("NULL without a model")),
        )
        .property("confidence", ObjectBuilder::new().schema_type(nullable(Type::Number)));
    for name in ["id", "window_seconds", "window_start", "window_end", "scope"] {
        object = object.required(name);
    }
    for f in FEATURES {
        object = object.property(
            f.name,
            ObjectBuilder::new()
                .schema_type(nullable(Type::Number))
                .description(Some(format!("{} ({})", f.definition, f.unit))),
        );
    }
    object
}

impl PartialSchema for WindowRow {
    fn schema() -> RefOr<Schema> {
        let object = window_object("An aggregated_features row: the window, every feature, the prediction.")
            .property("total_packets", ObjectBuilder::new().schema_type(Type::Integer))
            .property("total_bytes", ObjectBuilder::new().schema_type(Type::Integer))
            .property("feature_version", ObjectBuilder::new().schema_type(Type::Integer))
            .required("total_packets");
        RefOr::T(Schema::Object(object.build()))
    }
}

impl ToSchema for WindowRow {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("WindowRow")
    }
}

/// A window of a `/api/features` series: its keys, prediction and the features asked for.
pub struct FeatureRow;

impl PartialSchema for FeatureRow {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            window_object("A window of a series: its keys, the prediction and the features asked for.").build(),
        ))
    }
}

impl ToSchema for FeatureRow {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FeatureRow")
    }
}

/// `POST /ingest_packets` answer.
#[derive(Serialize, ToSchema)]
pub struct IngestAck {
    /// "success"
    pub status: String,
    pub packets_received: u64,
    pub message: String,
    /// The batch's Idempotency-Key / X-Batch-Id, when it had one.
    pub batch_id: Option<String>,
    /// True when the batch had been stored before (nothing stored twice).
    pub duplicate: Option<bool>,
}

/// An error: `detail` (FastAPI's shape) for a 422, naming where the input was wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// "error"
    pub status: String,
    pub message: String,
    pub detail: Option<Vec<ErrorDetail>>,
    /// On a server error (5xx): the request's id, under which the front's log has the details.
    pub request_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Where: e.g. ["body", 3, "src_ip"] or ["query", "limit"].
    #[schema(schema_with = location)]
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

fn location() -> ArrayBuilder {
    ArrayBuilder::new().items(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Integer)),
    )
}

/// `GET /health` answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// "healthy" or "unhealthy" (503)
    pub status: String,
    pub model_loaded: bool,
    pub timestamp: String,
    /// Why it is unhealthy.
    pub reason: Option<String>,
}

/// An alert the extension raised.
#[derive(Serialize, ToSchema)]
pub struct Alert {
    pub id: i64,
    pub alert_type: String,
    /// Critical, High, Medium or Low
    pub severity: String,
    pub source_ip: Option<String>,
    pub destination_ip: Option<String>,
    pub confidence: f64,
    pub description: String,
    /// RFC 3339
    pub first_seen: String,
    /// RFC 3339
    pub last_seen: String,
    pub window_count: i32,
    pub model_id: Option<i64>,
    /// The strongest evidence: [{"feature", "value", "contribution"}] (null when only a rule
    /// raised it: the description says why).
    #[schema(value_type = Option<Vec<Object>>)]
    pub explanation: Option<serde_json::Value>,
    /// Which detector raised it: model, rule (scan or flood) or both.
    #[schema(schema_with = detector)]
    pub detector: String,
    /// Every attacker the alert names, by address (at most 50): its source, or the many real
    /// sources of a flood; empty when they are unknown (spoofed).
    pub attackers: Vec<String>,
    /// RFC 3339
    pub created_at: String,
}

/// One bucket of `/api/alert_timeline`: alerts of a severity that started in it.
#[derive(Serialize, ToSchema)]
pub struct TimelineBucket {
    /// RFC 3339
    pub bucket_start: String,
    pub severity: String,
    pub alerts: i64,
}

/// `POST /predict` answer (the original's legacy endpoint).
#[derive(Serialize, ToSchema)]
pub struct Prediction {
    pub predicted_label: String,
    pub confidence: f64,
    /// Every class's probability, by class name.
    #[schema(value_type = Object)]
    pub probabilities: serde_json::Value,
    /// The request body, as sent.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A reference to a schema of `components` made as JSON (RawPacket, Traffic).
pub struct Traffic;

impl PartialSchema for Traffic {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(ObjectBuilder::new().build()))
    }
}

impl ToSchema for Traffic {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Traffic")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn doc() -> Value {
        let config = Config::try_parse_from(["http_front", "--database-url", "postgres://x@y/z"]).unwrap();
        serde_json::from_str(&document(&config, 1_704_067_200.0)).unwrap()
    }

    /// Every JSON route is in the document with who may call it, and every query parameter
    /// says what it takes (a bound, an enum, a pattern or a format).
    #[test]
    fn every_api_route_is_documented_with_its_bounds() {
        let doc = doc();
        for route in ROUTES.iter().filter(|r| {
            r.path.starts_with("/api")
                || ["/ingest_packets", "/predict", "/health", "/metrics", "/openapi.json"].contains(&r.path)
        }) {
            let operation = &doc["paths"][route.path][route.method.to_lowercase()];
            assert!(operation.is_object(), "{} {} is not documented", route.method, route.path);
            assert!(operation["security"].is_array(), "{} {}: security", route.method, route.path);
            for status in ["500", "503"] {
                assert!(operation["responses"][status].is_object(), "{} {}: {status}", route.method, route.path);
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let schema = &parameter["schema"];
                let text = schema.to_string();
                let bounded = ["maximum", "enum", "pattern", "format", "anyOf"].iter().any(|k| text.contains(k))
                    || parameter["name"] == "before_id";
                assert!(bounded, "{} {} parameter {}: {schema}", route.method, route.path, parameter["name"]);
            }
        }
        assert_eq!(doc["components"]["schemas"]["RawPacket"]["anyOf"].as_array().map(Vec::len), Some(3));
        let limit = &doc["paths"]["/api/raw_packets/last/{count}"]["get"]["parameters"][0]["schema"];
        assert_eq!(limit["maximum"], 10_000);
    }
}
