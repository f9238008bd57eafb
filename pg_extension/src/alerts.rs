//! Windows → predictions and rule findings → `detected_alerts`, run by the materialization jobs.
//! Which rows and findings make an alert, its severity and its words come from
//! `traffic_core::alerts`; here they are only written, merging an ongoing attack into one alert.

use std::net::IpAddr;

use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, Inet, JsonB};
use traffic_core::alerts::merge::{self, Parties};
use traffic_core::alerts::{
    alert_candidates, is_flagged, with_findings, AlertCandidate, Detector, RuleFinding, ScoredRow,
};
use traffic_core::detectors::{brute_force, flood, slow_dos, RuleThresholds, ScanThresholds};
use traffic_core::features::WindowRow;

use crate::scoring::{active_model, explanation, prediction, ActiveModel, Prediction};
use crate::windows::timestamptz;

pub static ALERT_THRESHOLD: GucSetting<f64> = GucSetting::<f64>::new(0.8);
pub static ALERT_MERGE_GAP_SECS: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static SCAN_PORT_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(ScanThresholds::DEFAULT.ports as i32);
pub static SWEEP_HOST_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(ScanThresholds::DEFAULT.hosts as i32);
pub static SYN_FLOOD_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(flood::DEFAULT_THRESHOLD as i32);
pub static FLOOD_RATE_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(flood::Rates::DEFAULT.packets as i32);
pub static DNS_FLOOD_RATE_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(flood::Rates::DEFAULT.dns_queries as i32);
pub static HTTP_AUTH_FAILURE_THRESHOLD: GucSetting<i32> =
    GucSetting::<i32>::new(brute_force::Thresholds::DEFAULT.http_failures as i32);
pub static LOGIN_CONNECTION_THRESHOLD: GucSetting<i32> =
    GucSetting::<i32>::new(brute_force::Thresholds::DEFAULT.login_connections as i32);
pub static SLOW_DOS_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(slow_dos::DEFAULT_THRESHOLD as i32);

pub fn register_gucs() {
    GucRegistry::define_float_guc(
        c"traffic_analyzer.alert_threshold",
        c"Smallest confidence of an attack prediction that raises an alert",
        c"Windows predicted as an attack with less confidence keep their label but raise no alert.",
        &ALERT_THRESHOLD,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.alert_merge_gap",
        c"Seconds between windows of one attack that still extend its alert",
        c"A flagged window within this many seconds of an alert of the same type, source and destination extends it.",
        &ALERT_MERGE_GAP_SECS,
        0,
        86_400,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.scan_port_threshold",
        c"Failed ports of one host, from one source in one window, that raise a Port_Scan alert (0: off)",
        c"The scan rule beside the model: a probe failed when the port never answered (silence, RST or ICMP \
          unreachable), whatever the probe's TCP flags. Try values with scan_findings().",
        &SCAN_PORT_THRESHOLD,
        0,
        65_536,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.sweep_host_threshold",
        c"Failed hosts for one service, from one source in one window, that raise a Host_Sweep alert (0: off)",
        c"The sweep rule beside the model: hosts that never answered a probe of one TCP or UDP port or an ICMP \
          query. Try values with scan_findings().",
        &SWEEP_HOST_THRESHOLD,
        0,
        16_777_216,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.syn_flood_threshold",
        c"Half-open handshakes to one port of one host in one window that raise a SYN_Flood alert (0: off)",
        c"The flood rule beside the model: connection attempts (SYN) the client never completed with an ACK, \
          from any number of sources. Try values with syn_flood_findings().",
        &SYN_FLOOD_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.flood_rate_threshold",
        c"Packets a second to one host, over a window, that raise an ICMP_Flood, UDP_Flood or TCP_Flood alert (0: off)",
        c"The packet flood rule beside the model: ICMP queries, and UDP datagrams or TCP segments outside a \
          handshake from sources the host never answered, from any number of sources. Needs both directions \
          on the wire. Try values with flood_findings().",
        &FLOOD_RATE_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.dns_flood_rate_threshold",
        c"DNS queries a second to one host, over a window, that raise a DNS_Flood alert (0: off)",
        c"Set it above the peak rate of your busiest resolver. Try values with flood_findings().",
        &DNS_FLOOD_RATE_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.http_auth_failure_threshold",
        c"HTTP authentication failures (401, 407) from one server to one client in one window that raise a \
          Brute_Force alert (0: off)",
        c"The brute-force rule beside the model. Try values with brute_force_findings().",
        &HTTP_AUTH_FAILURE_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.login_connection_threshold",
        c"Connections from one client that one login service (SSH, FTP, RDP, databases, ...) accepted in one \
          window that raise a Brute_Force alert (0: off)",
        c"The brute-force rule beside the model: each accepted connection is at least one guess. Try values with \
          brute_force_findings().",
        &LOGIN_CONNECTION_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.slow_dos_threshold",
        c"Connections one client holds at one port of one host in one window that raise a Slow_DoS alert (0: off)",
        c"The slow DoS rule beside the model: held connections trickle a request the server acknowledges but \
          does not answer (slowloris, slow POST), or advertise a zero window (slow read). Needs both directions on \
          the wire. Try values with slow_dos_findings().",
        &SLOW_DOS_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// Attackers an alert lists at most (a flood from many real sources lists its busiest).
const ATTACKERS_KEPT: i64 = 50;

/// A count setting's value now (the settings are 0 or more).
fn count_setting(setting: &GucSetting<i32>) -> u32 {
    u32::try_from(setting.get()).unwrap_or(0)
}

/// Every rule's thresholds as set now (0: that rule off).
pub fn rule_thresholds() -> RuleThresholds {
    RuleThresholds {
        scan: ScanThresholds {
            ports: count_setting(&SCAN_PORT_THRESHOLD),
            hosts: count_setting(&SWEEP_HOST_THRESHOLD),
        },
        syn_flood: count_setting(&SYN_FLOOD_THRESHOLD),
        flood_rates: flood::Rates {
            packets: count_setting(&FLOOD_RATE_THRESHOLD),
            dns_queries: count_setting(&DNS_FLOOD_RATE_THRESHOLD),
        },
        brute_force: brute_force::Thresholds {
            http_failures: count_setting(&HTTP_AUTH_FAILURE_THRESHOLD),
            login_connections: count_setting(&LOGIN_CONNECTION_THRESHOLD),
        },
        slow_dos: count_setting(&SLOW_DOS_THRESHOLD),
    }
}

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
    let threshold = ALERT_THRESHOLD.get();
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
    let end = start + i64::from(c.window_seconds) * 1_000_000;
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
    // Once the model has explained an alert, its words and evidence are kept over a rule's.
    let id: Option<i64> = Spi::get_one_with_args(
        "WITH found AS (
             SELECT id FROM detected_alerts
             WHERE alert_type = $1 AND source_ip IS NOT DISTINCT FROM $2 AND destination_ip IS NOT DISTINCT FROM $3
               AND last_seen >= $4 - make_interval(secs => $10) AND first_seen <= $5 + make_interval(secs => $10)
             ORDER BY last_seen DESC LIMIT 1),
         updated AS (
             UPDATE detected_alerts a
             SET first_seen = least(a.first_seen, $4), last_seen = greatest(a.last_seen, $5),
                 severity = CASE WHEN array_position(ARRAY['Low','Medium','High','Critical'], $6)
                                      > array_position(ARRAY['Low','Medium','High','Critical'], a.severity)
                                 THEN $6 ELSE a.severity END,
                 description = CASE WHEN $7 > a.confidence OR (a.explanation IS NULL AND $9 IS NOT NULL)
                                    THEN $8 ELSE a.description END,
                 explanation = CASE WHEN $9 IS NOT NULL AND ($7 > a.confidence OR a.explanation IS NULL)
                                    THEN $9 ELSE a.explanation END,
                 confidence = greatest(a.confidence, $7),
                 model_id = coalesce($11, a.model_id),
                 detector = CASE WHEN a.detector = $12 THEN a.detector ELSE 'both' END,
                 attackers = CASE WHEN a.attackers @> $13 THEN a.attackers
                                  ELSE (SELECT coalesce(array_agg(x), '{}') FROM (
                                            SELECT DISTINCT x FROM unnest(a.attackers || $13) AS x
                                            ORDER BY x LIMIT $14) AS listed) END
             FROM found WHERE a.id = found.id
             RETURNING a.id),
         inserted AS (
             INSERT INTO detected_alerts (alert_type, source_ip, destination_ip, first_seen, last_seen, severity,
                                          confidence, description, explanation, model_id, detector, attackers)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12, $13 WHERE NOT EXISTS (SELECT FROM found)
             RETURNING id)
         SELECT id FROM updated UNION ALL SELECT id FROM inserted",
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
            f64::from(ALERT_MERGE_GAP_SECS.get()).into(),
            model_id.into(),
            c.detector.name().into(),
            c.attackers.iter().map(|ip| Inet(ip.to_string())).collect::<Vec<Inet>>().into(),
            ATTACKERS_KEPT.into(),
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
                    f64::from(ALERT_MERGE_GAP_SECS.get()).into(),
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
    Spi::run_with_args(include_str!("../../sql/absorb_alert.sql"), &[into.into(), from.into(), ATTACKERS_KEPT.into()])
}
