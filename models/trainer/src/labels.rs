//! What `scripts/make_captures.sh` says about a capture, and the label of a window row.
//!
//! A row is labelled with an attack's class when the attack ran during its window and the row's
//! scope is the attack's: the global row; a source row of a named attacker (or, for attacks from
//! spoofed sources, of any host that is not one of the lab's real ones); a destination row of a
//! victim. Every other row is Normal.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use traffic_core::alerts::NORMAL;
use traffic_core::features::{Scope, WindowRow};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CaptureLabels {
    pub capture: String,
    pub scenario: String,
    pub seed: u32,
    pub start: f64,
    pub end: f64,
    #[serde(default)]
    pub benign_hosts: Vec<IpAddr>,
    pub attacks: Vec<Attack>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Attack {
    pub class: String,
    /// Unix seconds (capture time).
    pub start: f64,
    pub end: f64,
    /// Empty when the sources are spoofed.
    pub attackers: Vec<IpAddr>,
    pub victims: Vec<IpAddr>,
    /// The scenario that ran it (scripts/make_captures.sh).
    #[serde(default)]
    pub command: String,
}

impl CaptureLabels {
    pub fn read(path: &Path) -> anyhow::Result<CaptureLabels> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The lab's real hosts: the benign clients, the attackers and the victims.
    fn real_hosts(&self) -> Vec<IpAddr> {
        let mut hosts = self.benign_hosts.clone();
        for a in &self.attacks {
            hosts.extend(&a.attackers);
            hosts.extend(&a.victims);
        }
        hosts
    }

    /// The label of one window row (its window starts at `row.start_micros`); None for a row
    /// that cannot be labelled: an attack scope's row whose window holds less than half a window
    /// (or half the attack, if shorter) of the attack; a spoofed source's own row (it sent a packet or two, which look
    /// exactly like a benign host's; calling them an attack taught an earlier model that any
    /// lone SYN is a flood, calling them Normal would contradict the attack's other rows).
    pub fn label(&self, row: &WindowRow) -> Option<&str> {
        let start = row.start_micros as f64 / 1e6;
        let end = start + f64::from(row.window_seconds);
        for attack in &self.attacks {
            let overlap = end.min(attack.end) - start.max(attack.start);
            if overlap <= 0.0 {
                continue;
            }
            // A window at the attack's edge holding a sliver of it is neither: left out.
            let ambiguous = overlap < 0.5 * f64::from(row.window_seconds).min(attack.end - attack.start);
            let ours = match row.scope {
                Scope::Global => true,
                Scope::SrcHost(h) if attack.attackers.is_empty() => {
                    if !self.real_hosts().contains(&h) {
                        return None;
                    }
                    false
                }
                Scope::SrcHost(h) => attack.attackers.contains(&h),
                Scope::DstHost(h) => attack.victims.contains(&h),
            };
            if ours {
                return if ambiguous { None } else { Some(&attack.class) };
            }
        }
        Some(NORMAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_core::features::{FeatureVector, FEATURES, FEATURE_VERSION};

    fn row(seconds: u32, start: f64, scope: Scope) -> WindowRow {
        WindowRow {
            window_seconds: seconds,
            start_micros: (start * 1e6) as i64,
            scope,
            features: FeatureVector { version: FEATURE_VERSION, values: vec![0.0; FEATURES.len()] },
        }
    }

    fn labels(attackers: &[&str]) -> CaptureLabels {
        serde_json::from_value(serde_json::json!({
            "capture": "x.pcap", "scenario": "syn_flood", "seed": 1, "start": 100.0, "end": 140.0,
            "benign_hosts": ["10.77.0.21"],
            "attacks": [{"class": "SYN_Flood", "start": 110.0, "end": 130.0, "attackers": attackers,
                         "victims": ["10.77.0.10"], "command": "syn_flood"}]
        }))
        .unwrap()
    }

    #[test]
    fn rows_of_the_attack_scopes_during_the_attack() {
        let l = labels(&["10.77.0.66"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(l.label(&row(5, 105.0, Scope::Global)), Some(NORMAL), "before");
        assert_eq!(l.label(&row(5, 110.0, Scope::Global)), Some("SYN_Flood"));
        assert_eq!(l.label(&row(5, 130.0, Scope::Global)), Some(NORMAL), "after");
        assert_eq!(l.label(&row(5, 107.5, Scope::Global)), Some("SYN_Flood"), "half the window");
        assert_eq!(l.label(&row(5, 106.0, Scope::Global)), None, "a sliver of the attack");
        assert_eq!(l.label(&row(5, 106.0, Scope::SrcHost(ip("10.77.0.21")))), Some(NORMAL), "not its scope");
        assert_eq!(l.label(&row(180, 0.0, Scope::Global)), Some("SYN_Flood"), "a long window holding it");
        assert_eq!(l.label(&row(5, 115.0, Scope::SrcHost(ip("10.77.0.66")))), Some("SYN_Flood"));
        assert_eq!(l.label(&row(5, 115.0, Scope::SrcHost(ip("10.77.0.21")))), Some(NORMAL), "benign client");
        assert_eq!(l.label(&row(5, 115.0, Scope::DstHost(ip("10.77.0.10")))), Some("SYN_Flood"), "victim");
        assert_eq!(l.label(&row(5, 115.0, Scope::DstHost(ip("10.77.0.21")))), Some(NORMAL));
        assert_eq!(l.label(&row(5, 115.0, Scope::SrcHost(ip("203.0.113.9")))), Some(NORMAL), "not the attacker");
    }

    #[test]
    fn spoofed_sources_are_left_out_and_the_victim_is_labelled() {
        let l = labels(&[]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(l.label(&row(5, 115.0, Scope::SrcHost(ip("203.0.113.9")))), None, "a spoofed source");
        assert_eq!(l.label(&row(5, 115.0, Scope::DstHost(ip("10.77.0.10")))), Some("SYN_Flood"));
        assert_eq!(l.label(&row(5, 115.0, Scope::Global)), Some("SYN_Flood"));
        assert_eq!(l.label(&row(5, 115.0, Scope::SrcHost(ip("10.77.0.21")))), Some(NORMAL));
        assert_eq!(l.label(&row(5, 115.0, Scope::SrcHost(ip("10.77.0.10")))), Some(NORMAL), "the victim's replies");
    }
}
