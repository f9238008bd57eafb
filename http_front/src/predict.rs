//! `POST /predict`: the original's legacy endpoint (its `Traffic` JSON in, `{"predicted_label",
//! "data"}` out), answered by the extension's `score()` so there is one model and one evaluator.
//!
//! The legacy shape carries a handful of flow numbers; they fill the features they correspond
//! to and every other feature is missing (XGBoost's default direction), unless the body also
//! names features of `feature_names()` directly, which then take precedence.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};
use traffic_core::features::{index_of, FEATURES};

use crate::auth::Access;
use crate::error::ApiError;
use crate::openapi::{ErrorBody, Prediction, Traffic};
use crate::routes::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().api(Access::Read, utoipa_axum::routes!(predict))
}

/// The original `Traffic` model's required fields.
const REQUIRED: [&str; 5] = ["dest_ip", "source_mac", "dest_mac", "packet_count", "packet_per_sec"];

fn number(body: &Map<String, Value>, field: &str) -> Result<Option<f64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(ApiError::unprocessable(format!("{field} must be a number"), vec![json!("body"), json!(field)])),
    }
}

/// The feature vector (None = missing) for a legacy `Traffic` body.
pub fn legacy_features(body: &Map<String, Value>) -> Result<Vec<Option<f64>>, ApiError> {
    for field in REQUIRED {
        if body.get(field).is_none_or(Value::is_null) {
            return Err(ApiError::unprocessable(format!("field required: {field}"), vec![json!("body"), json!(field)]));
        }
    }
    for field in ["tcp_flags", "protocol"] {
        if !body.get(field).is_none_or(|v| v.is_string() || v.is_null()) {
            return Err(ApiError::unprocessable(
                format!("{field} must be a string"),
                vec![json!("body"), json!(field)],
            ));
        }
    }
    for field in ["dest_ip", "source_mac", "dest_mac"] {
        if !body[field].is_string() {
            return Err(ApiError::unprocessable(
                format!("{field} must be a string"),
                vec![json!("body"), json!(field)],
            ));
        }
    }
    let mut x: Vec<Option<f64>> = vec![None; FEATURES.len()];
    let mut set = |name: &str, value: Option<f64>| {
        if let (Some(i), Some(v)) = (index_of(name), value) {
            x[i] = Some(v);
        }
    };
    let packets = number(body, "packet_count")?;
    set("packet_count", packets);
    set("packets_per_sec", number(body, "packet_per_sec")?);
    set("byte_count", number(body, "byte_count")?);
    set("bytes_per_sec", number(body, "byte_per_sec")?);
    set("distinct_dst_ports", number(body, "unique_ports")?);
    set("distinct_dst_ips", Some(1.0)); // one destination: the flow's dest_ip
                                        // The original's field, with no feature of ours to fill: checked, not used.
    number(body, "connection_attempts")?;
    if let (Some(bytes), Some(n)) = (number(body, "byte_count")?, packets.filter(|n| *n > 0.0)) {
        set("pkt_size_mean", Some(bytes / n));
    }
    if let Some(protocol) = body.get("protocol").and_then(Value::as_str) {
        let p = protocol.to_ascii_uppercase();
        let share = |name: &str| if p == name { 1.0 } else { 0.0 };
        set("tcp_ratio", Some(share("TCP")));
        set("udp_ratio", Some(share("UDP")));
        set("icmp_ratio", Some(if p.starts_with("ICMP") { 1.0 } else { 0.0 }));
    }
    if let Some(flags) = body.get("tcp_flags").and_then(Value::as_str) {
        let has = |f: &str| flags.split([',', ' ', '|']).any(|part| part.trim().eq_ignore_ascii_case(f));
        set("syn_without_ack_ratio", Some(if has("SYN") && !has("ACK") { 1.0 } else { 0.0 }));
    }
    // Feature names given directly win over the legacy mapping.
    for name in body.keys() {
        if index_of(name).is_some() {
            set(name, number(body, name)?);
        }
    }
    Ok(x)
}

#[utoipa::path(post, path = "/predict",
    description = "The original's legacy scoring endpoint: its Traffic JSON, scored by the extension's score(). At most MAX_CONCURRENT_PREDICTIONS at once (503 beyond); 503 without an active model.",
    request_body(content = Traffic, content_type = "application/json"),
    responses((status = 200, body = Prediction), (status = 422, body = ErrorBody)))]
pub async fn predict(
    State(state): State<Arc<AppState>>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(e.body_text()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(e.body_text()),
        _ => ApiError::BadRequest(format!("body is not valid JSON: {}", e.body_text())),
    })?;
    let Value::Object(fields) = &body else {
        return Err(ApiError::unprocessable("body must be a JSON object (the Traffic shape)", vec![json!("body")]));
    };
    let features = legacy_features(fields)?;
    let _slot = state.predict_slots.clone().try_acquire_owned().map_err(|_| ApiError::Busy {
        message: format!(
            "{} predictions are being scored already (MAX_CONCURRENT_PREDICTIONS); retry shortly",
            state.config.max_concurrent_predictions
        ),
        retry_after: 1,
    })?;
    let client = state.pool.get().await?;
    let active = client.query_opt("SELECT id FROM models WHERE active", &[]).await?;
    if active.is_none() {
        return Err(ApiError::Busy {
            message:
                "no model is active: load one with SELECT load_model(name, json) (setup loads models/default.json)"
                    .into(),
            retry_after: 60,
        });
    }
    let statement = client
        .prepare_cached("SELECT label, confidence, probabilities, model_classes() AS classes FROM score($1::float8[])")
        .await?;
    let row = client.query_one(&statement, &[&features]).await?;
    let classes: Vec<String> = row.get("classes");
    let probabilities: Vec<f32> = row.get("probabilities");
    let by_class: Map<String, Value> = classes.into_iter().zip(probabilities).map(|(c, p)| (c, json!(p))).collect();
    Ok(Json(json!({
        "predicted_label": row.get::<_, String>("label"),
        "confidence": row.get::<_, f64>("confidence"),
        "probabilities": by_class,
        "data": body,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn legacy_fields_fill_their_features() {
        let x = legacy_features(&body(json!({
            "dest_ip": "8.8.8.8", "source_mac": "unknown", "dest_mac": "unknown",
            "packet_count": 150, "packet_per_sec": 5.0, "byte_count": 9000, "byte_per_sec": 300.0,
            "tcp_flags": "SYN", "connection_attempts": 3, "unique_ports": 2, "protocol": "TCP",
            "rst_ratio": 0.25
        })))
        .unwrap();
        let get = |name: &str| x[index_of(name).unwrap()];
        assert_eq!(get("packet_count"), Some(150.0));
        assert_eq!(get("pkt_size_mean"), Some(60.0));
        assert_eq!(get("syn_without_ack_ratio"), Some(1.0));
        assert_eq!(get("tcp_ratio"), Some(1.0));
        assert_eq!(get("distinct_dst_ports"), Some(2.0));
        assert_eq!(get("rst_ratio"), Some(0.25), "feature names are taken as given");
        assert_eq!(get("dns_query_count"), None, "the rest is missing");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let e = legacy_features(&body(json!({"dest_ip": "8.8.8.8"}))).unwrap_err();
        assert_eq!(e.to_string(), "field required: source_mac");
        let e = legacy_features(&body(json!({
            "dest_ip": "8.8.8.8", "source_mac": "a", "dest_mac": "b", "packet_count": "many", "packet_per_sec": 1
        })))
        .unwrap_err();
        assert_eq!(e.to_string(), "packet_count must be a number");
    }
}
