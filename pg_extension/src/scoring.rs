//! Models in the database and scoring in SQL: `load_model`, `score`, `explain`. The evaluator is
//! `traffic_core::model` (pure Rust: no libxgboost, no OpenMP threads in a backend).
//!
//! Each backend caches the parsed active model by id and checks, once per statement, whether
//! another model became active; so a `load_model` in one session reaches every other session's
//! next statement without a restart.

use std::cell::RefCell;
use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::{pg_sys, JsonB, PgSqlErrorCode};
use traffic_core::alerts::NORMAL;
use traffic_core::features::{FEATURES, FEATURE_VERSION};
use traffic_core::model::Model;

use crate::error;

pub struct ActiveModel {
    pub id: i64,
    pub model: Model,
}

struct Cache {
    /// Statement start time of the last check against the `models` table.
    checked_at: i64,
    active: Option<Rc<ActiveModel>>,
}

thread_local! {
    static CACHE: RefCell<Option<Cache>> = const { RefCell::new(None) };
}

fn statement_start() -> i64 {
    // SAFETY: reads a backend-global timestamp; always valid inside a transaction.
    unsafe { pg_sys::GetCurrentStatementStartTimestamp() }
}

/// The active model, parsed once per backend and re-checked once per statement.
pub fn active_model() -> Result<Option<Rc<ActiveModel>>, pgrx::spi::Error> {
    let now = statement_start();
    let cached = CACHE.with_borrow(|c| c.as_ref().map(|c| (c.checked_at, c.active.clone())));
    if let Some((checked_at, active)) = &cached {
        if *checked_at == now {
            return Ok(active.clone());
        }
    }
    let id: Option<i64> = read_one("SELECT id FROM models WHERE active", &[])?;
    let active = match (id, cached.and_then(|(_, a)| a)) {
        (None, _) => None,
        (Some(id), Some(active)) if active.id == id => Some(active),
        (Some(id), _) => {
            // The compact form when it is there and of this evaluator's layout, else the JSON.
            let compact: Option<Vec<u8>> = read_one("SELECT compact FROM models WHERE id = $1", &[id.into()])?;
            let model = match compact.map(|bytes| Model::from_compact(&bytes)) {
                Some(Ok(model)) => Ok(model),
                _ => {
                    let json: Option<String> = read_one("SELECT model::text FROM models WHERE id = $1", &[id.into()])?;
                    Model::from_json(json.as_deref().unwrap_or_default())
                }
            };
            let model = model.unwrap_or_else(|e| {
                error::raise(
                    PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                    "active_model",
                    format!("the active model (models.id = {id}) cannot be read: {e}"),
                    "Load a valid model with load_model(name, json), or deactivate this one.",
                )
            });
            Some(Rc::new(ActiveModel { id, model }))
        }
    };
    CACHE.set(Some(Cache { checked_at: now, active: active.clone() }));
    Ok(active)
}

/// A read-only query's first column of its first row (None without rows). Read-only SPI, so it
/// may run inside a parallel query (score() is parallel safe).
fn read_one<T: FromDatum + IntoDatum>(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> Result<Option<T>, pgrx::spi::Error> {
    Spi::connect(|client| {
        let rows = client.select(sql, Some(1), args)?;
        if rows.is_empty() {
            Ok(None)
        } else {
            rows.first().get_one::<T>()
        }
    })
}

fn require_model(function: &'static str) -> Result<Rc<ActiveModel>, pgrx::spi::Error> {
    Ok(active_model()?.unwrap_or_else(|| {
        error::raise(
            PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
            function,
            format!("{function}: no model is active"),
            "Load one with SELECT load_model('name', pg_read_file('/path/model.json')); setup loads models/default.json.",
        )
    }))
}

/// Checks that a parsed model scores our features: same names in the same order, same version,
/// and a Normal class.
fn validate(model: &Model) -> Result<(), (String, String)> {
    let ours: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    let theirs: Vec<&str> = model.feature_names().iter().map(String::as_str).collect();
    if theirs != ours {
        let first = ours.iter().zip(&theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
        return Err((
            format!(
                "the model's feature list differs from the extension's ({} vs {} features; first difference at \
                 position {}: {:?} vs {:?})",
                theirs.len(),
                ours.len(),
                first + 1,
                theirs.get(first),
                ours.get(first)
            ),
            "Train the model on feature_names() in that order (the training pipeline records them).".into(),
        ));
    }
    if model.feature_version() != Some(FEATURE_VERSION) {
        return Err((
            format!(
                "the model was trained on feature list version {:?}, the extension computes version {FEATURE_VERSION}",
                model.feature_version()
            ),
            "Retrain the model on this version's features (attribute feature_version).".into(),
        ));
    }
    if !model.classes().iter().any(|c| c == NORMAL) {
        return Err((
            format!("the model's classes {:?} have no {NORMAL:?} class", model.classes()),
            "Name the benign class Normal in the model's classes attribute.".into(),
        ));
    }
    Ok(())
}

/// Validates an XGBoost JSON model against the extension's feature list, stores it as the next
/// version of `name` and makes it the active model. Returns its id. A model that cannot be used
/// is an ERROR and the previously active model stays active.
#[pg_extern(volatile)]
fn load_model(name: &str, model: &str, metrics: default!(Option<JsonB>, "NULL")) -> Result<i64, pgrx::spi::Error> {
    if name.is_empty() || name.len() > 64 {
        error::raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "load_model",
            "load_model: name must be 1 to 64 characters",
            "Name the model, e.g. load_model('default', ...).",
        );
    }
    let (parsed, compact) = Model::from_json_with_compact(model).unwrap_or_else(|e| {
        error::raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "load_model",
            format!("load_model: {e}"),
            "Pass the JSON that XGBoost's Booster.save_model(\"model.json\") writes (gbtree; binary:logistic or multi:softprob/softmax).",
        )
    });
    if let Err((message, hint)) = validate(&parsed) {
        error::raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "load_model",
            format!("load_model: {message}"),
            &hint,
        );
    }
    Spi::run("SELECT pg_advisory_xact_lock(hashtext('traffic_analyzer.models'))")?;
    Spi::run("UPDATE models SET active = false WHERE active")?;
    let id: Option<i64> = Spi::get_one_with_args(
        "INSERT INTO models (name, version, feature_version, classes, model, metrics, active, compact)
         VALUES ($1, coalesce((SELECT max(version) FROM models WHERE name = $1), 0) + 1, $2, $3, $4::jsonb, $5, true, $6)
         RETURNING id",
        &[
            name.into(),
            i32::try_from(FEATURE_VERSION).unwrap_or(i32::MAX).into(),
            parsed.classes().to_vec().into(),
            model.into(),
            metrics.into(),
            compact.into(),
        ],
    )?;
    let id = id.unwrap_or_default();
    CACHE.set(Some(Cache { checked_at: statement_start(), active: Some(Rc::new(ActiveModel { id, model: parsed })) }));
    Ok(id)
}

/// Feature values in feature_names() order as the model's f32 input (NULL = missing).
fn model_input(function: &'static str, features: impl ExactSizeIterator<Item = Option<f64>>) -> Vec<f32> {
    if features.len() != FEATURES.len() {
        error::raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            function,
            format!("{function}: {} feature values given, the model takes {}", features.len(), FEATURES.len()),
            "Pass the values in feature_names() order, e.g. score(feature_vector(f)) for an aggregated_features row f.",
        );
    }
    features.map(|v| v.map_or(f32::NAN, |v| v as f32)).collect()
}

/// A prediction: label, its probability, and every class's probability (model_classes() order).
pub struct Prediction {
    pub label: String,
    pub confidence: f64,
    pub probabilities: Vec<f32>,
}

pub fn predict(model: &Model, x: &[f32]) -> Prediction {
    let probabilities = model.probabilities(x).unwrap_or_else(|e| {
        error::raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "score",
            e.to_string(),
            "The model does not fit the feature list.",
        )
    });
    prediction(model, probabilities)
}

/// The prediction for one row's class probabilities.
pub fn prediction(model: &Model, probabilities: Vec<f32>) -> Prediction {
    let class = Model::predict_class(&probabilities);
    Prediction { label: model.classes()[class].clone(), confidence: f64::from(probabilities[class]), probabilities }
}

thread_local! {
    /// The `prediction` composite type's oid, looked up once per backend.
    static PREDICTION_TYPE: std::cell::Cell<Option<pg_sys::Oid>> = const { std::cell::Cell::new(None) };
}

/// Scores one window's features (feature_names() order) with the active model: a `prediction`
/// (label, confidence, probabilities in model_classes() order). A plain function, not a set:
/// `SELECT score(f) FROM aggregated_features f` costs one call per row and no tuplestore. The
/// declared cost (a few microseconds per row) lets the planner scan in parallel.
#[pg_extern(stable, parallel_safe, cost = 1000)]
fn score(features: pgrx::Array<f64>) -> Result<pgrx::composite_type!('static, "prediction"), pgrx::spi::Error> {
    let active = require_model("score")?;
    let p = predict(&active.model, &model_input("score", features.iter()));
    let oid = PREDICTION_TYPE.get().unwrap_or_else(|| {
        let oid = pgrx::PgTupleDesc::for_composite_type("prediction")
            .map(|t| t.oid())
            .unwrap_or_else(|| pgrx::error!("type prediction is missing: reinstall the extension"));
        PREDICTION_TYPE.set(Some(oid));
        oid
    });
    let tupdesc = pgrx::PgTupleDesc::for_composite_type_by_oid(oid)
        .unwrap_or_else(|| pgrx::error!("type prediction is not a composite type"));
    let datums = [p.label.into_datum(), p.confidence.into_datum(), p.probabilities.into_datum()];
    // SAFETY: the datums match the type's attributes (text, double precision, real[]), in order.
    let tuple = unsafe { pgrx::heap_tuple::PgHeapTuple::from_datums(tupdesc, datums) };
    Ok(tuple.unwrap_or_else(|e| pgrx::error!("building a prediction: {e}")))
}

/// The active model's classes, in the order of score()'s probabilities.
#[pg_extern(stable)]
fn model_classes() -> Result<Vec<String>, pgrx::spi::Error> {
    Ok(require_model("model_classes")?.model.classes().to_vec())
}

/// Why the model predicts what it predicts: each feature's TreeSHAP contribution (log-odds)
/// toward `class` (default: the predicted class), strongest first, then the bias.
#[pg_extern(stable, parallel_safe, cost = 100000)]
fn explain(
    features: Vec<Option<f64>>,
    class: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<'static, (name!(feature, String), name!(value, Option<f64>), name!(contribution, f32))>,
    pgrx::spi::Error,
> {
    let active = require_model("explain")?;
    let x = model_input("explain", features.iter().copied());
    let model = &active.model;
    let class_index = match class {
        None => Model::predict_class(&predict(model, &x).probabilities),
        Some(name) => model.classes().iter().position(|c| c == name).unwrap_or_else(|| {
            error::raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "explain",
                format!("explain: the model has no class {name:?}"),
                &format!("Its classes are {:?} (model_classes()).", model.classes()),
            )
        }),
    };
    Ok(TableIterator::new(explanation(model, &x, class_index).into_iter().map(move |(i, c)| match i {
        Some(i) => (FEATURES[i].name.to_string(), features[i], c),
        None => ("(bias)".to_string(), None, c),
    })))
}

/// (feature index, contribution) toward `class`, strongest first, then (None, bias). Binary
/// models explain class 1 (the attack); their class 0 gets the negated contributions.
pub fn explanation(model: &Model, x: &[f32], class: usize) -> Vec<(Option<usize>, f32)> {
    let c = model.contributions(x).unwrap_or_else(|e| {
        error::raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "explain",
            e.to_string(),
            "The model does not fit the feature list.",
        )
    });
    let (group, sign) = if c.features.len() == 1 { (0, if class == 0 { -1.0 } else { 1.0 }) } else { (class, 1.0) };
    let mut out: Vec<(Option<usize>, f32)> =
        c.features[group].iter().enumerate().map(|(i, v)| (Some(i), sign * v)).collect();
    out.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    out.push((None, sign * c.bias[group]));
    out
}
