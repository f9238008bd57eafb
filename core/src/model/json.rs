//! XGBoost's JSON model format (what `Booster.save_model("m.json")` writes), read into our layout.
//!
//! Only the fields scoring needs are read; anything we cannot evaluate exactly (dart, categorical
//! splits, other objectives, vector leaves) is refused rather than approximated.

use serde::{Deserialize, Serialize};

use super::tree::Tree;
use super::{Model, ModelError, Objective};

#[derive(Deserialize, Serialize)]
struct ModelFile {
    learner: Learner,
}

#[derive(Deserialize, Serialize)]
struct Learner {
    #[serde(default)]
    attributes: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    feature_names: Vec<String>,
    gradient_booster: GradientBooster,
    learner_model_param: LearnerModelParam,
    objective: ObjectiveParam,
}

#[derive(Deserialize, Serialize)]
struct LearnerModelParam {
    base_score: String,
    #[serde(default)]
    num_class: Option<String>,
    num_feature: String,
    #[serde(default)]
    num_target: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct ObjectiveParam {
    name: String,
}

#[derive(Deserialize, Serialize)]
struct GradientBooster {
    name: String,
    model: Option<GbtreeModel>,
}

#[derive(Deserialize, Serialize)]
struct GbtreeModel {
    tree_info: Vec<i64>,
    trees: Vec<JsonTree>,
}

#[derive(Deserialize, Serialize)]
pub(super) struct JsonTree {
    pub default_left: Vec<u8>,
    pub left_children: Vec<i64>,
    pub right_children: Vec<i64>,
    pub split_conditions: Vec<f32>,
    pub split_indices: Vec<i64>,
    #[serde(default)]
    pub split_type: Vec<u8>,
    pub sum_hessian: Vec<f32>,
    pub tree_param: TreeParam,
}

#[derive(Deserialize, Serialize)]
pub(super) struct TreeParam {
    pub num_nodes: String,
    #[serde(default)]
    pub size_leaf_vector: Option<String>,
}

fn number<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, ModelError> {
    text.trim().parse().map_err(|_| ModelError::Invalid(format!("{field} is not a number: {text:?}")))
}

/// `"5E-1"` or `"[4.966361E-1,5.671497E-1]"` (XGBoost 3 writes a vector, one entry per class).
fn base_scores(text: &str) -> Result<Vec<f32>, ModelError> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    inner.split(',').map(|part| number("base_score", part)).collect()
}

fn read_json(text: &str) -> Result<ModelFile, ModelError> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer)
        .map_err(|e| ModelError::Invalid(format!("not an XGBoost JSON model: {e}")))
}

pub(super) fn parse(text: &str) -> Result<Model, ModelError> {
    build(read_json(text)?)
}

/// Marks the compact form and its layout (the fields below, in this order); another layout is
/// refused, and the caller reads the JSON instead.
const COMPACT_MAGIC: &[u8; 4] = b"TAM1";

/// The model and its compact form: the same fields of the JSON, encoded in binary (postcard).
/// Reading it back skips the text (a 600-tree model: ~4 MB of JSON, tens of milliseconds per
/// process) and builds the trees with the same checks.
pub(super) fn parse_with_compact(text: &str) -> Result<(Model, Vec<u8>), ModelError> {
    let file = read_json(text)?;
    let mut compact = COMPACT_MAGIC.to_vec();
    compact = postcard::to_extend(&file, compact)
        .map_err(|e| ModelError::Invalid(format!("encoding the compact form: {e}")))?;
    Ok((build(file)?, compact))
}

pub(super) fn parse_compact(bytes: &[u8]) -> Result<Model, ModelError> {
    let body = bytes
        .strip_prefix(COMPACT_MAGIC)
        .ok_or_else(|| ModelError::Invalid("not a compact model of this version".into()))?;
    let file: ModelFile =
        postcard::from_bytes(body).map_err(|e| ModelError::Invalid(format!("corrupt compact model: {e}")))?;
    build(file)
}

fn build(file: ModelFile) -> Result<Model, ModelError> {
    let learner = file.learner;

    let objective = match learner.objective.name.as_str() {
        "binary:logistic" => Objective::BinaryLogistic,
        "multi:softprob" => Objective::MultiSoftprob,
        "multi:softmax" => Objective::MultiSoftmax,
        other => {
            return Err(ModelError::Unsupported(format!(
                "objective {other:?} (supported: binary:logistic, multi:softprob, multi:softmax)"
            )))
        }
    };
    if learner.gradient_booster.name != "gbtree" {
        return Err(ModelError::Unsupported(format!("booster {:?} (only gbtree)", learner.gradient_booster.name)));
    }
    let params = &learner.learner_model_param;
    let num_features: usize = number("num_feature", &params.num_feature)?;
    let num_target: usize = params.num_target.as_deref().map_or(Ok(1), |t| number("num_target", t))?;
    if num_target != 1 {
        return Err(ModelError::Unsupported(format!("{num_target} targets (only 1)")));
    }
    let num_groups = match objective {
        Objective::BinaryLogistic => 1,
        Objective::MultiSoftprob | Objective::MultiSoftmax => {
            let classes: usize = number("num_class", params.num_class.as_deref().unwrap_or("0"))?;
            if classes < 2 {
                return Err(ModelError::Invalid(format!("multi-class model with num_class {classes}")));
            }
            classes
        }
    };

    let mut base = base_scores(&params.base_score)?;
    if base.len() == 1 && num_groups > 1 {
        base = vec![base[0]; num_groups];
    }
    if base.len() != num_groups {
        return Err(ModelError::Invalid(format!("{} base scores for {num_groups} output groups", base.len())));
    }
    let base_margin = match objective {
        // Stored as a probability; the trees add to its logit (XGBoost's ProbToMargin, in f32).
        Objective::BinaryLogistic => {
            let p = base[0];
            if !(p > 0.0 && p < 1.0) {
                return Err(ModelError::Invalid(format!("binary:logistic base_score {p} is not in (0, 1)")));
            }
            vec![-(1.0f32 / p - 1.0f32).ln()]
        }
        Objective::MultiSoftprob | Objective::MultiSoftmax => base,
    };

    let gbtree =
        learner.gradient_booster.model.ok_or_else(|| ModelError::Invalid("gradient_booster has no model".into()))?;
    if gbtree.tree_info.len() != gbtree.trees.len() {
        return Err(ModelError::Invalid(format!(
            "tree_info has {} entries for {} trees",
            gbtree.tree_info.len(),
            gbtree.trees.len()
        )));
    }
    let mut trees = Vec::with_capacity(gbtree.trees.len());
    let mut tree_group = Vec::with_capacity(gbtree.trees.len());
    for (index, (tree, group)) in gbtree.trees.iter().zip(&gbtree.tree_info).enumerate() {
        let group = usize::try_from(*group)
            .ok()
            .filter(|g| *g < num_groups)
            .ok_or_else(|| ModelError::Invalid(format!("tree {index} belongs to output group {group}")))?;
        let tree =
            Tree::from_json(tree, num_features).map_err(|e| ModelError::Invalid(format!("tree {index}: {e}")))?;
        trees.push(tree);
        tree_group.push(group as u32);
    }

    if !learner.feature_names.is_empty() && learner.feature_names.len() != num_features {
        return Err(ModelError::Invalid(format!(
            "{} feature names for {num_features} features",
            learner.feature_names.len()
        )));
    }
    let feature_version = match learner.attributes.get("feature_version") {
        Some(v) => Some(number("attributes.feature_version", v)?),
        None => None,
    };
    let classes = match learner.attributes.get("classes") {
        Some(list) => serde_json::from_str::<Vec<String>>(list)
            .map_err(|e| ModelError::Invalid(format!("attributes.classes is not a JSON list of names: {e}")))?,
        None => (0..num_groups.max(2)).map(|i| format!("class_{i}")).collect(),
    };
    if classes.len() != num_groups.max(2) {
        return Err(ModelError::Invalid(format!(
            "{} class names for a model with {} classes",
            classes.len(),
            num_groups.max(2)
        )));
    }

    Ok(Model {
        feature_names: learner.feature_names,
        feature_version,
        classes,
        objective,
        num_features,
        base_margin,
        trees,
        tree_group,
    })
}
