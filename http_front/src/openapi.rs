//! `GET /openapi.json`: the front's OpenAPI 3.1 document, generated from the code: the query
//! parameters from the handlers' own query types, the packet schema from the core's column list,
//! the window schema from the core's feature list (so neither can drift from what is served),
//! and the response bodies from the types below.

use std::borrow::Cow;
use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{OpenApi, PartialSchema, ToSchema};

use traffic_core::columns::{ColumnType, COLUMNS};
use traffic_core::features::FEATURES;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "traffic_analyzer front",
        description = "Packet ingest, alerts and window reads of the in-Postgres traffic analyzer."
    ),
    paths(
        ingest_packets_doc,
        health_doc,
        last_raw_packets_doc,
        packets_doc,
        alerts_doc,
        alert_timeline_doc,
        last10_doc,
        alltraffic_doc,
        features_doc,
        predict_doc,
        metrics_doc
    ),
    components(schemas(
        RawPacket,
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

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")));

pub async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

fn nullable(ty: Type) -> SchemaType {
    SchemaType::from_iter([ty, Type::Null])
}

/// One packet in the ingest wire format (the core's column list; `timestamp` in Unix seconds).
pub struct RawPacket;

impl PartialSchema for RawPacket {
    fn schema() -> RefOr<Schema> {
        let mut object = ObjectBuilder::new().description(Some(
            "A packet as sensors post it and /api/raw_packets returns it (which adds id and inserted_at).",
        ));
        for c in COLUMNS {
            let (ty, format) = match c.ty {
                ColumnType::Timestamptz => (Type::Number, Some("Unix seconds")),
                ColumnType::Text => (Type::String, None),
                ColumnType::Inet => (Type::String, Some("IPv4 or IPv6 address")),
                ColumnType::Macaddr => (Type::String, Some("MAC address")),
                ColumnType::Int2 | ColumnType::Int4 => (Type::Integer, None),
                ColumnType::Bool => (Type::Boolean, None),
            };
            let field = ObjectBuilder::new()
                .schema_type(if c.required { SchemaType::Type(ty) } else { nullable(ty) })
                .description(format);
            object = object.property(c.json, field);
            if c.required {
                object = object.required(c.json);
            }
        }
        object = object
            .property("id", ObjectBuilder::new().schema_type(Type::Integer).description(Some("(reads only)")))
            .property(
                "inserted_at",
                ObjectBuilder::new().schema_type(Type::String).description(Some("(reads only) RFC 3339")),
            );
        RefOr::T(Schema::Object(object.build()))
    }
}

impl ToSchema for RawPacket {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RawPacket")
    }
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
    /// The strongest evidence: [{"feature", "value", "contribution"}].
    #[schema(value_type = Option<Vec<Object>>)]
    pub explanation: Option<serde_json::Value>,
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

// The paths. The handlers live in their modules; these stubs carry their documentation.

#[utoipa::path(post, path = "/ingest_packets",
    description = "Stores a batch of packets, whole or not at all: a JSON array (the original's contract), NDJSON (application/x-ndjson), optionally gzip. Idempotency-Key or X-Batch-Id makes retries safe.",
    request_body(content = Vec<RawPacket>, content_type = "application/json"),
    responses((status = 200, body = IngestAck), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
#[allow(dead_code)]
fn ingest_packets_doc() {}

#[utoipa::path(get, path = "/health", responses((status = 200, body = Health), (status = 503, body = Health)))]
#[allow(dead_code)]
fn health_doc() {}

#[utoipa::path(get, path = "/api/raw_packets/last/{count}",
    params(("count" = u32, Path, description = "1 to MAX_LAST_PACKETS (10,000)")),
    responses((status = 200, body = Vec<RawPacket>), (status = 422, body = ErrorBody)))]
#[allow(dead_code)]
fn last_raw_packets_doc() {}

#[utoipa::path(get, path = "/api/packets", params(crate::api::PacketsQuery),
    description = "Stored packets newest first (by capture time), filtered by address and port (either side), protocol and time; a page of `limit`, the next page's cursor in x-next-cursor.",
    responses((status = 200, body = Vec<RawPacket>,
               headers(("x-next-cursor" = String, description = "The next page's cursor (absent on the last page)"))),
              (status = 422, body = ErrorBody)))]
#[allow(dead_code)]
fn packets_doc() {}

#[utoipa::path(get, path = "/api/alerts", params(crate::alerts::AlertQuery),
    responses((status = 200, body = Vec<Alert>), (status = 422, body = ErrorBody)))]
#[allow(dead_code)]
fn alerts_doc() {}

#[utoipa::path(get, path = "/api/alert_timeline", params(crate::alerts::TimelineQuery),
    description = "How many alerts started per time bucket and severity (empty buckets left out), oldest first.",
    responses((status = 200, body = Vec<TimelineBucket>), (status = 422, body = ErrorBody)))]
#[allow(dead_code)]
fn alert_timeline_doc() {}

#[utoipa::path(get, path = "/api/last10", params(crate::traffic::Last10Query),
    responses((status = 200, body = Vec<WindowRow>), (status = 422, body = ErrorBody)))]
#[allow(dead_code)]
fn last10_doc() {}

#[utoipa::path(get, path = "/api/alltraffic", params(crate::traffic::AllTrafficQuery),
    responses((status = 200, body = Vec<WindowRow>,
               headers(("x-next-cursor" = String, description = "The next page's cursor (absent on the last page)"))),
              (status = 422, body = ErrorBody)))]
#[allow(dead_code)]
fn alltraffic_doc() {}

#[utoipa::path(get, path = "/api/features", params(crate::series::FeaturesQuery),
    description = "A time series of window features and predictions for one window size and scope (the data behind the dashboard's charts), oldest first: from `from` on, a page of `limit` with the next page's cursor in x-next-cursor; without `from`, the newest `limit` windows.",
    responses((status = 200, body = Vec<FeatureRow>,
               headers(("x-next-cursor" = String, description = "With `from`: the next page's cursor (absent on the last page)"))),
              (status = 422, body = ErrorBody)))]
#[allow(dead_code)]
fn features_doc() {}

#[utoipa::path(post, path = "/predict",
    description = "The original's legacy scoring endpoint: its Traffic JSON (dest_ip, source_mac, dest_mac, packet_count, packet_per_sec required), scored by the extension's score().",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, body = Prediction), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[allow(dead_code)]
fn predict_doc() {}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[allow(dead_code)]
fn metrics_doc() {}
