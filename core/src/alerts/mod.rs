//! From scored windows to alerts: who attacked whom, how bad it is, and why, in words.
//!
//! A window of one size and start has a global row and rows for its busiest sources and
//! destinations, each scored on its own. An attack label on source rows names attackers, on
//! destination rows victims; with neither, the global row's reading names no host and only joins
//! an alert that explains it (`merge::opens_alert`).

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::features::{Scope, WindowRow, FEATURES};

pub mod merge;
mod rules;

pub use rules::{rule_findings, with_findings, RuleFinding};

/// The label of benign traffic; every other label is an attack class.
pub const NORMAL: &str = "Normal";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// Severities as `detected_alerts.severity` stores them, the most severe first, as an analyst
/// lists them (schema.sql's CHECK list; a test checks they agree).
pub const SEVERITY_NAMES: [&str; 4] = ["Critical", "High", "Medium", "Low"];

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => SEVERITY_NAMES[0],
            Severity::High => SEVERITY_NAMES[1],
            Severity::Medium => SEVERITY_NAMES[2],
            Severity::Low => SEVERITY_NAMES[3],
        }
    }

    pub fn from_name(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.name() == name)
    }

    fn up(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            _ => Severity::Critical,
        }
    }

    fn down(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

/// Which detector raised an alert: the model, a rule (`crate::detectors`), or both agreeing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detector {
    Model,
    Rule,
    Both,
}

impl Detector {
    pub const ALL: [Detector; 3] = [Detector::Model, Detector::Rule, Detector::Both];

    /// As stored in `detected_alerts.detector`.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Model => "model",
            Detector::Rule => "rule",
            Detector::Both => "both",
        }
    }

    pub fn from_name(name: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Packets per second above which a denial of service counts as large.
pub const LARGE_RATE: f64 = 1_000.0;
/// Distinct destination ports (from one scanner) above which a scan counts as large.
pub const LARGE_SCAN_PORTS: f64 = 1_000.0;

/// The documented severity rule: a base level by class (denial of service and brute force High,
/// scans and anything else Medium), one level up when the model is at least 90% sure and the
/// window is large (≥ 1,000 packets/s, or ≥ 1,000 destination ports for a scan), one level down
/// when it is less than 70% sure.
pub fn severity(label: &str, confidence: f64, row: &WindowRow) -> Severity {
    let feature = |name: &str| row.features.get(name).unwrap_or(0.0);
    let denial = kind(label) == DENIAL_OF_SERVICE;
    let scan = label.ends_with("_Scan");
    let base = if denial || label == "Brute_Force" { Severity::High } else { Severity::Medium };
    let large = if scan {
        feature("max_dst_ports_per_src") >= LARGE_SCAN_PORTS
    } else {
        feature("packets_per_sec") >= LARGE_RATE
    };
    if confidence >= 0.9 && large {
        base.up()
    } else if confidence < 0.7 {
        base.down()
    } else {
        base
    }
}

const RECONNAISSANCE: &str = "reconnaissance";
const DENIAL_OF_SERVICE: &str = "denial of service";

/// What an attack class is after: reconnaissance (`*_Scan`, `Host_Sweep`), denial of service
/// (`*_Flood`, `*_DoS`), or a class of its own.
fn kind(label: &str) -> &str {
    if label.ends_with("_Scan") || label == "Host_Sweep" {
        RECONNAISSANCE
    } else if label.ends_with("_Flood") || label.ends_with("_DoS") || label == "DoS" {
        DENIAL_OF_SERVICE
    } else {
        label
    }
}

/// Whether two classes are readings of one kind of attack (a SYN flood read as a slow DoS, a
/// sweep as a port scan): on the same hosts at the same time, they are one incident.
pub fn same_kind(a: &str, b: &str) -> bool {
    kind(a) == kind(b)
}

/// Whether a prediction raises an alert: an attack class with at least `threshold` confidence.
pub fn is_flagged(label: &str, confidence: f64, threshold: f64) -> bool {
    label != NORMAL && confidence >= threshold
}

/// One scored window row: its prediction and, for flagged rows, the features that pushed the
/// model toward the predicted class (feature index, SHAP contribution), strongest first.
#[derive(Debug, Clone)]
pub struct ScoredRow<'a> {
    pub row: &'a WindowRow,
    pub label: &'a str,
    pub confidence: f64,
    pub evidence: Vec<(usize, f32)>,
}

/// An alert for one window; the database merges consecutive ones into one ongoing alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCandidate {
    pub alert_type: String,
    pub source: Option<IpAddr>,
    pub destination: Option<IpAddr>,
    pub severity: Severity,
    pub confidence: f64,
    pub description: String,
    pub window_seconds: u32,
    pub start_micros: i64,
    /// The row the alert was raised from (its scope names the window row behind it).
    pub scope: Scope,
    /// (feature name, value, contribution) of the strongest evidence (the model's; none for a rule).
    pub evidence: Vec<(&'static str, f64, f32)>,
    pub detector: Detector,
    /// Every attacker named, busiest first (the source among them; several for a flood from
    /// many real sources, none for spoofed ones).
    pub attackers: Vec<IpAddr>,
}

/// Alerts for the rows of one batch of windows: rows labelled as an attack with at least
/// `threshold` confidence, grouped by window, paired into attacker and victim.
pub fn alert_candidates(rows: &[ScoredRow], threshold: f64) -> Vec<AlertCandidate> {
    let flagged: Vec<&ScoredRow> = rows.iter().filter(|r| is_flagged(r.label, r.confidence, threshold)).collect();
    let mut keys: Vec<(u32, i64, &str)> =
        flagged.iter().map(|r| (r.row.window_seconds, r.row.start_micros, r.label)).collect();
    keys.sort_unstable();
    keys.dedup();

    let mut out = Vec::new();
    for (seconds, start, label) in keys {
        let of_window: Vec<&&ScoredRow> = flagged
            .iter()
            .filter(|r| r.row.window_seconds == seconds && r.row.start_micros == start && r.label == label)
            .collect();
        let attackers: Vec<&&ScoredRow> =
            of_window.iter().copied().filter(|r| matches!(r.row.scope, Scope::SrcHost(_))).collect();
        let victims: Vec<&&ScoredRow> =
            of_window.iter().copied().filter(|r| matches!(r.row.scope, Scope::DstHost(_))).collect();
        let single_victim = if victims.len() == 1 { victims[0].row.scope.host() } else { None };
        if attackers.len() > 1 && single_victim.is_some() && kind(label) == DENIAL_OF_SERVICE {
            // A flood from many sources is one attack on its victim.
            out.push(many_sources(victims[0], &attackers));
        } else if !attackers.is_empty() {
            for a in attackers {
                out.push(candidate(a, a.row.scope.host(), single_victim));
            }
        } else if !victims.is_empty() {
            for v in victims {
                out.push(candidate(v, None, v.row.scope.host()));
            }
        } else if let Some(global) = of_window.iter().find(|r| r.row.scope == Scope::Global) {
            out.push(candidate(global, None, None));
        }
    }
    out
}

fn candidate(scored: &ScoredRow, source: Option<IpAddr>, destination: Option<IpAddr>) -> AlertCandidate {
    let from = source.map_or_else(|| "many sources".to_string(), |ip| ip.to_string());
    model_candidate(scored, (source, source.into_iter().collect()), destination, &from)
}

/// Sources a model alert names in its words, busiest first (it lists them all in `attackers`).
const SOURCES_IN_WORDS: usize = 5;

/// One alert on `victim`'s row for a flood whose sources' rows (more than one) the model flagged
/// too: it lists them busiest first, names the one behind at least half of the victim's packets as
/// its source, and says how many sources there were in all and what the busiest sent.
fn many_sources(victim: &ScoredRow, sources: &[&&ScoredRow]) -> AlertCandidate {
    let packets = |r: &ScoredRow| r.row.features.get("packet_count").unwrap_or(0.0);
    let mut busiest: Vec<(IpAddr, f64)> =
        sources.iter().filter_map(|r| Some((r.row.scope.host()?, packets(r)))).collect();
    busiest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let source = busiest.first().filter(|(_, n)| *n * 2.0 >= packets(victim)).map(|(ip, _)| *ip);
    let all = victim.row.features.get("distinct_src_ips").unwrap_or(0.0).max(busiest.len() as f64);
    let listed: Vec<String> =
        busiest.iter().take(SOURCES_IN_WORDS).map(|(ip, n)| format!("{ip}: {}", thousands(*n))).collect();
    let more = if busiest.len() > SOURCES_IN_WORDS { ", ..." } else { "" };
    let from = format!("{} sources ({}{more})", thousands(all), listed.join(", "));
    let attackers = busiest.iter().map(|(ip, _)| *ip).collect();
    model_candidate(victim, (source, attackers), victim.row.scope.host(), &from)
}

fn model_candidate(
    scored: &ScoredRow,
    (source, attackers): (Option<IpAddr>, Vec<IpAddr>),
    destination: Option<IpAddr>,
    from: &str,
) -> AlertCandidate {
    let row = scored.row;
    let evidence: Vec<(&'static str, f64, f32)> = scored
        .evidence
        .iter()
        .filter(|(_, c)| *c > 0.0)
        .take(3)
        .map(|&(i, c)| (FEATURES[i].name, row.features.values[i], c))
        .collect();
    AlertCandidate {
        alert_type: scored.label.to_string(),
        source,
        destination,
        severity: severity(scored.label, scored.confidence, row),
        confidence: scored.confidence,
        description: describe(scored, from, destination, &evidence),
        window_seconds: row.window_seconds,
        start_micros: row.start_micros,
        scope: row.scope,
        evidence,
        detector: Detector::Model,
        attackers,
    }
}

/// "SYN_Flood (97% sure): 41,200 packets in 5 s from many sources to 10.0.0.5; evidence:
/// syn without ack ratio 97%, packets per sec 8,240, distinct src ips 39,800".
pub fn describe(
    scored: &ScoredRow,
    from: &str,
    destination: Option<IpAddr>,
    evidence: &[(&'static str, f64, f32)],
) -> String {
    let row = scored.row;
    let packets = row.features.get("packet_count").unwrap_or(0.0);
    let mut text = format!(
        "{} ({:.0}% sure): {} packets in {} s from {from} to {}",
        scored.label,
        scored.confidence * 100.0,
        thousands(packets),
        row.window_seconds,
        destination.map_or_else(|| "many hosts".to_string(), |ip| ip.to_string()),
    );
    if !evidence.is_empty() {
        text.push_str("; evidence: ");
        for (i, (name, value, _)) in evidence.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            let _ = write!(text, "{} {}", name.replace('_', " "), format_value(name, *value));
        }
    }
    text
}

/// A feature value as a person reads it: ratios in percent, counts with thousands separators.
pub fn format_value(name: &str, value: f64) -> String {
    let unit = FEATURES.iter().find(|f| f.name == name).map_or("", |f| f.unit);
    match unit {
        "ratio" => format!("{:.0}%", value * 100.0),
        "bits" => format!("{value:.2} bits"),
        "seconds" => format!("{value:.4} s"),
        _ if value.fract() == 0.0 || value.abs() >= 100.0 => thousands(value),
        _ => format!("{value:.1}"),
    }
}

/// A whole number with thousands separators: 1,234,567.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{index_of, FeatureVector, FEATURE_VERSION};

    fn row(scope: Scope, start: i64, set: &[(&str, f64)]) -> WindowRow {
        let mut values = vec![0.0; FEATURES.len()];
        for (name, v) in set {
            values[index_of(name).unwrap()] = *v;
        }
        WindowRow {
            window_seconds: 5,
            start_micros: start,
            scope,
            features: FeatureVector { version: FEATURE_VERSION, values },
        }
    }

    #[test]
    fn attacker_and_single_victim_are_paired() {
        let attacker: IpAddr = "10.0.0.66".parse().unwrap();
        let victim: IpAddr = "10.0.0.5".parse().unwrap();
        let rows = [
            row(Scope::Global, 0, &[("packet_count", 41_200.0)]),
            row(Scope::SrcHost(attacker), 0, &[("packet_count", 41_000.0), ("syn_without_ack_ratio", 0.97)]),
            row(Scope::DstHost(victim), 0, &[("packet_count", 41_100.0)]),
            row(Scope::DstHost("10.0.0.9".parse().unwrap()), 0, &[("packet_count", 100.0)]),
        ];
        let syn = index_of("syn_without_ack_ratio").unwrap();
        let scored = [
            ScoredRow { row: &rows[0], label: "SYN_Flood", confidence: 0.99, evidence: vec![] },
            ScoredRow { row: &rows[1], label: "SYN_Flood", confidence: 0.97, evidence: vec![(syn, 2.5), (0, -1.0)] },
            ScoredRow { row: &rows[2], label: "SYN_Flood", confidence: 0.95, evidence: vec![] },
            ScoredRow { row: &rows[3], label: NORMAL, confidence: 0.99, evidence: vec![] },
        ];
        let alerts = alert_candidates(&scored, 0.8);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!((a.source, a.destination), (Some(attacker), Some(victim)));
        assert_eq!(a.evidence, vec![("syn_without_ack_ratio", 0.97, 2.5)], "only positive evidence");
        assert_eq!(
            a.description,
            "SYN_Flood (97% sure): 41,000 packets in 5 s from 10.0.0.66 to 10.0.0.5; evidence: syn without ack ratio 97%"
        );
    }

    #[test]
    fn victims_only_and_global_only_windows() {
        let victim: IpAddr = "10.0.0.5".parse().unwrap();
        let rows = [
            row(Scope::Global, 0, &[("packet_count", 9_000.0)]),
            row(Scope::DstHost(victim), 0, &[("packet_count", 9_000.0)]),
            row(Scope::Global, 5_000_000, &[("packet_count", 9_000.0)]),
        ];
        let scored = [
            ScoredRow { row: &rows[0], label: "UDP_Flood", confidence: 0.9, evidence: vec![] },
            ScoredRow { row: &rows[1], label: "UDP_Flood", confidence: 0.9, evidence: vec![] },
            ScoredRow { row: &rows[2], label: "UDP_Flood", confidence: 0.6, evidence: vec![] },
        ];
        let alerts = alert_candidates(&scored, 0.5);
        assert_eq!(alerts.len(), 2);
        assert_eq!((alerts[0].source, alerts[0].destination), (None, Some(victim)));
        assert_eq!((alerts[1].source, alerts[1].destination, alerts[1].scope), (None, None, Scope::Global));
        assert!(alert_candidates(&scored, 0.95).is_empty(), "below the threshold");
    }

    #[test]
    fn a_flood_from_many_sources_is_one_alert_on_its_victim() {
        let victim: IpAddr = "10.0.0.5".parse().unwrap();
        let bots: Vec<IpAddr> = (101..=107).map(|i| format!("10.0.0.{i}").parse().unwrap()).collect();
        let mut rows = vec![row(Scope::DstHost(victim), 0, &[("packet_count", 7_000.0), ("distinct_src_ips", 20.0)])];
        for (i, bot) in bots.iter().enumerate() {
            rows.push(row(Scope::SrcHost(*bot), 0, &[("packet_count", 900.0 + i as f64)]));
        }
        let scored: Vec<ScoredRow> =
            rows.iter().map(|r| ScoredRow { row: r, label: "UDP_Flood", confidence: 0.99, evidence: vec![] }).collect();
        let alerts = alert_candidates(&scored, 0.8);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!((a.source, a.destination, a.scope), (None, Some(victim), Scope::DstHost(victim)));
        assert_eq!(a.attackers, bots.iter().rev().copied().collect::<Vec<_>>(), "busiest first");
        assert_eq!(
            a.description,
            "UDP_Flood (99% sure): 7,000 packets in 5 s from 20 sources (10.0.0.107: 906, 10.0.0.106: 905, \
             10.0.0.105: 904, 10.0.0.104: 903, 10.0.0.103: 902, ...) to 10.0.0.5"
        );

        // One source behind half of the victim's packets is the alert's source.
        let rows = [
            row(Scope::DstHost(victim), 0, &[("packet_count", 7_000.0)]),
            row(Scope::SrcHost(bots[0]), 0, &[("packet_count", 6_000.0)]),
            row(Scope::SrcHost(bots[1]), 0, &[("packet_count", 1_000.0)]),
        ];
        let scored: Vec<ScoredRow> =
            rows.iter().map(|r| ScoredRow { row: r, label: "UDP_Flood", confidence: 0.99, evidence: vec![] }).collect();
        let alerts = alert_candidates(&scored, 0.8);
        assert_eq!((alerts.len(), alerts[0].source), (1, Some(bots[0])));
        assert!(alerts[0].description.contains("from 2 sources (10.0.0.101: 6,000, 10.0.0.102: 1,000) to"));

        // Scanners are each their own attack.
        let scored: Vec<ScoredRow> =
            rows.iter().map(|r| ScoredRow { row: r, label: "Port_Scan", confidence: 0.99, evidence: vec![] }).collect();
        assert_eq!(alert_candidates(&scored, 0.8).len(), 2);
    }

    #[test]
    fn kinds_of_attack() {
        assert!(same_kind("SYN_Flood", "Slow_DoS") && same_kind("Port_Scan", "Host_Sweep"));
        assert!(same_kind("Brute_Force", "Brute_Force"));
        assert!(!same_kind("Port_Scan", "Slow_DoS") && !same_kind("Brute_Force", "SYN_Flood"));
    }

    #[test]
    fn severity_rule() {
        let big = row(Scope::Global, 0, &[("packets_per_sec", 5_000.0), ("max_dst_ports_per_src", 2_000.0)]);
        let small = row(Scope::Global, 0, &[("packets_per_sec", 50.0), ("max_dst_ports_per_src", 20.0)]);
        assert_eq!(severity("SYN_Flood", 0.95, &big), Severity::Critical);
        assert_eq!(severity("SYN_Flood", 0.95, &small), Severity::High);
        assert_eq!(severity("SYN_Flood", 0.6, &big), Severity::Medium);
        assert_eq!(severity("Port_Scan", 0.95, &big), Severity::High);
        assert_eq!(severity("Port_Scan", 0.8, &big), Severity::Medium);
        assert_eq!(severity("Port_Scan", 0.5, &small), Severity::Low);
        assert_eq!(severity("Brute_Force", 0.8, &small), Severity::High);
        assert_eq!(severity("Slow_DoS", 0.99, &small), Severity::High);
        assert!(Severity::Critical > Severity::High && Severity::from_name("Low") == Some(Severity::Low));
    }

    #[test]
    fn values_read_like_a_person_wrote_them() {
        assert_eq!(format_value("syn_without_ack_ratio", 0.974), "97%");
        assert_eq!(format_value("packet_count", 1_234_567.0), "1,234,567");
        assert_eq!(format_value("pkt_size_mean", 60.25), "60.2");
        assert_eq!(format_value("src_ip_entropy", 2.5051), "2.51 bits");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
    }
}
