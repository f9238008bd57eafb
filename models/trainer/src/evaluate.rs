//! Honest evaluation on held-back captures, with our own evaluator (the one the database runs)
//! on the saved model: per-class precision, recall and F1, the confusion matrix; per window size,
//! the incidents seen and the alerts an analyst would get: of the right class, of a wrong class
//! about the attack's hosts, and false ones on benign traffic per hour.
//!
//! An alert is what the extension raises for flagged rows (an attack class with confidence at
//! least the threshold): one per capture, class and scope host, however many windows it spans.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use traffic_core::model::Model;

use crate::dataset::LabelledRow;
use crate::train::CLASSES;

pub struct Evaluation {
    /// confusion[true][predicted], every row.
    pub confusion: Vec<Vec<usize>>,
    pub threshold: f64,
    pub errors: Vec<Misclassified>,
    /// Hours of benign traffic: 5 s windows holding a row labelled Normal.
    pub benign_hours: f64,
    /// Per window size: alerts raised on rows labelled Normal.
    pub false_alerts: BTreeMap<u32, usize>,
    /// One per capture holding an attack, in capture order.
    pub incidents: Vec<Incident>,
}

/// An attack capture as the model saw it.
pub struct Incident {
    pub capture: String,
    pub class: String,
    /// Rows of the attack's scopes, and how many the model called by the attack's class.
    pub rows: usize,
    pub right: usize,
    /// Per window size: whether an alert of the attack's class was raised on its rows.
    pub detected: BTreeMap<u32, bool>,
    /// Per window size: alerts of another attack class on the attack's rows.
    pub wrong_class: BTreeMap<u32, usize>,
    /// What the rows the model got wrong were called, by count.
    pub called: BTreeMap<String, usize>,
}

impl Incident {
    pub fn detected_anywhere(&self) -> bool {
        self.detected.values().any(|d| *d)
    }

    pub fn wrong_class_alerts(&self) -> usize {
        self.wrong_class.values().sum()
    }
}

/// A held-back row the model got wrong.
pub struct Misclassified {
    pub capture: String,
    pub window_seconds: u32,
    /// Unix seconds.
    pub window_start: f64,
    pub scope: &'static str,
    pub host: String,
    pub truth: String,
    pub predicted: String,
    pub confidence: f32,
}

/// The key that makes flagged rows one alert: capture, window size, class, scope and host.
type AlertKey = (String, u32, &'static str, &'static str, String);

pub fn evaluate(model: &Model, rows: &[&LabelledRow], threshold: f64) -> anyhow::Result<Evaluation> {
    let n = CLASSES.len();
    let mut confusion = vec![vec![0usize; n]; n];
    let mut errors = Vec::new();
    let mut benign_windows = BTreeSet::new();
    let mut false_alerts: BTreeSet<AlertKey> = BTreeSet::new();
    let mut incidents: BTreeMap<String, Incident> = BTreeMap::new();
    let mut wrong_alerts: BTreeSet<AlertKey> = BTreeSet::new();
    let windows: BTreeSet<u32> = rows.iter().map(|r| r.row.window_seconds).collect();
    for r in rows {
        let x: Vec<f32> = r.row.features.values.iter().map(|v| *v as f32).collect();
        let p = model.probabilities(&x)?;
        let best = Model::predict_class(&p);
        // Classes by name: the model's own order may differ from ours.
        let class_of = |name: &str| CLASSES.iter().position(|c| *c == name).unwrap_or(0);
        let predicted = class_of(&model.classes()[best]);
        let truth = class_of(&r.label);
        confusion[truth][predicted] += 1;
        let flagged = predicted != 0 && f64::from(p[best]) >= threshold;
        let seconds = r.row.window_seconds;
        let host = r.row.scope.host().map(|h| h.to_string()).unwrap_or_default();
        let key = (r.capture.clone(), seconds, CLASSES[predicted], r.row.scope.name(), host.clone());
        if truth != predicted {
            errors.push(Misclassified {
                capture: r.capture.clone(),
                window_seconds: seconds,
                window_start: r.row.start_micros as f64 / 1e6,
                scope: r.row.scope.name(),
                host,
                truth: r.label.clone(),
                predicted: CLASSES[predicted].to_string(),
                confidence: p[best],
            });
        }
        if truth == 0 {
            if seconds == 5 {
                benign_windows.insert((r.capture.clone(), r.row.start_micros));
            }
            if flagged {
                false_alerts.insert(key);
            }
            continue;
        }
        let incident = incidents.entry(r.capture.clone()).or_insert_with(|| Incident {
            capture: r.capture.clone(),
            class: r.label.clone(),
            rows: 0,
            right: 0,
            detected: windows.iter().map(|w| (*w, false)).collect(),
            wrong_class: windows.iter().map(|w| (*w, 0)).collect(),
            called: BTreeMap::new(),
        });
        incident.rows += 1;
        if predicted == truth {
            incident.right += 1;
            if flagged {
                incident.detected.insert(seconds, true);
            }
        } else {
            *incident.called.entry(CLASSES[predicted].to_string()).or_default() += 1;
            if flagged && wrong_alerts.insert(key) {
                *incident.wrong_class.entry(seconds).or_default() += 1;
            }
        }
    }
    let mut by_window: BTreeMap<u32, usize> = windows.iter().map(|w| (*w, 0)).collect();
    for (_, seconds, ..) in &false_alerts {
        *by_window.entry(*seconds).or_default() += 1;
    }
    Ok(Evaluation {
        confusion,
        threshold,
        errors,
        benign_hours: benign_windows.len() as f64 * 5.0 / 3600.0,
        false_alerts: by_window,
        incidents: incidents.into_values().collect(),
    })
}

/// Figures summed over incidents: of a family, of a variant left out.
#[derive(Debug, Default, PartialEq)]
pub struct Totals {
    pub captures: usize,
    /// Captures with an alert of their class in some window size.
    pub detected: usize,
    pub rows: usize,
    pub right: usize,
    pub wrong_class: usize,
    pub called: BTreeMap<String, usize>,
}

impl Totals {
    pub fn add(&mut self, i: &Incident) {
        self.captures += 1;
        self.detected += usize::from(i.detected_anywhere());
        self.rows += i.rows;
        self.right += i.right;
        self.wrong_class += i.wrong_class_alerts();
        for (class, count) in &i.called {
            *self.called.entry(class.clone()).or_default() += count;
        }
    }

    pub fn of<'a>(incidents: impl IntoIterator<Item = &'a Incident>) -> Totals {
        let mut totals = Totals::default();
        incidents.into_iter().for_each(|i| totals.add(i));
        totals
    }

    pub fn recall(&self) -> f64 {
        ratio(self.right, self.rows)
    }

    pub fn wrong_class_per_incident(&self) -> f64 {
        ratio(self.wrong_class, self.captures)
    }
}

/// Totals per family (the attack's class).
pub fn per_family(incidents: &[Incident]) -> BTreeMap<String, Totals> {
    let mut out: BTreeMap<String, Totals> = BTreeMap::new();
    for i in incidents {
        out.entry(i.class.clone()).or_default().add(i);
    }
    out
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The most frequent wrong call, "-" if none.
pub fn mostly_called(called: &BTreeMap<String, usize>) -> String {
    called.iter().max_by_key(|(_, n)| **n).map(|(c, n)| format!("{c} ({n})")).unwrap_or_else(|| "-".into())
}

impl Evaluation {
    /// (precision, recall, F1, support) of class `c`.
    pub fn scores(&self, c: usize) -> (f64, f64, f64, usize) {
        let tp = self.confusion[c][c];
        let predicted: usize = self.confusion.iter().map(|row| row[c]).sum();
        let support: usize = self.confusion[c].iter().sum();
        let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        (precision, recall, f1, support)
    }

    /// Incidents with an alert of their class in windows of `seconds`.
    pub fn detected_in(&self, seconds: u32) -> usize {
        self.incidents.iter().filter(|i| i.detected.get(&seconds) == Some(&true)).count()
    }

    pub fn false_alerts_total(&self) -> usize {
        self.false_alerts.values().sum()
    }

    pub fn false_alerts_per_hour(&self, seconds: u32) -> f64 {
        let alerts = self.false_alerts.get(&seconds).copied().unwrap_or(0);
        if self.benign_hours > 0.0 {
            alerts as f64 / self.benign_hours
        } else {
            0.0
        }
    }

    /// Per window size: incidents detected, wrong-class alerts per incident, false alerts per
    /// benign hour.
    pub fn window_table(&self) -> String {
        let mut out = String::from(
            "| window | incidents detected | alerts of a wrong class per incident | false alerts | per benign hour |\n\
             |---|---|---|---|---|\n",
        );
        let n = self.incidents.len();
        for (&seconds, &false_alerts) in &self.false_alerts {
            let detected = self.detected_in(seconds);
            let wrong: usize = self.incidents.iter().map(|i| i.wrong_class.get(&seconds).copied().unwrap_or(0)).sum();
            let _ = writeln!(
                out,
                "| {seconds} s | {detected} of {n} | {:.2} | {false_alerts} | {:.1} |",
                ratio(wrong, n),
                self.false_alerts_per_hour(seconds)
            );
        }
        let _ = writeln!(
            out,
            "\nAlerts: rows predicted as an attack with confidence >= {}, one per capture, class, scope and \
             host; benign hours: {:.2} (5 s windows holding benign rows).",
            self.threshold, self.benign_hours
        );
        out
    }

    /// Per attack family (class): incidents detected, row recall, wrong-class alerts per incident.
    pub fn family_table(&self) -> String {
        let mut out = String::from(
            "| family | captures | detected | row recall | alerts of a wrong class per incident |\n|---|---|---|---|---|\n",
        );
        for (class, t) in per_family(&self.incidents) {
            let _ = writeln!(
                out,
                "| {class} | {} | {} | {:.3} | {:.2} |",
                t.captures,
                t.detected,
                t.recall(),
                t.wrong_class_per_incident()
            );
        }
        out
    }

    /// Per capture: rows, recall, the window sizes that alerted, wrong-class alerts.
    pub fn incident_table(&self) -> String {
        let mut out = String::from(
            "| capture | class | rows | row recall | alerted in | alerts of a wrong class | wrong rows mostly called |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for i in &self.incidents {
            let alerted: Vec<String> = i.detected.iter().filter(|(_, d)| **d).map(|(s, _)| format!("{s} s")).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.3} | {} | {} | {} |",
                i.capture.trim_end_matches(".pcap"),
                i.class,
                i.rows,
                ratio(i.right, i.rows),
                if alerted.is_empty() { "none".into() } else { alerted.join(", ") },
                i.wrong_class_alerts(),
                mostly_called(&i.called)
            );
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from("| class | precision | recall | F1 | test rows |\n|---|---|---|---|---|\n");
        for (c, name) in CLASSES.iter().enumerate() {
            let (p, r, f1, support) = self.scores(c);
            let _ = writeln!(out, "| {name} | {p:.3} | {r:.3} | {f1:.3} | {support} |");
        }
        out.push_str("\nConfusion matrix (rows: true class, columns: predicted):\n\n| | ");
        out.push_str(&CLASSES.join(" | "));
        out.push_str(" |\n|---|");
        out.push_str(&"---|".repeat(CLASSES.len()));
        out.push('\n');
        for (c, name) in CLASSES.iter().enumerate() {
            let cells: Vec<String> = self.confusion[c].iter().map(|v| v.to_string()).collect();
            let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
        }
        out.push_str("\nPer window size:\n\n");
        out.push_str(&self.window_table());
        out.push_str("\nPer family:\n\n");
        out.push_str(&self.family_table());
        out.push_str("\nPer capture:\n\n");
        out.push_str(&self.incident_table());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_core::features::{FeatureVector, Scope, WindowRow, FEATURES, FEATURE_VERSION};

    fn row(capture: &str, seconds: u32, start: i64, scope: Scope, label: &str, syn: f64) -> LabelledRow {
        let mut values = vec![0.0; FEATURES.len()];
        values[traffic_core::features::index_of("syn_without_ack_ratio").unwrap()] = syn;
        LabelledRow {
            capture: capture.into(),
            scenario: capture.into(),
            seed: 3,
            row: WindowRow {
                window_seconds: seconds,
                start_micros: start * 1_000_000,
                scope,
                features: FeatureVector { version: FEATURE_VERSION, values },
            },
            label: label.into(),
        }
    }

    #[test]
    fn alerts_are_counted_once_per_capture_class_and_host() {
        let json = traffic_core::testing::single_split_json(
            &FEATURES.iter().map(|f| f.name).collect::<Vec<_>>(),
            FEATURE_VERSION,
            "syn_without_ack_ratio",
            0.5,
            "SYN_Flood",
        );
        let model = Model::from_json(&json).unwrap();
        let victim = Scope::DstHost("10.0.0.5".parse().unwrap());
        let rows = [
            // A SYN flood seen in two 5 s windows (one alert) and missed in its 30 s window.
            row("flood", 5, 0, victim, "SYN_Flood", 0.9),
            row("flood", 5, 5, victim, "SYN_Flood", 0.9),
            row("flood", 30, 0, victim, "SYN_Flood", 0.1),
            // A UDP flood called SYN_Flood twice on one host: one wrong-class alert.
            row("udp", 5, 0, victim, "UDP_Flood", 0.9),
            row("udp", 5, 5, victim, "UDP_Flood", 0.9),
            // Benign rows, one flagged: one false alert in one 5 s window.
            row("benign", 5, 0, Scope::Global, "Normal", 0.9),
            row("benign", 5, 5, Scope::Global, "Normal", 0.1),
        ];
        let refs: Vec<&LabelledRow> = rows.iter().collect();
        let e = evaluate(&model, &refs, 0.8).unwrap();
        assert_eq!(e.false_alerts, BTreeMap::from([(5, 1), (30, 0)]));
        assert!((e.benign_hours - 10.0 / 3600.0).abs() < 1e-12, "two 5 s windows");
        let flood = &e.incidents[0];
        assert_eq!((flood.capture.as_str(), flood.rows, flood.right), ("flood", 3, 2));
        assert_eq!(flood.detected, BTreeMap::from([(5, true), (30, false)]));
        let udp = &e.incidents[1];
        assert_eq!((udp.right, udp.wrong_class_alerts(), mostly_called(&udp.called)), (0, 1, "SYN_Flood (2)".into()));
        let t = &per_family(&e.incidents)["UDP_Flood"];
        assert_eq!((t.captures, t.detected, t.rows, t.right, t.wrong_class), (1, 0, 2, 0, 1));
    }
}
