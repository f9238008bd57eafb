//! What an analyst gets: the model and the rules together, as the extension joins them, on whole
//! captures. Every window row is scored (also the rows training leaves out: an attack's edges,
//! spoofed sources), the rules run at their defaults, and the alerts are joined as the jobs join
//! them: in a window by `traffic_core::alerts::with_findings`; across windows by type, source and
//! destination within the merge gap, the model's other readings of an incident going into the alert
//! that names them (`traffic_core::alerts::merge`, which the extension's alert writer asks too).
//!
//! An incident is detected when an alert of its class names its attacker or its victim (the
//! issue's measure), and named in full as `tests/tests/detection.rs` asks: its victim (none for a
//! sweep) and its attacker (or at least 10 of many; none for spoofed sources). Every alert of
//! another class about its hosts is a wrong-class alert.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use traffic_core::alerts::merge::{self, Parties};
use traffic_core::alerts::{
    alert_candidates, rule_findings, with_findings, AlertCandidate, Detector, ScoredRow, Severity,
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

    fn parties(&self) -> Parties {
        Parties {
            alert_type: self.class.clone(),
            detector: self.detector,
            source: self.source,
            destination: self.destination,
            attackers: self.attackers.clone(),
        }
    }

    /// `sql/absorb_alert.sql`: `reading` goes into this alert.
    fn absorb(&mut self, reading: &Alert) {
        self.widen(reading);
        if reading.class == self.class && reading.detector != self.detector {
            self.detector = Detector::Both;
        }
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
        if !merge::opens_alert(&alert.parties()) {
            // A reading of no host joins the first alert that takes it, or none.
            let reading = alert.parties();
            if let Some(k) = out.iter_mut().find(|k| k.overlaps(&alert) && merge::absorbs(&k.parties(), &reading)) {
                k.absorb(&alert);
            }
            continue;
        }
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

/// The extension's `absorb_other_readings` for the alert just written: `merge::plan` over the
/// alerts within the merge gap of it.
fn absorb_other_readings(alerts: &mut Vec<Alert>, written: usize) {
    let near: Vec<(i64, Parties)> = alerts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.overlaps(&alerts[written]))
        .map(|(i, a)| (i as i64, a.parties()))
        .collect();
    let (absorbed, into) = merge::plan(&alerts[written].parties(), &near);
    for &i in &absorbed {
        let reading = alerts[i as usize].clone();
        alerts[written].absorb(&reading);
    }
    if let Some(keeper) = into {
        let reading = alerts[written].clone();
        alerts[keeper as usize].absorb(&reading);
    }
    let gone: Vec<usize> = absorbed.iter().map(|&i| i as usize).chain(into.map(|_| written)).collect();
    let mut i = 0;
    alerts.retain(|_| {
        i += 1;
        !gone.contains(&(i - 1))
    });
}

/// Whether an alert is the attack, named in full as the detection test asks: its class, its victim
/// (none for a sweep) and its attacker (or at least 10 of its many; none when spoofed).
pub fn names(alert: &Alert, attack: &Attack) -> bool {
    let victim = match alert.destination {
        Some(d) => attack.victims.contains(&d),
        None => attack.victims.is_empty(),
    };
    alert.class == attack.class && victim && (attack.attackers.is_empty() || names_attacker(alert, attack))
}

/// Whether an alert points an analyst at the attack, the measure of detection: its class,
/// naming its attacker (or at least 10 of its many) or its victim.
pub fn points_at(alert: &Alert, attack: &Attack) -> bool {
    let victim = alert.destination.is_some_and(|d| attack.victims.contains(&d));
    alert.class == attack.class && (victim || names_attacker(alert, attack))
}

fn names_attacker(alert: &Alert, attack: &Attack) -> bool {
    let listed = alert.attackers.iter().filter(|a| attack.attackers.contains(a)).count();
    alert.source.is_some_and(|s| attack.attackers.contains(&s))
        || (attack.attackers.len() > 1 && listed >= attack.attackers.len().min(10))
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
    /// An alert of its class names its attacker or its victim ([`points_at`]).
    pub detected: bool,
    /// An alert of its class names both, as the detection test asks ([`names`]).
    pub in_full: bool,
    pub wrong_class: usize,
    /// Alerts of its class beyond the first about its hosts (one attack should be one alert).
    pub repeats: usize,
    /// Alerts about other hosts than the attack's: false alerts on its benign background.
    pub elsewhere: usize,
    /// On benign traffic: (High or Critical, Medium or Low) alerts.
    pub false_alerts: (usize, usize),
    pub benign_hours: f64,
}

impl Outcome {
    pub fn of(replay: &Replay, alerts: &[Alert]) -> Outcome {
        match &replay.attack {
            Some(attack) => Outcome {
                detected: alerts.iter().any(|a| points_at(a, attack)),
                in_full: alerts.iter().any(|a| names(a, attack)),
                wrong_class: alerts.iter().filter(|a| a.class != attack.class && about(a, attack)).count(),
                repeats: alerts
                    .iter()
                    .filter(|a| a.class == attack.class && about(a, attack))
                    .count()
                    .saturating_sub(1),
                elsewhere: alerts.iter().filter(|a| !about(a, attack)).count(),
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
    in_full: usize,
    by_rules: usize,
    wrong_class: usize,
    repeats: usize,
    elsewhere: usize,
    serious: usize,
    other: usize,
    hours: f64,
}

impl Sums {
    fn add(&mut self, o: &Outcome, is_attack: bool, by_rules: bool) {
        if is_attack {
            self.incidents += 1;
            self.detected += usize::from(o.detected);
            self.in_full += usize::from(o.in_full);
            self.by_rules += usize::from(by_rules);
            self.wrong_class += o.wrong_class;
            self.repeats += o.repeats;
            self.elsewhere += o.elsewhere;
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

    fn per_incident(&self, n: usize) -> f64 {
        if self.incidents == 0 {
            0.0
        } else {
            n as f64 / self.incidents as f64
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
/// alerts about other hosts during attacks, false alerts per benign hour by severity.
pub fn window_table<'a>(judged: impl IntoIterator<Item = &'a Judged>, windows: &[u32]) -> String {
    let judged: Vec<&Judged> = judged.into_iter().collect();
    let mut out = String::from(
        "| windows | incidents detected | named in full | alerts of a wrong class per incident | more alerts of \
         its class per incident | alerts about other hosts (attack captures) | High/Critical false alerts | \
         Medium/Low false alerts | benign hours | false alerts per benign hour |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut line = |label: String, sums: Sums| {
        let _ = writeln!(
            out,
            "| {label} | {} of {} | {} | {:.2} | {:.2} | {} | {} | {} | {:.2} | {:.1} |",
            sums.detected,
            sums.incidents,
            sums.in_full,
            sums.per_incident(sums.wrong_class),
            sums.per_incident(sums.repeats),
            sums.elsewhere,
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

/// Per family (attack class): captures, detected with the model (all window sizes together, and
/// recall in each alone) and by the rules alone, wrong-class alerts per incident.
pub fn family_table<'a>(judged: impl IntoIterator<Item = &'a Judged>) -> String {
    // Per family: all window sizes together, and each size alone.
    let mut families: BTreeMap<&str, (Sums, BTreeMap<u32, Sums>)> = BTreeMap::new();
    for j in judged {
        if let Some(class) = &j.class {
            let (all, per_window) = families.entry(class).or_default();
            all.add(&j.all, true, j.by_rules);
            for (size, outcome) in &j.per_window {
                per_window.entry(*size).or_default().add(outcome, true, false);
            }
        }
    }
    let mut out = String::from(
        "| family | captures | detected | recall | recall per window size | named in full | by the rules alone | \
         alerts of a wrong class per incident | more alerts of its class per incident |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for (family, (s, per_window)) in &families {
        let sizes: Vec<String> = per_window.iter().map(|(size, w)| format!("{size} s: {:.2}", w.recall())).collect();
        let _ = writeln!(
            out,
            "| {family} | {} | {} | {:.2} | {} | {} | {} | {:.2} | {:.2} |",
            s.incidents,
            s.detected,
            s.recall(),
            sizes.join(", "),
            s.in_full,
            s.by_rules,
            s.per_incident(s.wrong_class),
            s.per_incident(s.repeats)
        );
    }
    out
}

/// Per capture: detected in which window sizes, wrong-class alerts; benign ones: false alerts.
pub fn capture_table(judged: &[Judged]) -> String {
    let mut out = String::from(
        "| capture | class | detected in | named in full | wrong-class alerts | more alerts of its class | false \
         alerts (High+ / Medium-) |\n|---|---|---|---|---|---|---|\n",
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
        let in_full = match (&j.class, j.all.in_full) {
            (None, _) => "-",
            (Some(_), true) => "yes",
            (Some(_), false) => "no",
        };
        let _ = writeln!(
            out,
            "| {} | {class} | {found} | {in_full} | {} | {} | {false_alerts} |",
            j.name, j.all.wrong_class, j.all.repeats
        );
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
    fn readings_past_the_merge_gap_stay_apart() {
        let rule = alert("SYN_Flood", Some("10.0.0.66"), Some("10.0.0.5"), Detector::Rule);
        let mut late = alert("Slow_DoS", None, Some("10.0.0.5"), Detector::Model);
        late.first_micros = 200_000_000;
        late.last_micros = 205_000_000;
        let mut alerts = vec![rule, late];
        absorb_other_readings(&mut alerts, 1);
        assert_eq!(alerts.len(), 2);
    }

    #[test]
    fn a_same_class_reading_makes_the_rules_alert_one_by_both() {
        let rule = alert("UDP_Flood", Some("10.0.0.66"), Some("10.0.0.5"), Detector::Rule);
        let mut alerts = vec![rule, alert("UDP_Flood", Some("10.0.0.66"), None, Detector::Model)];
        absorb_other_readings(&mut alerts, 1);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].detector, Detector::Both);
    }

    #[test]
    fn a_reading_of_no_host_only_joins() {
        let candidate = |class: &str, source: Option<&str>, destination: Option<&str>, start: i64| {
            let ip = |s: Option<&str>| s.map(|s| s.parse::<IpAddr>().unwrap());
            AlertCandidate {
                alert_type: class.into(),
                source: ip(source),
                destination: ip(destination),
                severity: Severity::High,
                confidence: 0.9,
                description: String::new(),
                window_seconds: 5,
                start_micros: start,
                scope: traffic_core::features::Scope::Global,
                evidence: Vec::new(),
                detector: Detector::Model,
                attackers: ip(source).into_iter().collect(),
            }
        };
        let global = candidate("Brute_Force", None, None, 5_000_000);
        assert!(join([&global]).is_empty(), "alone, it opens no alert");
        let named = candidate("Brute_Force", Some("10.0.0.66"), Some("10.0.0.5"), 0);
        let joined = join([&named, &global]);
        assert_eq!(joined.len(), 1);
        assert_eq!(joined[0].last_micros, 10_000_000, "it joined the alert that names the hosts");
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
