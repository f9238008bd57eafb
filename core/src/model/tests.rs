use super::*;

/// One tree: x0 < 0.5 (missing goes left) ? (x1 < 2 (missing right) ? 1 : 2) : 3.
fn tree_json(default_left_root: u8) -> String {
    format!(
        r#"{{"base_weights":[0,0,0,0,0],"default_left":[{default_left_root},0,0,0,0],"id":0,
        "left_children":[1,3,-1,-1,-1],"right_children":[2,4,-1,-1,-1],
        "split_conditions":[0.5,2.0,3.0,1.0,2.0],"split_indices":[0,1,0,0,0],
        "split_type":[0,0,0,0,0],"sum_hessian":[10.0,6.0,4.0,2.0,4.0],
        "tree_param":{{"num_deleted":"0","num_feature":"2","num_nodes":"5","size_leaf_vector":"1"}}}}"#
    )
}

fn model_json(objective: &str, base_score: &str, num_class: &str, trees: &[String], info: &[u32]) -> String {
    format!(
        r#"{{"learner":{{"attributes":{{"feature_version":"1","classes":"[\"Normal\",\"Attack\",\"Other\"]"}},
        "feature_names":["a","b"],"feature_types":[],
        "gradient_booster":{{"model":{{"gbtree_model_param":{{"num_parallel_tree":"1","num_trees":"{n}"}},
        "iteration_indptr":[],"tree_info":{info:?},"trees":[{trees}]}},"name":"gbtree"}},
        "learner_model_param":{{"base_score":"{base_score}","boost_from_average":"1","num_class":"{num_class}",
        "num_feature":"2","num_target":"1"}},"objective":{{"name":"{objective}"}}}},"version":[3,2,0]}}"#,
        n = trees.len(),
        trees = trees.join(",")
    )
}

fn binary() -> Model {
    let json = model_json("binary:logistic", "[5E-1]", "0", &[tree_json(1)], &[0])
        .replace(r#"[\"Normal\",\"Attack\",\"Other\"]"#, r#"[\"Normal\",\"Attack\"]"#);
    Model::from_json(&json).unwrap()
}

#[test]
fn threshold_equal_goes_right_and_missing_follows_default() {
    let m = binary();
    assert_eq!(m.margins(&[0.4999999, 1.0]).unwrap(), vec![1.0]);
    assert_eq!(m.margins(&[0.5, 1.0]).unwrap(), vec![3.0], "equal to the threshold goes right");
    assert_eq!(m.margins(&[f32::NAN, 2.0]).unwrap(), vec![2.0], "NaN goes left at the root, right below");
    let right_default = Model::from_json(
        &model_json("binary:logistic", "5E-1", "0", &[tree_json(0)], &[0])
            .replace(r#"[\"Normal\",\"Attack\",\"Other\"]"#, r#"[\"Normal\",\"Attack\"]"#),
    )
    .unwrap();
    assert_eq!(right_default.margins(&[f32::NAN, 0.0]).unwrap(), vec![3.0]);
}

#[test]
fn binary_probabilities_start_from_the_logit_of_base_score() {
    let m = binary();
    let p = m.probabilities(&[1.0, 0.0]).unwrap();
    let expected = 1.0 / (1.0 + (-3.0f32).exp());
    assert!((p[1] - expected).abs() < 1e-7);
    assert!((p[0] + p[1] - 1.0).abs() < 1e-7);
    assert_eq!(m.classes(), ["Normal", "Attack"]);
    assert_eq!(m.feature_version(), Some(1));
    assert_eq!(m.feature_names(), ["a", "b"]);
}

#[test]
fn multiclass_sums_trees_per_group_and_contributions_add_up_to_the_margin() {
    let trees: Vec<String> = (0..6).map(|_| tree_json(1)).collect();
    let m =
        Model::from_json(&model_json("multi:softprob", "[1E-1,2E-1,-3E-1]", "3", &trees, &[0, 1, 2, 0, 1, 2])).unwrap();
    for x in [[0.0f32, 0.0], [1.0, 5.0], [f32::NAN, 1.0], [0.5, f32::NAN]] {
        let margins = m.margins(&x).unwrap();
        let probabilities = m.probabilities(&x).unwrap();
        assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let c = m.contributions(&x).unwrap();
        for (g, margin) in margins.iter().enumerate() {
            let sum: f32 = c.features[g].iter().sum::<f32>() + c.bias[g];
            assert!((sum - margin).abs() < 1e-5, "{x:?} group {g}: {sum} vs {margin}");
        }
    }
    // The expected value of the tree: (1*2 + 2*4)/6 = 5/3 on the left, (5/3*6 + 3*4)/10 overall.
    let c = m.contributions(&[0.0, 0.0]).unwrap();
    assert!((c.bias[0] - (0.1 + 2.0 * 2.2)).abs() < 1e-5, "{:?}", c.bias);
}

#[test]
fn wrong_feature_count_is_an_error() {
    assert_eq!(binary().margins(&[1.0]), Err(ModelError::FeatureCount { expected: 2, got: 1 }));
}

#[test]
fn unsupported_and_corrupt_models_are_refused() {
    let tree = tree_json(1);
    let err =
        Model::from_json(&model_json("reg:squarederror", "0", "0", std::slice::from_ref(&tree), &[0])).unwrap_err();
    assert!(matches!(err, ModelError::Unsupported(_)), "{err}");
    let err = Model::from_json("{\"learner\": 3}").unwrap_err();
    assert!(err.to_string().contains("not an XGBoost JSON model"), "{err}");
    let cyclic = tree.replace(r#""left_children":[1,3,-1,-1,-1]"#, r#""left_children":[1,1,-1,-1,-1]"#);
    let err = Model::from_json(&model_json("multi:softprob", "0", "3", &[cyclic], &[0])).unwrap_err();
    assert!(err.to_string().contains("tree 0"), "{err}");
    let bad_feature = tree.replace(r#""split_indices":[0,1,0,0,0]"#, r#""split_indices":[0,7,0,0,0]"#);
    let err = Model::from_json(&model_json("multi:softprob", "0", "3", &[bad_feature], &[0])).unwrap_err();
    assert!(err.to_string().contains("feature 7"), "{err}");
    let err = Model::from_json(&model_json("multi:softprob", "0", "3", &[tree], &[5])).unwrap_err();
    assert!(err.to_string().contains("output group 5"), "{err}");
}

#[test]
fn batches_equal_row_by_row() {
    let trees: Vec<String> = (0..20).map(|i| tree_json(i % 2)).collect();
    let info: Vec<u32> = (0..20).map(|i| i % 3).collect();
    let m = Model::from_json(&model_json("multi:softprob", "[1E-1,2E-1,-3E-1]", "3", &trees, &info)).unwrap();
    let rows: Vec<f32> =
        (0..150).flat_map(|i| [(i % 7) as f32 * 0.25, if i % 5 == 0 { f32::NAN } else { (i % 4) as f32 }]).collect();
    let batch = m.probabilities_batch(&rows).unwrap();
    assert_eq!(batch.len(), 150);
    for (x, p) in rows.chunks(2).zip(&batch) {
        assert_eq!(&m.probabilities(x).unwrap(), p);
    }
    assert_eq!(m.margins_batch(&rows[..3]), Err(ModelError::RowShape { values: 3, features: 2 }));
}

#[test]
fn the_compact_form_reads_back_to_the_same_model() {
    let json =
        model_json("multi:softprob", "[1E-1,2E-1,3E-1]", "3", &[tree_json(1), tree_json(0), tree_json(1)], &[0, 1, 2]);
    let (model, compact) = Model::from_json_with_compact(&json).unwrap();
    assert!(compact.len() < json.len() / 2, "{} bytes for {} of JSON", compact.len(), json.len());
    let back = Model::from_compact(&compact).unwrap();
    assert_eq!(back.classes(), model.classes());
    assert_eq!(back.feature_names(), model.feature_names());
    assert_eq!(back.feature_version(), model.feature_version());
    for x in [[0.4, 1.0], [0.5, 2.0], [f32::NAN, 1.5], [1.0, f32::NAN]] {
        assert_eq!(back.probabilities(&x).unwrap(), model.probabilities(&x).unwrap());
        assert_eq!(back.contributions(&x).unwrap(), model.contributions(&x).unwrap());
    }
}

#[test]
fn damaged_compact_bytes_are_an_error_not_a_crash() {
    let json =
        model_json("multi:softprob", "[1E-1,2E-1,3E-1]", "3", &[tree_json(1), tree_json(0), tree_json(1)], &[0, 1, 2]);
    let (_, compact) = Model::from_json_with_compact(&json).unwrap();
    assert!(Model::from_compact(&compact[1..]).is_err(), "another layout");
    for len in 0..compact.len() {
        assert!(Model::from_compact(&compact[..len]).is_err(), "cut at {len}");
    }
    // Every single flipped byte either still decodes to a model that passed the checks, or is
    // refused: the evaluator never sees an unchecked tree.
    for i in 4..compact.len() {
        let mut bytes = compact.clone();
        bytes[i] ^= 0x5a;
        if let Ok(m) = Model::from_compact(&bytes) {
            let _ = m.probabilities(&vec![0.3; m.num_features()]);
        }
    }
}

/// A complete binary tree of `levels` levels splitting on feature 0, as XGBoost writes it.
fn complete_tree_json(levels: u32) -> String {
    let n = (1usize << levels) - 1;
    let internal = (1usize << (levels - 1)) - 1;
    let list = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(",");
    format!(
        r#"{{"base_weights":[{z}],"default_left":[{z}],"id":0,"left_children":[{l}],"right_children":[{r}],
        "split_conditions":[{c}],"split_indices":[{z}],"split_type":[{z}],"sum_hessian":[{h}],
        "tree_param":{{"num_deleted":"0","num_feature":"2","num_nodes":"{n}","size_leaf_vector":"1"}}}}"#,
        z = list(&|_| "0".into()),
        l = list(&|i| if i < internal { (2 * i + 1).to_string() } else { "-1".into() }),
        r = list(&|i| if i < internal { (2 * i + 2).to_string() } else { "-1".into() }),
        c = list(&|i| if i < internal { "0.5".into() } else { "1.0".into() }),
        h = list(&|_| "1.0".into()),
    )
}

#[test]
fn trees_too_large_for_the_compact_node_layout_are_refused() {
    let model = |levels| {
        model_json("binary:logistic", "[5E-1]", "0", &[complete_tree_json(levels)], &[0])
            .replace(r#"[\"Normal\",\"Attack\",\"Other\"]"#, r#"[\"Normal\",\"Attack\"]"#)
    };
    // 16 levels: the root's right child is 32,768 nodes ahead of it; 17 levels: 65,536.
    let fits = Model::from_json(&model(16)).unwrap();
    assert_eq!(fits.margins(&[0.0, 0.0]).unwrap(), vec![1.0]);
    let error = Model::from_json(&model(17)).unwrap_err();
    assert!(error.to_string().contains("more than 65,535 nodes"), "{error}");
}
