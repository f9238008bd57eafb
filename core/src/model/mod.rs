//! XGBoost model evaluation in pure Rust: XGBoost's JSON format in, the numbers XGBoost itself
//! computes out (probabilities and TreeSHAP contributions), with no C++ or OpenMP inside a
//! Postgres backend.
//!
//! Exact agreement rests on doing what XGBoost does, in f32: inputs converted to f32 first,
//! `x < threshold` goes left (equal goes right), NaN follows the default direction, margins summed
//! in tree order from the base margin, sigmoid and softmax as XGBoost writes them.

mod json;
mod shap;
mod tree;

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum ModelError {
    #[error("invalid model: {0}")]
    Invalid(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("expected {expected} feature values, got {got}")]
    FeatureCount { expected: usize, got: usize },
    #[error("{values} values are not whole rows of {features} features")]
    RowShape { values: usize, features: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    BinaryLogistic,
    MultiSoftprob,
    MultiSoftmax,
}

/// A parsed gradient-boosted tree ensemble.
#[derive(Clone, Debug)]
pub struct Model {
    feature_names: Vec<String>,
    feature_version: Option<u32>,
    classes: Vec<String>,
    objective: Objective,
    num_features: usize,
    /// One per output group (1 for binary, one per class for multi-class).
    base_margin: Vec<f32>,
    trees: Vec<tree::Tree>,
    tree_group: Vec<u32>,
}

/// SHAP contributions per output group (one for binary models, one per class otherwise):
/// `features[group][feature]`, and `bias[group]` (the expected margin).
#[derive(Clone, Debug, PartialEq)]
pub struct Contributions {
    pub features: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
}

impl Model {
    /// Parses XGBoost's JSON model. Class names come from the `classes` attribute (a JSON list)
    /// and the feature-list version from `feature_version`, both set by our training pipeline.
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        json::parse(text)
    }

    /// Parses XGBoost's JSON model and also returns its compact binary form, which
    /// [`Model::from_compact`] reads back many times faster than the JSON (for processes that
    /// load the model often, such as a database's parallel workers).
    pub fn from_json_with_compact(text: &str) -> Result<(Model, Vec<u8>), ModelError> {
        json::parse_with_compact(text)
    }

    /// Reads the compact form written by [`Model::from_json_with_compact`], with every check the
    /// JSON gets; bytes of another layout or version are an error (read the JSON then).
    pub fn from_compact(bytes: &[u8]) -> Result<Model, ModelError> {
        json::parse_compact(bytes)
    }

    /// Feature names recorded at training (empty if the trainer set none).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    pub fn feature_version(&self) -> Option<u32> {
        self.feature_version
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn num_features(&self) -> usize {
        self.num_features
    }

    pub fn num_trees(&self) -> usize {
        self.trees.len()
    }

    /// Output groups: 1 for binary:logistic, one per class otherwise.
    fn groups(&self) -> usize {
        self.base_margin.len()
    }

    fn check_len(&self, x: &[f32]) -> Result<(), ModelError> {
        if x.len() == self.num_features {
            Ok(())
        } else {
            Err(ModelError::FeatureCount { expected: self.num_features, got: x.len() })
        }
    }

    /// Raw margins, one per output group (XGBoost's `output_margin=True`).
    pub fn margins(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        self.check_len(x)?;
        let mut margins = self.base_margin.clone();
        for (trees, groups) in self.trees.chunks(tree::LOCKSTEP).zip(self.tree_group.chunks(tree::LOCKSTEP)) {
            tree::walk(trees, groups, x, &mut margins);
        }
        Ok(margins)
    }

    /// Margins of many rows (row-major, `num_features` values each): `groups` margins per row,
    /// equal to [`Model::margins`] row by row. Rows go through each tree in blocks, so the tree
    /// stays in cache (XGBoost's own strategy); several times faster than row by row.
    pub fn margins_batch(&self, rows: &[f32]) -> Result<Vec<f32>, ModelError> {
        let n = self.num_features;
        if n == 0 || !rows.len().is_multiple_of(n) {
            return Err(ModelError::RowShape { values: rows.len(), features: n });
        }
        let groups = self.groups();
        let mut margins: Vec<f32> = Vec::with_capacity(rows.len() / n * groups);
        for block in rows.chunks(tree::BLOCK * n) {
            let start = margins.len();
            for _ in 0..block.len() / n {
                margins.extend_from_slice(&self.base_margin);
            }
            for (tree, &group) in self.trees.iter().zip(&self.tree_group) {
                tree::walk_block(tree, group as usize, block, n, &mut margins[start..], groups);
            }
        }
        Ok(margins)
    }

    /// Class probabilities of many rows (row-major), one per class per row.
    pub fn probabilities_batch(&self, rows: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        let margins = self.margins_batch(rows)?;
        Ok(margins.chunks(self.groups()).map(|m| self.transform(m.to_vec())).collect())
    }

    fn transform(&self, margins: Vec<f32>) -> Vec<f32> {
        match self.objective {
            Objective::BinaryLogistic => {
                let p = sigmoid(margins[0]);
                vec![1.0 - p, p]
            }
            Objective::MultiSoftprob | Objective::MultiSoftmax => softmax(margins),
        }
    }

    /// Class probabilities, one per class (binary models give `[1 - p, p]`).
    pub fn probabilities(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        Ok(self.transform(self.margins(x)?))
    }

    /// Index of the most probable class (the first one on ties, as XGBoost's argmax).
    pub fn predict_class(probabilities: &[f32]) -> usize {
        let mut best = 0;
        for (i, &p) in probabilities.iter().enumerate() {
            if p > probabilities[best] {
                best = i;
            }
        }
        best
    }

    /// TreeSHAP contributions in margin space, equal to XGBoost's `pred_contribs=True`: per group,
    /// the features' contributions plus a bias that together sum to the margin.
    pub fn contributions(&self, x: &[f32]) -> Result<Contributions, ModelError> {
        self.check_len(x)?;
        let n = self.num_features;
        let mut total = vec![vec![0.0f32; n + 1]; self.groups()];
        let mut this_tree = vec![0.0f32; n + 1];
        let mut path = Vec::new();
        for (tree, &group) in self.trees.iter().zip(&self.tree_group) {
            // Per tree into a zeroed buffer, then added: XGBoost's summation order.
            this_tree.fill(0.0);
            shap::tree_contributions(tree, x, &mut this_tree, &mut path);
            for (sum, value) in total[group as usize].iter_mut().zip(&this_tree) {
                *sum += *value;
            }
        }
        let mut bias = Vec::with_capacity(self.groups());
        for (row, base) in total.iter_mut().zip(&self.base_margin) {
            let b = row.pop().unwrap_or(0.0) + base;
            bias.push(b);
        }
        Ok(Contributions { features: total, bias })
    }
}

/// XGBoost's `common::Sigmoid`.
fn sigmoid(x: f32) -> f32 {
    const EPS: f32 = 1e-16;
    let x = (-x).min(88.7);
    1.0 / (x.exp() + 1.0 + EPS)
}

/// XGBoost's `common::Softmax`: f32 exponentials of the max-shifted margins, summed in f64.
fn softmax(mut margins: Vec<f32>) -> Vec<f32> {
    let max = margins.iter().copied().fold(margins[0], f32::max);
    let mut sum = 0.0f64;
    for m in margins.iter_mut() {
        *m = (*m - max).exp();
        sum += f64::from(*m);
    }
    for m in margins.iter_mut() {
        *m /= sum as f32;
    }
    margins
}

#[cfg(test)]
mod tests;
