//! The rules' findings as alerts, joined with the model's: one alert per attack in a window.
//!
//! A model alert in the same window whose named parties fit a finding (its source is one of the
//! finding's attackers or unnamed, its destination the finding's victim or unnamed) is the same
//! traffic: it is folded into the finding's alert, which the rule names (it tells a sweep from a
//! port scan, and a flood by what it left half-open). When the model called it the same class,
//! the alert is raised by both; when it called it something else, the alert is the rule's and says
//! what the model read. A window's anomaly that the model could pin on no host (a global row) is
//! explained by the rule's finding in that window.

use std::net::IpAddr;

use super::{AlertCandidate, Detector, Severity, LARGE_RATE, LARGE_SCAN_PORTS};
use crate::detectors::{
    brute_force, brute_force_findings, flood, packet_flood_findings, scan, scan_findings, slow_dos, slow_dos_findings,
    syn_flood_findings, RuleThresholds,
};
use crate::features::Scope;
use crate::packet::Packet;

/// Hosts probed without answer above which a sweep counts as large (a /24).
pub const LARGE_SWEEP_HOSTS: u32 = 254;

/// A rule's finding, whichever rule found it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFinding {
    pub class: &'static str,
    pub window_seconds: u32,
    pub start_micros: i64,
    /// The attacker, when one source did it.
    pub source: Option<IpAddr>,
    /// Every attacker named, busiest first.
    pub attackers: Vec<IpAddr>,
    pub victim: Option<IpAddr>,
    pub severity: Severity,
    /// Why, in words.
    pub words: String,
}

impl From<&scan::Finding> for RuleFinding {
    /// Reconnaissance is Medium; High when large (≥ 1,000 ports of one host, or a /24 of hosts).
    fn from(f: &scan::Finding) -> Self {
        let large = if f.class == scan::PORT_SCAN {
            f64::from(f.failed) >= LARGE_SCAN_PORTS
        } else {
            f.failed >= LARGE_SWEEP_HOSTS
        };
        RuleFinding {
            class: f.class,
            window_seconds: f.window_seconds,
            start_micros: f.start_micros,
            source: Some(f.scanner),
            attackers: vec![f.scanner],
            victim: f.victim,
            severity: if large { Severity::High } else { Severity::Medium },
            words: f.describe(),
        }
    }
}

impl From<&flood::Finding> for RuleFinding {
    /// A denial of service is High; Critical from 1,000 packets (or half-open handshakes) a second.
    fn from(f: &flood::Finding) -> Self {
        RuleFinding {
            class: f.class,
            window_seconds: f.window_seconds,
            start_micros: f.start_micros,
            source: f.attacker(),
            attackers: f.attackers(),
            victim: Some(f.victim),
            severity: if f.rate() >= LARGE_RATE { Severity::Critical } else { Severity::High },
            words: f.describe(),
        }
    }
}

impl From<&brute_force::Finding> for RuleFinding {
    /// Password guessing is High, as the model's Brute_Force is.
    fn from(f: &brute_force::Finding) -> Self {
        RuleFinding {
            class: brute_force::BRUTE_FORCE,
            window_seconds: f.window_seconds,
            start_micros: f.start_micros,
            source: Some(f.attacker),
            attackers: vec![f.attacker],
            victim: Some(f.victim),
            severity: Severity::High,
            words: f.describe(),
        }
    }
}

impl From<&slow_dos::Finding> for RuleFinding {
    /// A slow denial of service is High, as a flood is.
    fn from(f: &slow_dos::Finding) -> Self {
        RuleFinding {
            class: slow_dos::SLOW_DOS,
            window_seconds: f.window_seconds,
            start_micros: f.start_micros,
            source: Some(f.attacker),
            attackers: vec![f.attacker],
            victim: Some(f.victim),
            severity: Severity::High,
            words: f.describe(),
        }
    }
}

impl RuleFinding {
    /// Whether a model alert is about the same traffic: same window, and the parties it names
    /// are the finding's.
    fn fits(&self, alert: &AlertCandidate) -> bool {
        alert.window_seconds == self.window_seconds
            && alert.start_micros == self.start_micros
            && alert.source.is_none_or(|s| self.attackers.contains(&s) || self.source == Some(s))
            && (alert.destination.is_none() || self.victim.is_none() || alert.destination == self.victim)
    }
}

/// Every rule's findings in `packets` (capture-time order), window by window of `seconds`.
pub fn rule_findings(packets: &[Packet], seconds: u32, thresholds: &RuleThresholds) -> Vec<RuleFinding> {
    let mut out: Vec<RuleFinding> = Vec::new();
    out.extend(scan_findings(packets, seconds, thresholds.scan).iter().map(RuleFinding::from));
    out.extend(syn_flood_findings(packets, seconds, thresholds.syn_flood).iter().map(RuleFinding::from));
    // A fast scan's unanswered packets are the scan rule's, not a flood (see `flood::packets`).
    let floods = packet_flood_findings(packets, seconds, thresholds.flood_rates, thresholds.scan.ports);
    out.extend(floods.iter().map(RuleFinding::from));
    out.extend(brute_force_findings(packets, seconds, thresholds.brute_force).iter().map(RuleFinding::from));
    out.extend(slow_dos_findings(packets, seconds, thresholds.slow_dos).iter().map(RuleFinding::from));
    out
}

/// The model's alerts with the rules' findings joined in (see the module's documentation).
pub fn with_findings(model: Vec<AlertCandidate>, findings: &[RuleFinding]) -> Vec<AlertCandidate> {
    let mut folded = vec![false; model.len()];
    let mut out = Vec::new();
    for finding in findings {
        let fitting: Vec<usize> = (0..model.len()).filter(|&i| !folded[i] && finding.fits(&model[i])).collect();
        let agreeing = fitting
            .iter()
            .copied()
            .filter(|&i| model[i].alert_type == finding.class)
            .max_by(|&a, &b| model[a].confidence.total_cmp(&model[b].confidence));
        let other = fitting
            .iter()
            .copied()
            .filter(|&i| model[i].alert_type != finding.class)
            .max_by(|&a, &b| model[a].confidence.total_cmp(&model[b].confidence));
        let mut alert = AlertCandidate {
            alert_type: finding.class.to_string(),
            source: finding.source,
            destination: finding.victim,
            severity: finding.severity,
            confidence: 1.0,
            description: format!("{} (rule): {}", finding.class, finding.words),
            window_seconds: finding.window_seconds,
            start_micros: finding.start_micros,
            scope: match (finding.source, finding.victim) {
                (Some(source), _) => Scope::SrcHost(source),
                (None, Some(victim)) => Scope::DstHost(victim),
                (None, None) => Scope::Global,
            },
            evidence: Vec::new(),
            detector: Detector::Rule,
            attackers: finding.attackers.clone(),
        };
        if let Some(i) = agreeing {
            let m = &model[i];
            alert.detector = Detector::Both;
            alert.severity = alert.severity.max(m.severity);
            alert.evidence = m.evidence.clone();
            alert.description = format!(
                "{} (rule and model, {:.0}% sure): {}; model: {}",
                finding.class,
                m.confidence * 100.0,
                finding.words,
                m.description
            );
        } else if let Some(i) = other {
            let m = &model[i];
            alert.description.push_str(&format!(
                "; the model read it as {} ({:.0}% sure)",
                m.alert_type,
                m.confidence * 100.0
            ));
        }
        for i in fitting {
            folded[i] = true;
        }
        out.push(alert);
    }
    out.extend(model.into_iter().zip(folded).filter(|(_, f)| !f).map(|(a, _)| a));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{alert_candidates, ScoredRow};
    use crate::features::{index_of, FeatureVector, WindowRow, FEATURES, FEATURE_VERSION};

    fn row(scope: Scope, start: i64) -> WindowRow {
        let mut values = vec![0.0; FEATURES.len()];
        values[index_of("packet_count").unwrap()] = 300.0;
        WindowRow {
            window_seconds: 5,
            start_micros: start,
            scope,
            features: FeatureVector { version: FEATURE_VERSION, values },
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn port_scan(victim: Option<IpAddr>, failed: u32, start: i64) -> RuleFinding {
        RuleFinding::from(&scan::Finding {
            class: if victim.is_some() { scan::PORT_SCAN } else { scan::HOST_SWEEP },
            window_seconds: 5,
            start_micros: start,
            scanner: ip("10.0.0.66"),
            victim,
            failed,
            service: None,
            most_ports: 0,
            probes: u64::from(failed),
            threshold: 15,
        })
    }

    fn model_alerts(rows: &[WindowRow], labels: &[(&'static str, f64)]) -> Vec<AlertCandidate> {
        let scored: Vec<ScoredRow> = rows
            .iter()
            .zip(labels)
            .map(|(row, (label, confidence))| ScoredRow { row, label, confidence: *confidence, evidence: vec![] })
            .collect();
        alert_candidates(&scored, 0.8)
    }

    #[test]
    fn a_finding_the_model_agrees_with_is_one_alert_by_both() {
        let victim = ip("10.0.0.5");
        // The model flags only the victim's row: the rule names the scanner.
        let model = model_alerts(&[row(Scope::DstHost(victim), 0)], &[("Port_Scan", 0.9)]);
        let joined = with_findings(model.clone(), &[port_scan(Some(victim), 150, 0)]);
        assert_eq!(joined.len(), 1, "{joined:?}");
        let a = &joined[0];
        assert_eq!((a.detector, a.source, a.destination), (Detector::Both, Some(ip("10.0.0.66")), Some(victim)));
        assert_eq!(a.attackers, [ip("10.0.0.66")]);
        assert!(
            a.description.starts_with("Port_Scan (rule and model, 90% sure): 10.0.0.66 probed 150 ports of 10.0.0.5"),
            "{}",
            a.description
        );

        // Another window stays apart.
        let apart = with_findings(model, &[port_scan(Some(victim), 20, 5_000_000)]);
        assert_eq!(apart.iter().map(|a| a.detector).collect::<Vec<_>>(), [Detector::Rule, Detector::Model]);
        let rule = &apart[0];
        assert_eq!((rule.alert_type.as_str(), rule.severity, rule.confidence), ("Port_Scan", Severity::Medium, 1.0));
        assert!(rule.description.starts_with("Port_Scan (rule): 10.0.0.66 probed 20 ports"), "{}", rule.description);
    }

    #[test]
    fn the_models_other_reading_of_the_same_traffic_is_folded_in() {
        let victim = ip("10.0.0.5");
        // The model read the scan's window as a slow DoS, on the global row only.
        let model = model_alerts(&[row(Scope::Global, 0)], &[("Slow_DoS", 0.97)]);
        let joined = with_findings(model, &[port_scan(Some(victim), 900, 0)]);
        assert_eq!(joined.len(), 1, "{joined:?}");
        assert_eq!((joined[0].alert_type.as_str(), joined[0].detector), ("Port_Scan", Detector::Rule));
        assert!(
            joined[0].description.ends_with("; the model read it as Slow_DoS (97% sure)"),
            "{}",
            joined[0].description
        );

        // A model alert about another attacker is another attack.
        let other = model_alerts(&[row(Scope::SrcHost(ip("10.0.0.99")), 0)], &[("UDP_Flood", 0.99)]);
        assert_eq!(with_findings(other, &[port_scan(Some(victim), 900, 0)]).len(), 2);
    }

    #[test]
    fn a_sweep_renames_the_models_scan_and_names_no_victim() {
        let scanner = ip("10.0.0.66");
        let model = model_alerts(&[row(Scope::SrcHost(scanner), 0)], &[("Port_Scan", 0.95)]);
        let joined = with_findings(model, &[port_scan(None, 300, 0)]);
        assert_eq!(joined.len(), 1);
        assert_eq!((joined[0].alert_type.as_str(), joined[0].destination), ("Host_Sweep", None));
        // The model's Port_Scan is another class: the rule's alert says what the model read.
        assert_eq!((joined[0].detector, joined[0].severity), (Detector::Rule, Severity::High), "a /24 is large");
    }

    #[test]
    fn a_flood_from_many_sources_is_one_alert_listing_them() {
        let victim = ip("10.0.0.5");
        let bots: Vec<IpAddr> = (101..=120).map(|i| ip(&format!("10.0.0.{i}"))).collect();
        let finding = flood::Finding {
            class: flood::SYN_FLOOD,
            window_seconds: 5,
            start_micros: 0,
            victim,
            port: Some(80),
            counted: "half-open handshakes",
            count: 10_000,
            sources: 20,
            top_sources: bots.iter().map(|b| (*b, 500)).collect(),
            threshold: 500,
        };
        // The model: SYN_Flood on the victim's row, Slow_DoS on two bots' rows.
        let rows = [row(Scope::DstHost(victim), 0), row(Scope::SrcHost(bots[0]), 0), row(Scope::SrcHost(bots[1]), 0)];
        let model = model_alerts(&rows, &[("SYN_Flood", 0.99), ("Slow_DoS", 0.9), ("Slow_DoS", 0.85)]);
        assert_eq!(model.len(), 3, "the victim's SYN_Flood and one Slow_DoS per bot: {model:?}");
        let joined = with_findings(model, &[RuleFinding::from(&finding)]);
        assert_eq!(joined.len(), 1, "{joined:?}");
        let a = &joined[0];
        assert_eq!(
            (a.alert_type.as_str(), a.source, a.destination, a.detector),
            ("SYN_Flood", None, Some(victim), Detector::Both)
        );
        assert_eq!(a.attackers, bots);
        assert_eq!(a.severity, Severity::Critical, "2,000 half-open a second");
    }
}
