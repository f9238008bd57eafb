//! `POST /ingest_packets`: a batch of packets is validated whole, then stored with one binary COPY
//! in one transaction, and acknowledged only after commit.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chrono::{Days, NaiveDate};
use futures_util::SinkExt;
use serde_json::{json, Value};
use traffic_core::{decode_batch, Format, Limits, Packet};

use crate::auth::authenticate;
use crate::copy_binary;
use crate::error::ApiError;
use crate::state::AppState;

/// Headers under which a sender may name a batch so that a retry is stored once.
const BATCH_ID_HEADERS: [&str; 2] = ["idempotency-key", "x-batch-id"];
/// COPY data is sent in pieces of this size.
const COPY_CHUNK: usize = 1 << 20;
/// Partitions created for one batch at most; packets of further new days wait in the default partition.
const MAX_NEW_PARTITIONS_PER_BATCH: usize = 64;
const MICROS_PER_DAY: i64 = 86_400_000_000;

pub async fn ingest_packets(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let sensor = authenticate(&state, &headers).await?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
            "request body exceeds the limit of {} bytes",
            state.config.max_body_bytes
        )),
        _ => ApiError::BadRequest(rejection.body_text()),
    })?;
    let format = format_of(&headers)?;
    let gzipped = gzipped(&headers)?;
    let batch_id = batch_id_of(&headers)?;

    let limits = Limits { max_timestamp: now_epoch_seconds() + state.config.max_clock_skew_secs as f64 };
    let (max_packets, max_bytes) = (state.config.max_batch_packets, state.config.max_body_bytes);
    let batch_sensor = sensor.clone();
    // Decompressing, parsing and encoding are CPU work: keep them off the async workers.
    let decoded = tokio::task::spawn_blocking(move || -> Result<DecodedBatch, ApiError> {
        let raw = if gzipped { Cow::Owned(gunzip(&body, max_bytes)?) } else { Cow::Borrowed(&body[..]) };
        let mut packets = decode_batch(&raw, format, &limits, max_packets)?;
        if let Some(name) = batch_sensor {
            for packet in &mut packets {
                packet.sensor = Some(name.clone());
            }
        }
        Ok(DecodedBatch::new(&packets))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("decoding task failed: {e}")))??;

    let mut duplicate = false;
    if decoded.count > 0 {
        ensure_partitions(&state, &decoded.days).await?;
        duplicate = !store(&state, &decoded, batch_id.as_deref(), sensor.as_deref()).await?;
        if !duplicate {
            state.metrics.packets_ingested.inc_by(decoded.count as u64);
        }
    }
    tracing::info!(
        packets = decoded.count,
        duplicate,
        batch_id = batch_id.as_deref(),
        sensor = sensor.as_deref(),
        "batch stored"
    );
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

/// A validated batch, ready for the database.
struct DecodedBatch {
    count: usize,
    /// UTC days the packets fall on.
    days: BTreeSet<i32>,
    copy_data: Bytes,
}

impl DecodedBatch {
    fn new(packets: &[Packet]) -> Self {
        let days = packets.iter().map(|p| day_of(p.timestamp_micros())).collect();
        DecodedBatch { count: packets.len(), days, copy_data: copy_binary::encode(packets) }
    }
}

fn day_of(micros: i64) -> i32 {
    i32::try_from(micros.div_euclid(MICROS_PER_DAY)).unwrap_or(i32::MAX)
}

fn format_of(headers: &HeaderMap) -> Result<Format, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(Format::JsonArray) };
    let media = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "" | "application/json" => Ok(Format::JsonArray),
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

fn batch_id_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = BATCH_ID_HEADERS.iter().find_map(|name| headers.get(*name)) else { return Ok(None) };
    match value.to_str() {
        Ok(id) if (1..=200).contains(&id.trim().len()) => Ok(Some(id.trim().to_string())),
        _ => Err(ApiError::BadRequest("Idempotency-Key must be 1 to 200 visible ASCII characters".into())),
    }
}

/// Decompresses a gzip body, refusing to grow past `max_bytes` (a small bomb stays small).
fn gunzip(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_bytes));
    let limit = u64::try_from(max_bytes).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("body is not valid gzip: {e}")))?;
    if out.len() > max_bytes {
        return Err(ApiError::PayloadTooLarge(format!("decompressed body exceeds the limit of {max_bytes} bytes")));
    }
    Ok(out)
}

/// Makes sure each day has its partition (so the default partition stays small). The result is
/// cached: the database is asked only about days this process has not seen.
async fn ensure_partitions(state: &AppState, days: &BTreeSet<i32>) -> Result<(), ApiError> {
    let missing: Vec<i32> = {
        let known = state.known_partitions.lock().map_err(|_| ApiError::Internal("partition cache poisoned".into()))?;
        days.iter().filter(|d| !known.contains(d)).take(MAX_NEW_PARTITIONS_PER_BATCH).copied().collect()
    };
    if missing.is_empty() {
        return Ok(());
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or_else(|| ApiError::Internal("epoch".into()))?;
    let dates: Vec<NaiveDate> = missing
        .iter()
        .filter_map(|d| u64::try_from(*d).ok().and_then(|d| epoch.checked_add_days(Days::new(d))))
        .collect();
    let client = state.pool.get().await?;
    let created: i32 = client.query_one("SELECT ensure_raw_packet_partitions($1)", &[&dates]).await?.get(0);
    if created > 0 {
        tracing::info!(created, "created raw_packets partitions");
    }
    state.known_partitions.lock().map_err(|_| ApiError::Internal("partition cache poisoned".into()))?.extend(missing);
    Ok(())
}

/// Stores the batch in one transaction. Returns false when the batch id was already stored
/// (a retry): then nothing is written.
async fn store(
    state: &AppState,
    batch: &DecodedBatch,
    batch_id: Option<&str>,
    sensor: Option<&str>,
) -> Result<bool, ApiError> {
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
    futures_util::pin_mut!(sink);
    let data = &batch.copy_data;
    for start in (0..data.len()).step_by(COPY_CHUNK) {
        sink.send(data.slice(start..(start + COPY_CHUNK).min(data.len()))).await?;
    }
    let written = sink.finish().await?;
    if written != batch.count as u64 {
        return Err(ApiError::Internal(format!("COPY wrote {written} rows for {} packets", batch.count)));
    }
    tx.commit().await?;
    Ok(true)
}

fn now_epoch_seconds() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}
