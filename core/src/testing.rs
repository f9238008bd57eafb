//! Fixtures for the tests of every crate (the `testing` feature, which only dev-dependencies
//! and the end-to-end tests turn on): nothing here is part of what the core knows.

/// A minimal valid model in XGBoost's JSON format: one split on `feature` at `threshold`
/// (at or above: `attack`, with probability 0.953; below: Normal), over `feature_names` with
/// `feature_version`. Real models come from the training pipeline.
pub fn single_split_json(
    feature_names: &[&str],
    feature_version: u32,
    feature: &str,
    threshold: f32,
    attack: &str,
) -> String {
    let split = feature_names.iter().position(|f| *f == feature).unwrap_or(0);
    let classes = serde_json::to_string(&[crate::alerts::NORMAL, attack]).unwrap_or_default();
    let model = serde_json::json!({
        "learner": {
            "attributes": { "feature_version": feature_version.to_string(), "classes": classes },
            "feature_names": feature_names,
            "feature_types": [],
            "gradient_booster": {
                "name": "gbtree",
                "model": {
                    "gbtree_model_param": { "num_parallel_tree": "1", "num_trees": "1" },
                    "iteration_indptr": [0, 1],
                    "tree_info": [0],
                    "trees": [{
                        "base_weights": [0.0, 0.0, 0.0], "default_left": [0, 0, 0], "id": 0,
                        "left_children": [1, -1, -1], "right_children": [2, -1, -1],
                        "split_conditions": [threshold, -3.0, 3.0], "split_indices": [split, 0, 0],
                        "split_type": [0, 0, 0], "sum_hessian": [10.0, 6.0, 4.0],
                        "tree_param": { "num_deleted": "0", "num_feature": feature_names.len().to_string(),
                                        "num_nodes": "3", "size_leaf_vector": "1" }
                    }]
                }
            },
            "learner_model_param": { "base_score": "[5E-1]", "boost_from_average": "1", "num_class": "0",
                                     "num_feature": feature_names.len().to_string(), "num_target": "1" },
            "objective": { "name": "binary:logistic" }
        },
        "version": [3, 2, 0]
    });
    model.to_string()
}
