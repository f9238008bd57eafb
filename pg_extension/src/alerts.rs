//! Windows → predictions and rule findings → `detected_alerts`, run by the materialization jobs.
//! Which rows and findings make an alert, its severity and its words come from
//! `traffic_core::alerts`; here they are only written, merging an ongoing attack into one alert.

use std::net::IpAddr;

use pgrx::prelude::*;
use pgrx::{Inet, JsonB};
use traffic_core::alerts::merge::{self, Parties};
use traffic_core::alerts::{
    alert_candidates, is_flagged, with_findings, AlertCandidate, Detector, RuleFinding, ScoredRow, SEVERITY_NAMES,
};
use traffic_core::features::WindowRow;

use crate::scoring::{active_model, explanation, prediction, ActiveModel, Prediction};
use crate::settings;
use crate::windows::timestamptz;

/// Attackers an alert lists at most (a flood from many real sources lists its busiest).
const ATTACKERS_KEPT: i64 = 50;

/// Predictions for window rows, with the model that made them (None without an active model).
pub struct Scored {
    pub model: std::rc::Rc<ActiveModel>,
    pub predictions: Vec<Prediction>,
}

pub fn score_rows(rows: &[WindowRow]) -> Result<Option<Scored>, pgrx::spi::Error> {
    let Some(model) = active_model()? else { return Ok(None) };
    // All rows of the tick in one batch: rows go through each tree in blocks (cache-friendly).
    let matrix: Vec<f32> = rows.iter().flat_map(|row| row.features.values.iter().map(|v| *v as f32)).collect();
    let probabilities = model.model.probabilities_batch(&matrix).unwrap_or_else(|e| {
        pgrx::error!("scoring windows: {e}");
    });
    let predictions = probabilities.into_iter().map(|p| prediction(&model.model, p)).collect();
    Ok(Some(Scored { model, predictions }))
}

/// Raises or extends alerts for the flagged rows (when a model is active) and the rules'
/// findings. Returns how many window alerts were written.
pub fn raise_alerts(
    rows: &[WindowRow],
    scored: Option<&Scored>,
    findings: &[RuleFinding],
) -> Result<usize, pgrx::spi::Error> {
    let threshold = settings::alert_threshold();
    let model_alerts = match scored {
        Some(scored) => {
            let model = &scored.model.model;
            let scored_rows: Vec<ScoredRow> = rows
                .iter()
                .zip(&scored.predictions)
                .map(|(row, p)| {
                    // Only rows that raise an alert are explained (TreeSHAP costs milliseconds a row).
                    let evidence = if is_flagged(&p.label, p.confidence, threshold) {
                        let x: Vec<f32> = row.features.values.iter().map(|v| *v as f32).collect();
                        let class = model.classes().iter().position(|c| *c == p.label).unwrap_or(0);
                        explanation(model, &x, class).into_iter().filter_map(|(i, c)| i.map(|i| (i, c))).collect()
                    } else {
                        Vec::new()
                    };
                    ScoredRow { row, label: &p.label, confidence: p.confidence, evidence }
                })
                .collect();
            alert_candidates(&scored_rows, threshold)
        }
        None => Vec::new(),
    };
    let candidates = with_findings(model_alerts, findings);
    if candidates.is_empty() {
        return Ok(0);
    }
    // The two jobs raise alerts from their own processes: one writer at a time, so an attack
    // seen by both extends a single alert.
    Spi::run("SELECT pg_advisory_xact_lock(hashtext('traffic_analyzer.alerts'))")?;
    let model_id = scored.map(|s| s.model.id);
    for candidate in &candidates {
        write_alert(candidate, model_id)?;
    }
    Ok(candidates.len())
}

pub(crate) fn write_alert(c: &AlertCandidate, model_id: Option<i64>) -> Result<(), pgrx::spi::Error> {
    let start = c.start_micros;
    let end = start + traffic_core::time::micros(i64::from(c.window_seconds));
    let reading = Parties::from(c);
    if !merge::opens_alert(&reading) {
        // A reading of no host joins an alert that takes it, or stays on its window row only.
        let near = alerts_near(Around::Span(start, end))?;
        if !near.iter().any(|(_, keeper)| merge::absorbs(keeper, &reading)) {
            return Ok(());
        }
    }
    // A rule's alert has no feature contributions: its description says why.
    let explanation: Option<serde_json::Value> = (c.detector != Detector::Rule).then(|| {
        c.evidence
            .iter()
            .map(|(name, value, contribution)| serde_json::json!({"feature": name, "value": value, "contribution": contribution}))
            .collect()
    });
    let model_id = if c.detector == Detector::Rule { None } else { model_id };
    let id: Option<i64> = Spi::get_one_with_args(
        include_str!("../../sql/upsert_alert.sql"),
        &[
            c.alert_type.as_str().into(),
            c.source.map(|ip| Inet(ip.to_string())).into(),
            c.destination.map(|ip| Inet(ip.to_string())).into(),
            timestamptz(start).into(),
            timestamptz(end).into(),
            c.severity.name().into(),
            c.confidence.into(),
            c.description.as_str().into(),
            explanation.map(JsonB).into(),
            settings::alert_merge_gap_secs().into(),
            model_id.into(),
            c.detector.name().into(),
            c.attackers.iter().map(|ip| Inet(ip.to_string())).collect::<Vec<Inet>>().into(),
            ATTACKERS_KEPT.into(),
            SEVERITY_NAMES.to_vec().into(),
        ],
    )?;
    let Some(id) = id else { return Ok(()) };
    // A window computed again (late packets) links once: window_count never double counts.
    Spi::run_with_args(
        "INSERT INTO alert_windows (alert_id, window_seconds, window_start, scope, host)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        &[
            id.into(),
            i32::try_from(c.window_seconds).unwrap_or(i32::MAX).into(),
            timestamptz(start).into(),
            c.scope.name().into(),
            c.scope.host().map(|ip| Inet(ip.to_string())).into(),
        ],
    )?;
    let id = absorb_other_readings(id)?;
    Spi::run_with_args(
        "UPDATE detected_alerts SET window_count = (SELECT count(*) FROM alert_windows WHERE alert_id = $1) WHERE id = $1",
        &[id.into()],
    )?;
    Ok(())
}

/// One incident, one alert, across windows too: the model's other readings of an attack within
/// the merge gap (a source's row in a long window, the victim's or the global row, another class
/// of the same kind at the attack's edges) go into the alert that names every party they name
/// (`traffic_core::alerts::merge`). Returns the alert `id`'s windows now belong to.
fn absorb_other_readings(id: i64) -> Result<i64, pgrx::spi::Error> {
    let near = alerts_near(Around::Alert(id))?;
    let Some((_, written)) = near.iter().find(|(other, _)| *other == id) else { return Ok(id) };
    let (absorbed, into) = merge::plan(written, &near);
    for reading in absorbed {
        absorb(id, reading)?;
    }
    match into {
        Some(keeper) => {
            absorb(keeper, id)?;
            Ok(keeper)
        }
        None => Ok(id),
    }
}

/// What the alerts near are near: a stored alert, or a window's span (microseconds).
enum Around {
    Alert(i64),
    Span(i64, i64),
}

/// The alerts within the merge gap of `around`, oldest first (sql/alerts_near.sql).
fn alerts_near(around: Around) -> Result<Vec<(i64, Parties)>, pgrx::spi::Error> {
    let (id, span) = match around {
        Around::Alert(id) => (Some(id), None),
        Around::Span(start, end) => (None, Some((timestamptz(start), timestamptz(end)))),
    };
    Spi::connect(|client| {
        client
            .select(
                include_str!("../../sql/alerts_near.sql"),
                None,
                &[
                    id.into(),
                    span.map(|(lo, _)| lo).into(),
                    span.map(|(_, hi)| hi).into(),
                    settings::alert_merge_gap_secs().into(),
                ],
            )?
            .map(|row| {
                let ip = |name: &str| -> Result<Option<IpAddr>, pgrx::spi::Error> {
                    Ok(row.get_by_name::<String, _>(name)?.and_then(|s| s.parse().ok()))
                };
                let detector: String = row.get_by_name("detector")?.unwrap_or_default();
                let parties = Parties {
                    alert_type: row.get_by_name("alert_type")?.unwrap_or_default(),
                    detector: Detector::from_name(&detector).unwrap_or(Detector::Rule),
                    source: ip("source")?,
                    destination: ip("destination")?,
                    attackers: row
                        .get_by_name::<Vec<String>, _>("attackers")?
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|s| s.parse().ok())
                        .collect(),
                };
                Ok((row.get_by_name::<i64, _>("id")?.unwrap_or(0), parties))
            })
            .collect()
    })
}

/// Alert `from` absorbed into alert `into` (sql/absorb_alert.sql).
fn absorb(into: i64, from: i64) -> Result<(), pgrx::spi::Error> {
    Spi::run_with_args(
        include_str!("../../sql/absorb_alert.sql"),
        &[into.into(), from.into(), ATTACKERS_KEPT.into(), SEVERITY_NAMES.to_vec().into()],
    )
}
