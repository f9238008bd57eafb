//! Honest evaluation on held-back captures, with our own evaluator (the one the database runs)
//! on the saved model: per-class precision, recall and F1, the confusion matrix, and false alerts
//! per hour of benign traffic.

use std::fmt::Write as _;

use traffic_core::model::Model;

use crate::dataset::LabelledRow;
use crate::train::CLASSES;

pub struct Evaluation {
    /// confusion[true][predicted], rows of the test captures.
    pub confusion: Vec<Vec<usize>>,
    /// 5 s rows labelled Normal that would raise an alert (attack predicted, confidence >= threshold).
    pub false_alerts: usize,
    pub benign_hours: f64,
    pub threshold: f64,
    pub errors: Vec<Misclassified>,
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

pub fn evaluate(model: &Model, rows: &[&LabelledRow], threshold: f64) -> anyhow::Result<Evaluation> {
    let n = CLASSES.len();
    let mut confusion = vec![vec![0usize; n]; n];
    let mut false_alerts = 0;
    let mut benign_windows = 0;
    let mut errors = Vec::new();
    for r in rows {
        let x: Vec<f32> = r.row.features.values.iter().map(|v| *v as f32).collect();
        let p = model.probabilities(&x)?;
        let predicted = Model::predict_class(&p);
        let truth = CLASSES.iter().position(|c| *c == r.label).unwrap_or(0);
        confusion[truth][predicted] += 1;
        if truth != predicted {
            errors.push(Misclassified {
                capture: r.capture.clone(),
                window_seconds: r.row.window_seconds,
                window_start: r.row.start_micros as f64 / 1e6,
                scope: r.row.scope.name(),
                host: r.row.scope.host().map(|h| h.to_string()).unwrap_or_default(),
                truth: r.label.clone(),
                predicted: CLASSES[predicted].to_string(),
                confidence: p[predicted],
            });
        }
        if r.row.window_seconds == 5 && truth == 0 {
            if r.row.scope == traffic_core::features::Scope::Global {
                benign_windows += 1;
            }
            if predicted != 0 && f64::from(p[predicted]) >= threshold {
                false_alerts += 1;
            }
        }
    }
    Ok(Evaluation { confusion, false_alerts, benign_hours: benign_windows as f64 * 5.0 / 3600.0, threshold, errors })
}

impl Evaluation {
    /// (precision, recall, F1, support) of class `c`.
    pub fn scores(&self, c: usize) -> (f64, f64, f64, usize) {
        let tp = self.confusion[c][c] as f64;
        let predicted: usize = self.confusion.iter().map(|row| row[c]).sum();
        let support: usize = self.confusion[c].iter().sum();
        let precision = if predicted == 0 { 0.0 } else { tp / predicted as f64 };
        let recall = if support == 0 { 0.0 } else { tp / support as f64 };
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        (precision, recall, f1, support)
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
        let rate = if self.benign_hours > 0.0 { self.false_alerts as f64 / self.benign_hours } else { 0.0 };
        let _ = writeln!(
            out,
            "\nFalse alerts on benign traffic: {} of the 5 s rows labelled Normal would raise an alert \
             (attack predicted with confidence >= {}) over {:.2} h of benign windows: {rate:.1} per hour.",
            self.false_alerts, self.threshold, self.benign_hours
        );
        out
    }
}
