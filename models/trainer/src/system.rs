//! What an analyst gets: the model and the rules together, as the extension joins them, on whole
//! captures. Every window row is scored (also the rows training leaves out: an attack's edges,
//! spoofed sources), the rules run at their defaults, and the alerts are joined as the jobs join
//! them: in a window by `traffic_core::alerts::with_findings`; across windows by type, source and
//! destination within the merge gap, a rule's alert absorbing the model's readings of another class
//! of the same kind about its hosts (the condition of `sql/other_readings.sql`, repeated here for
//! the trainer, which has no database).
//!
//! An incident is judged as `tests/tests/detection.rs` judges it: detected when an alert of its
//! class names its victim (none for a sweep) and its attacker (or lists at least 10 of many; none
//! for spoofed sources); every alert of another class about its hosts is a wrong-class alert.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use traffic_core::alerts::{
    alert_candidates, rule_findings, same_kind, with_findings, AlertCandidate, Detector, ScoredRow, Severity,
};
use traffic_core::detectors::RuleThresholds;
use traffic_core::features::compute_windows;
use traffic_core::model::Model;
use traffic_core::Packet;

use crate::labels::Attack;

/// `traffic_analyzer.alert_merge_gap`'s default, microseconds.
const MERGE_GAP_MICROS: i64 = 60_000_000;

/// A capture as the database would see it: its packets (with the benign background laid under
/// it) in capture-time order, and its attack (None for benign traffic).
pub struct Replay {
    pub name: String,
    pub scenario: String,
    pub attack: Option<Attack>,
    pub packets: Vec<Packet>,
}

/// One alert as `detected_alerts` would hold it.
#[derive(Debug, Clone)]
pub struct Alert {
    pub class: String,
    pub source: Option<IpAddr>,
    pub destination: Option<IpAddr>,
    pub attackers: Vec<IpAddr>,
    pub severity: Severity,
    pub detector: Detector,
    pub first_micros: i64,
    pub last_micros: i64,
}

impl Alert {
    fn overlaps(&self, other: &Alert) -> bool {
        other.last_micros >= self.first_micros - MERGE_GAP_MICROS
            && other.first_micros <= self.last_micros + MERGE_GAP_MICROS
    }

    fn widen(&mut self, other: &Alert) {
        self.first_micros = self.first_micros.min(other.first_micros);
        self.last_micros = self.last_micros.max(other.last_micros);
        self.severity = self.severity.max(other.severity);
        for a in &other.attackers {
            if !self.attackers.contains(a) {
                self.attackers.push(*a);
            }
        }
    }

    /// `sql/other_readings.sql`: whether the model-only alert `model` is another reading of the
    /// incident of `rule` (raised by a rule): another type of the same kind, within the merge gap,
    /// naming no party the rule's does not, and at least one.
    fn absorbs(rule: &Alert, model: &Alert) -> bool {
        model.class != rule.class
            && same_kind(&model.class, &rule.class)
            && rule.overlaps(model)
            && (model.source.is_some() || model.destination.is_some())
            && model.source.is_none_or(|s| rule.source == Some(s) || rule.attackers.contains(&s))
            && (model.destination.is_none() || rule.destination.is_none() || model.destination == rule.destination)
    }
}

/// One window size's alerts before they are joined across windows: the model's (when given) at
/// `threshold` with the rules' findings at their defaults, and the rules' alone.
pub struct WindowAlerts {
    pub with_model: Vec<AlertCandidate>,
    pub rules_only: Vec<AlertCandidate>,
}

pub fn window_alerts(model: &Model, packets: &[Packet], seconds: u32, top_k: usize, threshold: f64) -> WindowAlerts {
    let rows = compute_windows(packets, seconds, top_k);
    let matrix: Vec<f32> = rows.iter().flat_map(|r| r.features.values.iter().map(|v| *v as f32)).collect();
    let probabilities = model.probabilities_batch(&matrix).unwrap_or_default();
    let labelled: Vec<(&str, f64)> = probabilities
        .iter()
        .map(|p| {
            let best = Model::predict_class(p);
            (model.classes()[best].as_str(), f64::from(p[best]))
        })
        .collect();
    let scored: Vec<ScoredRow> = rows
        .iter()
        .zip(&labelled)
        .map(|(row, &(label, confidence))| ScoredRow { row, label, confidence, evidence: Vec::new() })
        .collect();
    let findings = rule_findings(packets, seconds, &RuleThresholds::DEFAULT);
    WindowAlerts {
        with_model: with_findings(alert_candidates(&scored, threshold), &findings),
        rules_only: with_findings(Vec::new(), &findings),
    }
}

/// Window alerts joined across windows (of every size given) as `detected_alerts` holds them.
pub fn join<'a>(candidates: impl IntoIterator<Item = &'a AlertCandidate>) -> Vec<Alert> {
    let mut candidates: Vec<&AlertCandidate> = candidates.into_iter().collect();
    // The jobs write windows in time order.
    candidates.sort_by_key(|c| (c.start_micros, c.window_seconds));
    let mut out: Vec<Alert> = Vec::new();
    for c in candidates {
        let alert = Alert {
            class: c.alert_type.clone(),
            source: c.source,
            destination: c.destination,
            attackers: c.attackers.clone(),
            severity: c.severity,
            detector: c.detector,
            first_micros: c.start_micros,
            last_micros: c.start_micros + i64::from(c.window_seconds) * 1_000_000,
        };
        let same = |a: &Alert| {
            a.class == alert.class
                && a.source == alert.source
                && a.destination == alert.destination
                && a.overlaps(&alert)
        };
        let written = match out.iter().position(same) {
            Some(i) => {
                let a = &mut out[i];
                a.widen(&alert);
                if a.detector != alert.detector {
                    a.detector = Detector::Both;
                }
                i
            }
            None => {
                out.push(alert);
                out.len() - 1
            }
        };
        absorb_other_readings(&mut out, written);
    }
    out
}

/// The extension's `absorb_other_readings` for the alert just written.
fn absorb_other_readings(alerts: &mut Vec<Alert>, written: usize) {
    let model_only = alerts[written].detector == Detector::Model;
    let others: Vec<usize> = (0..alerts.len())
        .filter(|&i| i != written && (alerts[i].detector == Detector::Model) != model_only)
        .filter(|&i| {
            let (rule, model) =
                if model_only { (&alerts[i], &alerts[written]) } else { (&alerts[written], &alerts[i]) };
            Alert::absorbs(rule, model)
        })
        .collect();
    if model_only {
        // The model's alone goes into the first rule alert, once.
        if let Some(&into) = others.first() {
            let from = alerts[written].clone();
            alerts[into].widen(&from);
            alerts.remove(written);
        }
    } else {
        let absorbed: Vec<Alert> = others.iter().map(|&i| alerts[i].clone()).collect();
        absorbed.iter().for_each(|a| alerts[written].widen(a));
        let mut i = 0;
        alerts.retain(|_| {
            i += 1;
            !others.contains(&(i - 1))
        });
    }
}

/// Whether an alert is the attack, named as an analyst needs it.
pub fn names(alert: &Alert, attack: &Attack) -> bool {
    let victim = match alert.destination {
        Some(d) => attack.victims.contains(&d),
        None => attack.victims.is_empty(),
    };
    let listed = alert.attackers.iter().filter(|a| attack.attackers.contains(a)).count();
    let attacker = attack.attackers.is_empty()
        || alert.source.is_some_and(|s| attack.attackers.contains(&s))
        || (attack.attackers.len() > 1 && listed >= attack.attackers.len().min(10));
    alert.class == attack.class && victim && attacker
}

/// Whether an alert is about the attack's hosts.
pub fn about(alert: &Alert, attack: &Attack) -> bool {
    match alert.source {
        Some(s) => attack.attackers.contains(&s),
        None => alert.destination.is_none_or(|d| attack.victims.contains(&d)),
    }
}

/// Hours of traffic: 5 s windows holding packets.
pub fn busy_hours(packets: &[Packet]) -> f64 {
    let windows: BTreeSet<i64> = packets.iter().map(|p| p.timestamp_micros().div_euclid(5_000_000)).collect();
    windows.len() as f64 * 5.0 / 3600.0
}

/// What the alerts on one capture came to.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub detected: bool,
    pub wrong_class: usize,
    /// On benign traffic: (High or Critical, Medium or Low) alerts.
    pub false_alerts: (usize, usize),
    pub benign_hours: f64,
}

impl Outcome {
    pub fn of(replay: &Replay, alerts: &[Alert]) -> Outcome {
        match &replay.attack {
            Some(attack) => Outcome {
                detected: alerts.iter().any(|a| names(a, attack)),
                wrong_class: alerts.iter().filter(|a| a.class != attack.class && about(a, attack)).count(),
                ..Outcome::default()
            },
            None => {
                let serious = alerts.iter().filter(|a| a.severity >= Severity::High).count();
                Outcome {
                    false_alerts: (serious, alerts.len() - serious),
                    benign_hours: busy_hours(&replay.packets),
                    ..Outcome::default()
                }
            }
        }
    }
}

/// One capture's outcomes: each window size alone, and all of them together (what is shipped).
pub struct Judged {
    pub name: String,
    pub class: Option<String>,
    pub per_window: BTreeMap<u32, Outcome>,
    pub all: Outcome,
    /// Detected by the rules alone (no model), all window sizes together.
    pub by_rules: bool,
}

pub fn judge(model: &Model, replay: &Replay, windows: &[u32], top_k: usize, threshold: f64) -> Judged {
    let by_size: Vec<(u32, WindowAlerts)> =
        windows.iter().map(|&s| (s, window_alerts(model, &replay.packets, s, top_k, threshold))).collect();
    let per_window = by_size.iter().map(|(s, w)| (*s, Outcome::of(replay, &join(&w.with_model)))).collect();
    let all = Outcome::of(replay, &join(by_size.iter().flat_map(|(_, w)| &w.with_model)));
    let by_rules = Outcome::of(replay, &join(by_size.iter().flat_map(|(_, w)| &w.rules_only))).detected;
    Judged {
        name: replay.name.clone(),
        class: replay.attack.as_ref().map(|a| a.class.clone()),
        per_window,
        all,
        by_rules,
    }
}

/// Sums of judged captures.
#[derive(Debug, Default)]
struct Sums {
    incidents: usize,
    detected: usize,
    by_rules: usize,
    wrong_class: usize,
    serious: usize,
    other: usize,
    hours: f64,
}

impl Sums {
    fn add(&mut self, o: &Outcome, is_attack: bool, by_rules: bool) {
        if is_attack {
            self.incidents += 1;
            self.detected += usize::from(o.detected);
            self.by_rules += usize::from(by_rules);
            self.wrong_class += o.wrong_class;
        } else {
            self.serious += o.false_alerts.0;
            self.other += o.false_alerts.1;
            self.hours += o.benign_hours;
        }
    }

    fn per_hour(&self, n: usize) -> f64 {
        if self.hours > 0.0 {
            n as f64 / self.hours
        } else {
            0.0
        }
    }

    fn per_incident(&self) -> f64 {
        if self.incidents == 0 {
            0.0
        } else {
            self.wrong_class as f64 / self.incidents as f64
        }
    }

    fn recall(&self) -> f64 {
        if self.incidents == 0 {
            0.0
        } else {
            self.detected as f64 / self.incidents as f64
        }
    }
}

/// Per window size (and all together): incidents detected, wrong-class alerts per incident,
/// false alerts per benign hour by severity.
pub fn window_table<'a>(judged: impl IntoIterator<Item = &'a Judged>, windows: &[u32]) -> String {
    let judged: Vec<&Judged> = judged.into_iter().collect();
    let mut out = String::from(
        "| windows | incidents detected | alerts of a wrong class per incident | High/Critical false alerts | \
         Medium/Low false alerts | benign hours | false alerts per benign hour |\n|---|---|---|---|---|---|---|\n",
    );
    let mut line = |label: String, sums: Sums| {
        let _ = writeln!(
            out,
            "| {label} | {} of {} | {:.2} | {} | {} | {:.2} | {:.1} |",
            sums.detected,
            sums.incidents,
            sums.per_incident(),
            sums.serious,
            sums.other,
            sums.hours,
            sums.per_hour(sums.serious + sums.other)
        );
    };
    for &s in windows {
        let mut sums = Sums::default();
        for j in &judged {
            sums.add(&j.per_window[&s], j.class.is_some(), false);
        }
        line(format!("{s} s"), sums);
    }
    let mut sums = Sums::default();
    for j in &judged {
        sums.add(&j.all, j.class.is_some(), j.by_rules);
    }
    line("all, as shipped".into(), sums);
    out
}

/// Per family (attack class): captures, detected with the model and by the rules alone,
/// wrong-class alerts per incident, all window sizes together.
pub fn family_table<'a>(judged: impl IntoIterator<Item = &'a Judged>) -> String {
    let mut families: BTreeMap<&str, Sums> = BTreeMap::new();
    for j in judged {
        if let Some(class) = &j.class {
            families.entry(class).or_default().add(&j.all, true, j.by_rules);
        }
    }
    let mut out = String::from(
        "| family | captures | detected | recall | by the rules alone | alerts of a wrong class per incident |\n\
         |---|---|---|---|---|---|\n",
    );
    for (family, s) in &families {
        let _ = writeln!(
            out,
            "| {family} | {} | {} | {:.2} | {} | {:.2} |",
            s.incidents,
            s.detected,
            s.recall(),
            s.by_rules,
            s.per_incident()
        );
    }
    out
}

/// Per capture: detected in which window sizes, wrong-class alerts; benign ones: false alerts.
pub fn capture_table(judged: &[Judged]) -> String {
    let mut out = String::from(
        "| capture | class | detected in | wrong-class alerts | false alerts (High+ / Medium-) |\n|---|---|---|---|---|\n",
    );
    for j in judged {
        let detected: Vec<String> =
            j.per_window.iter().filter(|(_, o)| o.detected).map(|(s, _)| format!("{s} s")).collect();
        let class = j.class.as_deref().unwrap_or("Normal");
        let found = if j.class.is_none() {
            "-".into()
        } else if detected.is_empty() {
            if j.all.detected {
                "all together".into()
            } else {
                "MISSED".into()
            }
        } else {
            detected.join(", ")
        };
        let false_alerts =
            if j.class.is_none() { format!("{} / {}", j.all.false_alerts.0, j.all.false_alerts.1) } else { "-".into() };
        let _ = writeln!(out, "| {} | {class} | {found} | {} | {false_alerts} |", j.name, j.all.wrong_class);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(class: &str, source: Option<&str>, destination: Option<&str>, detector: Detector) -> Alert {
        let ip = |s: Option<&str>| s.map(|s| s.parse().unwrap());
        Alert {
            class: class.into(),
            source: ip(source),
            destination: ip(destination),
            attackers: ip(source).into_iter().collect(),
            severity: Severity::High,
            detector,
            first_micros: 0,
            last_micros: 5_000_000,
        }
    }

    #[test]
    fn a_rule_alert_absorbs_the_models_readings_of_its_incident() {
        let rule = alert("SYN_Flood", Some("10.0.0.66"), Some("10.0.0.5"), Detector::Rule);
        assert!(Alert::absorbs(&rule, &alert("Slow_DoS", None, Some("10.0.0.5"), Detector::Model)));
        assert!(Alert::absorbs(&rule, &alert("UDP_Flood", Some("10.0.0.66"), None, Detector::Model)));
        assert!(
            !Alert::absorbs(&rule, &alert("Brute_Force", Some("10.0.0.66"), None, Detector::Model)),
            "another kind"
        );
        assert!(!Alert::absorbs(&rule, &alert("Slow_DoS", Some("10.0.0.7"), None, Detector::Model)), "another host");
        assert!(!Alert::absorbs(&rule, &alert("Slow_DoS", None, None, Detector::Model)), "names no party");
        let mut late = alert("Slow_DoS", None, Some("10.0.0.5"), Detector::Model);
        late.first_micros = 200_000_000;
        late.last_micros = 205_000_000;
        assert!(!Alert::absorbs(&rule, &late), "past the merge gap");
    }

    #[test]
    fn absorbing_works_whichever_alert_came_first() {
        let model = alert("Slow_DoS", None, Some("10.0.0.5"), Detector::Model);
        let rule = alert("SYN_Flood", Some("10.0.0.66"), Some("10.0.0.5"), Detector::Rule);
        let unrelated = alert("Port_Scan", Some("10.0.0.9"), Some("10.0.0.1"), Detector::Model);
        for order in
            [vec![model.clone(), unrelated.clone(), rule.clone()], vec![rule.clone(), unrelated.clone(), model.clone()]]
        {
            let mut alerts = order;
            let written = alerts.len() - 1;
            absorb_other_readings(&mut alerts, written);
            let classes: BTreeSet<&str> = alerts.iter().map(|a| a.class.as_str()).collect();
            assert_eq!(classes, BTreeSet::from(["Port_Scan", "SYN_Flood"]));
        }
    }
}
