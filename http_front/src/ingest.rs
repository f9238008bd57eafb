//! `POST /ingest_packets`: a batch of packets is read and validated as a stream (bounded in
//! bytes, before and after gzip, and in packets), then stored with one binary COPY in one
//! transaction, and acknowledged only after commit. Whatever days its packets claim, a batch
//! creates no partition: the database keeps those of the days around now, and stores other
//! days' packets in the default partition.

use std::io::{BufReader, Read};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::{Extension, Json};
use serde_json::{json, Value};
use traffic_core::wire::StreamError;
use traffic_core::{Format, Limits};

use crate::auth::{Access, Principal};
use crate::copy_binary;
use crate::error::ApiError;
use crate::openapi::{ErrorBody, IngestAck, RawPacket};
use crate::request_body::{self, BodyError};
use crate::routes::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().api(Access::Ingest, utoipa_axum::routes!(ingest_packets))
}

/// Headers under which a sender may name a batch so that a retry is stored once.
const BATCH_ID_HEADERS: [&str; 2] = ["idempotency-key", "x-batch-id"];

#[utoipa::path(post, path = "/ingest_packets",
    description = "Stores a batch of packets, whole or not at all: a JSON array (the original's contract), or NDJSON with Content-Type: application/x-ndjson; gzip with Content-Encoding: gzip. At most MAX_BATCH_PACKETS (250,000) packets and MAX_BODY_BYTES (128 MiB) before and after gzip. An Idempotency-Key (or X-Batch-Id) makes retries safe. No partition is made for a batch: packets of days without one are kept in the default partition.",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Names the batch: a retry with the same key is stored once (1 to 200 printable ASCII characters)")
    ),
    request_body(content = Vec<RawPacket>, content_type = "application/json"),
    responses((status = 200, body = IngestAck), (status = 422, body = ErrorBody)))]
pub async fn ingest_packets(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let Principal::Sensor { name: sensor } = principal else {
        return Err(ApiError::Forbidden("only sensors ingest".into()));
    };
    let format = format_of(&headers)?;
    let gzipped = gzipped(&headers)?;
    let batch_id = batch_id_of(&headers)?;
    let max_bytes = state.config.max_body_bytes;
    if content_length(&headers).is_some_and(|n| n > max_bytes as u64) {
        return Err(ApiError::PayloadTooLarge(format!("request body exceeds the limit of {max_bytes} bytes")));
    }
    // Each batch in flight holds a decoded batch in memory and a database connection. A batch
    // waits a moment for a slot (its body not yet read: it costs nothing meanwhile), then is
    // told to come back.
    let queue = Duration::from_millis(state.config.batch_queue_ms);
    let _slot = match tokio::time::timeout(queue, state.ingest_slots.clone().acquire_owned()).await {
        Ok(Ok(slot)) => slot,
        _ => {
            return Err(ApiError::Busy {
                message: format!(
                    "{} batches are being stored already (MAX_CONCURRENT_BATCHES); retry shortly",
                    state.config.max_concurrent_batches
                ),
                retry_after: 1,
            })
        }
    };

    let limits = Limits::at(now_epoch_seconds(), state.config.max_clock_skew_secs);
    let max_packets = state.config.max_batch_packets;
    let reader = request_body::blocking_reader(body, max_bytes);
    let batch_sensor = sensor.clone();
    // Decompressing, parsing and encoding are CPU work, and the body is read as they go: a
    // blocking task, reading the body through a bridge to the runtime.
    let decoded = tokio::task::spawn_blocking(move || {
        decode(reader, gzipped, format, &limits, max_packets, max_bytes, &batch_sensor)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("decoding task failed: {e}")))??;

    let mut duplicate = false;
    if decoded.count > 0 {
        duplicate = !store(&state, &decoded, batch_id.as_deref(), &sensor).await?;
        if !duplicate {
            state.metrics.packets_ingested.inc_by(decoded.count as u64);
        }
    }
    tracing::info!(packets = decoded.count, duplicate, batch_id = batch_id.as_deref(), sensor, "batch stored");
    let message = if duplicate {
        "Batch already stored (same Idempotency-Key); nothing stored twice"
    } else {
        "Packets stored in raw_packets table"
    };
    let mut response = json!({ "status": "success", "packets_received": decoded.count, "message": message });
    if let Some(id) = batch_id {
        response["batch_id"] = json!(id);
        response["duplicate"] = json!(duplicate);
    }
    Ok(Json(response))
}

/// A validated batch, ready for the database: its packets in binary COPY form (each encoded
/// as it was decoded, so the batch is never held as packet structs).
struct DecodedBatch {
    count: usize,
    copy_data: Bytes,
}

/// Reads, decompresses and decodes a body, all as a stream: nothing past the byte limits
/// (before and after gzip) or the packet limit is ever read.
fn decode(
    body: impl Read,
    gzipped: bool,
    format: Format,
    limits: &Limits,
    max_packets: usize,
    max_bytes: usize,
    sensor: &str,
) -> Result<DecodedBatch, ApiError> {
    let reader: Box<dyn Read> = if gzipped {
        Box::new(request_body::Limited::inflated(flate2::read::MultiGzDecoder::new(body), max_bytes))
    } else {
        Box::new(body)
    };
    let mut encoder = copy_binary::Encoder::new();
    let decoded = traffic_core::decode_stream(
        BufReader::with_capacity(READ_BUFFER, reader),
        format,
        limits,
        max_packets,
        &mut |mut packet| {
            packet.sensor = Some(sensor.to_string());
            encoder.push(&packet);
        },
    );
    match decoded {
        Ok(count) => Ok(DecodedBatch { count, copy_data: encoder.finish() }),
        Err(StreamError::Batch(e)) => Err(e.into()),
        Err(StreamError::Io(e)) => Err(match BodyError::of(&e) {
            Some(BodyError::TooSlow { .. }) => ApiError::RequestTimeout(e.to_string()),
            Some(BodyError::TooLarge { .. } | BodyError::InflatesTooLarge { .. }) => {
                ApiError::PayloadTooLarge(e.to_string())
            }
            Some(BodyError::BrokeOff(_)) => ApiError::BadRequest(e.to_string()),
            None if gzipped => ApiError::BadRequest(format!("body is not valid gzip: {e}")),
            None => ApiError::BadRequest(format!("reading the body: {e}")),
        }),
    }
}

/// Bytes read from the body at a time.
const READ_BUFFER: usize = 64 * 1024;

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn format_of(headers: &HeaderMap) -> Result<Format, ApiError> {
    // Without a Content-Type a body could come from any web page (a no-cors fetch sends
    // text/plain or nothing): JSON must say it is JSON, which a cross-site page cannot.
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type is missing: send application/json (an array of packets) or application/x-ndjson".into(),
        ));
    };
    let media = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/json" => Ok(Format::JsonArray),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            Ok(Format::Ndjson)
        }
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {other:?} is not accepted: send application/json (an array of packets) or application/x-ndjson"
        ))),
    }
}

fn gzipped(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else { return Ok(false) };
    match value.to_str().unwrap_or("").trim().to_ascii_lowercase().as_str() {
        "gzip" | "x-gzip" => Ok(true),
        "" | "identity" => Ok(false),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding {other:?} is not supported: use gzip or none"
        ))),
    }
}

/// What a batch id may be ([`BATCH_ID_PATTERN`]): 1 to 200 printable ASCII characters (spaces
/// inside, none around; whitespace around a header value is not part of it).
fn batch_id_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = BATCH_ID_HEADERS.iter().find_map(|name| headers.get(*name)) else { return Ok(None) };
    let blank = |b: &&u8| matches!(b, b' ' | b'\t');
    let bytes = value.as_bytes();
    let id = &bytes[bytes.iter().take_while(blank).count()..];
    let id = &id[..id.len() - id.iter().rev().take_while(blank).count()];
    if (1..=200).contains(&id.len()) && id.iter().all(|b| (0x20..=0x7e).contains(b)) {
        Ok(Some(String::from_utf8_lossy(id).into_owned()))
    } else {
        Err(ApiError::BadRequest("Idempotency-Key must be 1 to 200 printable ASCII characters".into()))
    }
}

/// The batch id header's values, as the OpenAPI document states them.
pub const BATCH_ID_PATTERN: &str = "^[ \t]*[!-~]([ -~]{0,198}[!-~])?[ \t]*$";

/// Stores the batch in one transaction. Returns false when the batch id was already stored
/// (a retry): then nothing is written.
async fn store(state: &AppState, batch: &DecodedBatch, batch_id: Option<&str>, sensor: &str) -> Result<bool, ApiError> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    if let Some(id) = batch_id {
        let count = i32::try_from(batch.count).unwrap_or(i32::MAX);
        let statement = tx
            .prepare_cached(
                // No conflict target: inferring one would need SELECT, which the ingest role lacks.
                "INSERT INTO ingest_batches (batch_id, sensor, packet_count) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        // A concurrent retry of the same batch waits here until the first one commits or aborts.
        if tx.execute(&statement, &[&id, &sensor, &count]).await? == 0 {
            return Ok(false);
        }
    }
    let sink = tx.copy_in(&state.copy_statement).await?;
    let written = copy_binary::send(sink, &batch.copy_data).await?;
    if written != batch.count as u64 {
        return Err(ApiError::Internal(format!("COPY wrote {written} rows for {} packets", batch.count)));
    }
    tx.commit().await?;
    Ok(true)
}

pub fn now_epoch_seconds() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}
