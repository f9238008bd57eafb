//! Training with XGBoost itself: the `xgb` crate, linked against libxgboost from the
//! `xgboost-cpu` wheel (XGBOOST_LIB_DIR; see scripts/common.sh). The model records the feature
//! list (names, version) and the class names, as the extension requires.

use anyhow::Context;
use traffic_core::features::{FEATURES, FEATURE_VERSION};
use xgb::{parameters::BoosterParameters, Booster, DMatrix};

use crate::dataset::LabelledRow;

/// The classes, in model output order (Normal first): every class the lab labels
/// (scripts/make_captures.sh; a test checks).
pub const CLASSES: [&str; 10] = [
    "Normal",
    "Port_Scan",
    "Host_Sweep",
    "SYN_Flood",
    "TCP_Flood",
    "UDP_Flood",
    "ICMP_Flood",
    "Brute_Force",
    "Slow_DoS",
    "DNS_Flood",
];

pub struct Settings {
    pub rounds: u32,
    pub max_depth: u32,
    pub eta: f64,
    pub seed: u64,
    /// Rounds without improvement on the validation captures before stopping.
    pub early_stopping: u32,
    /// Class balancing exponent (see `matrix`).
    pub balance: f64,
    /// Share of the features each split chooses from (XGBoost's colsample_bynode): below 1, trees
    /// cannot lean on one feature that happens to separate the lab's tools (a SYN count) and learn
    /// the others that describe the attack too (targets probed, whatever the flags).
    pub colsample: f64,
}

fn class_index(label: &str) -> anyhow::Result<usize> {
    CLASSES.iter().position(|c| *c == label).with_context(|| format!("unknown class {label:?}"))
}

fn matrix(rows: &[&LabelledRow], balance: f64) -> anyhow::Result<DMatrix> {
    let values: Vec<f32> = rows.iter().flat_map(|r| r.row.features.values.iter().map(|v| *v as f32)).collect();
    let mut d = DMatrix::from_dense(&values, rows.len())?;
    let labels: Vec<f32> = rows.iter().map(|r| class_index(&r.label).map(|i| i as f32)).collect::<Result<_, _>>()?;
    d.set_labels(&labels)?;
    // Classes are very unequal (most windows are Normal): rows of rare classes weigh more, by
    // (rows / (classes x class rows))^balance: 1 gives every class the same total weight, 0 none.
    let mut counts = [0usize; CLASSES.len()];
    for r in rows {
        counts[class_index(&r.label)?] += 1;
    }
    let weights: Vec<f32> = rows
        .iter()
        .map(|r| {
            let c = counts[class_index(&r.label).unwrap_or(0)].max(1);
            (rows.len() as f64 / (CLASSES.len() as f64 * c as f64)).powf(balance).clamp(0.05, 50.0) as f32
        })
        .collect();
    d.set_weights(&weights)?;
    Ok(d)
}

/// Trains on `train`, stops early on `validation`, and returns the model's JSON, cut to its best
/// iteration.
pub fn train(train: &[&LabelledRow], validation: &[&LabelledRow], s: &Settings) -> anyhow::Result<String> {
    let dtrain = matrix(train, s.balance)?;
    let dvalid = matrix(validation, s.balance)?;
    let mut booster = Booster::new_with_cached_dmats(&BoosterParameters::default(), &[&dtrain, &dvalid])?;
    for (name, value) in [
        ("objective", "multi:softprob".to_string()),
        ("num_class", CLASSES.len().to_string()),
        ("max_depth", s.max_depth.to_string()),
        ("eta", s.eta.to_string()),
        ("seed", s.seed.to_string()),
        ("nthread", "2".to_string()),
        ("tree_method", "hist".to_string()),
        ("eval_metric", "mlogloss".to_string()),
        ("colsample_bynode", s.colsample.to_string()),
    ] {
        booster.set_param(name, &value)?;
    }
    let (mut best, mut best_round, mut since_best) = (f32::INFINITY, 0u32, 0u32);
    for round in 0..s.rounds {
        booster.update(&dtrain, round as i32)?;
        let loss = *booster.evaluate(&dvalid)?.values().next().context("a validation metric")?;
        if loss < best {
            (best, best_round, since_best) = (loss, round, 0);
        } else {
            since_best += 1;
            if since_best >= s.early_stopping {
                break;
            }
        }
    }
    // Early stopping: keep the trees up to the best round only.
    let mut model = booster.slice(0, best_round as i32 + 1)?;
    let names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    model.set_feature_names(&names)?;
    model.set_attribute("feature_version", &FEATURE_VERSION.to_string())?;
    model.set_attribute("classes", &serde_json::to_string(&CLASSES)?)?;
    model.set_attribute("best_iteration", &best_round.to_string())?;
    model.set_attribute("validation_mlogloss", &best.to_string())?;
    Ok(String::from_utf8(model.save_buffer(false)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_core::features::{index_of, FeatureVector, Scope, WindowRow};

    fn row(i: usize) -> LabelledRow {
        let mut values = vec![0.0; FEATURES.len()];
        let syn = i.is_multiple_of(3);
        values[index_of("syn_without_ack_ratio").unwrap()] = if syn { 0.9 } else { 0.1 } + (i % 7) as f64 * 0.01;
        values[index_of("packet_count").unwrap()] = (i * 13 % 500) as f64;
        LabelledRow {
            capture: format!("c{}", i % 4),
            scenario: "t".into(),
            seed: 1,
            row: WindowRow {
                window_seconds: 5,
                start_micros: i as i64 * 5_000_000,
                scope: Scope::Global,
                features: FeatureVector { version: FEATURE_VERSION, values },
            },
            label: if syn { "SYN_Flood" } else { "Normal" }.into(),
        }
    }

    /// Every class a lab capture is labelled with can be learnt.
    #[test]
    fn the_classes_are_the_labs() {
        let script = include_str!("../../../scripts/make_captures.sh");
        let labelled: std::collections::BTreeSet<&str> = script
            .split("LABEL: ")
            .skip(1)
            .filter_map(|rest| rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next())
            .filter(|class| !class.is_empty() && *class != "CLASS")
            .collect();
        let ours: std::collections::BTreeSet<&str> = CLASSES.into_iter().collect();
        assert_eq!(labelled, ours);
    }

    #[test]
    fn the_trained_model_is_one_the_extension_accepts_and_scores_alike() {
        let rows: Vec<LabelledRow> = (0..300).map(row).collect();
        let refs: Vec<&LabelledRow> = rows.iter().collect();
        let settings =
            Settings { rounds: 20, max_depth: 3, eta: 0.3, seed: 1, early_stopping: 5, balance: 1.0, colsample: 1.0 };
        let json = train(&refs[..200], &refs[200..], &settings).unwrap();
        let model = traffic_core::model::Model::from_json(&json).unwrap();
        assert_eq!(model.classes(), CLASSES);
        assert_eq!(model.feature_version(), Some(FEATURE_VERSION));
        let names: Vec<&str> = model.feature_names().iter().map(String::as_str).collect();
        assert_eq!(names, FEATURES.iter().map(|f| f.name).collect::<Vec<_>>());
        // XGBoost's own predictions of the saved model equal our evaluator's.
        let booster = Booster::load_buffer(json.as_bytes()).unwrap();
        let d = matrix(&refs, 1.0).unwrap();
        let theirs = booster.predict(&d).unwrap();
        for (i, r) in rows.iter().enumerate() {
            let x: Vec<f32> = r.row.features.values.iter().map(|v| *v as f32).collect();
            let ours = model.probabilities(&x).unwrap();
            assert_eq!(&ours[..], &theirs[i * CLASSES.len()..(i + 1) * CLASSES.len()], "row {i}");
        }
        let syn = CLASSES.iter().position(|c| *c == "SYN_Flood").unwrap();
        let x: Vec<f32> = rows[3].row.features.values.iter().map(|v| *v as f32).collect();
        assert_eq!(traffic_core::model::Model::predict_class(&model.probabilities(&x).unwrap()), syn);
    }
}
