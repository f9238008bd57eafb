//! The Rust evaluator against XGBoost itself: same probabilities and TreeSHAP contributions
//! (within 1e-6) and the same predicted class, on rows with NaNs and values exactly at and just
//! below every split threshold.

use e2e::{oracle, TestDb};
use traffic_core::model::Model;

const TOLERANCE: f32 = 1e-6;

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= TOLERANCE * b.abs().max(1.0)
}

#[tokio::test]
async fn evaluator_matches_xgboost() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ta-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cases = oracle::generate(&dir)?;
    std::fs::remove_dir_all(&dir)?;

    let mut rows_checked = 0;
    for case in &cases {
        let model = Model::from_json(&case.model_json)?;
        assert_eq!(model.classes().len(), case.classes, "{}", case.name);
        let (n, width) = (case.features, case.features + 1);
        let mut worst_probability = 0.0f32;
        let mut worst_contribution = 0.0f32;
        let mut nan_rows = 0;
        for i in 0..case.row_count() {
            let x = case.row(i);
            nan_rows += usize::from(x.iter().any(|v| v.is_nan()));
            let ours = model.probabilities(x)?;
            let theirs = &case.probabilities[i * case.classes..(i + 1) * case.classes];
            for (a, b) in ours.iter().zip(theirs) {
                worst_probability = worst_probability.max((a - b).abs());
                assert!(close(*a, *b), "{} row {i}: probabilities {ours:?} vs XGBoost {theirs:?}", case.name);
            }
            assert_eq!(
                Model::predict_class(&ours),
                Model::predict_class(theirs),
                "{} row {i}: predicted class differs",
                case.name
            );

            let contributions = model.contributions(x)?;
            for g in 0..case.groups {
                let theirs = &case.contributions[(i * case.groups + g) * width..(i * case.groups + g + 1) * width];
                for (f, (&a, &b)) in contributions.features[g].iter().zip(&theirs[..n]).enumerate() {
                    worst_contribution = worst_contribution.max((a - b).abs());
                    assert!(
                        close(a, b),
                        "{} row {i} group {g} feature {f}: contribution {a} vs XGBoost {b}",
                        case.name
                    );
                }
                let bias = contributions.bias[g];
                assert!(
                    close(bias, theirs[n]),
                    "{} row {i} group {g}: bias {bias} vs XGBoost {}",
                    case.name,
                    theirs[n]
                );
            }
        }
        assert!(nan_rows > case.row_count() / 2, "{}: the rows must exercise missing values", case.name);
        println!(
            "{} ({}, {} trees): {} rows, worst |diff| probability {worst_probability:e}, contribution {worst_contribution:e}",
            case.name,
            case.objective,
            model.num_trees(),
            case.row_count()
        );
        rows_checked += case.row_count();
    }
    assert!(rows_checked >= 10_000);
    scoring_in_sql_matches_xgboost(&cases).await
}

/// The same models loaded into the database (stored as jsonb, parsed back by the extension) and
/// scored by SQL give XGBoost's probabilities.
async fn scoring_in_sql_matches_xgboost(cases: &[oracle::OracleCase]) -> anyhow::Result<()> {
    let db = TestDb::create("ta_e2e_model_conformance").await?;
    for case in cases {
        db.admin.execute("SELECT load_model($1, $2)", &[&case.name, &case.model_json]).await?;
        let statement = db.admin.prepare("SELECT label, probabilities FROM score($1::float8[])").await?;
        let classes: Vec<String> = db.admin.query_one("SELECT model_classes()", &[]).await?.get(0);
        for i in (0..case.row_count()).step_by(20) {
            let x: Vec<Option<f64>> =
                case.row(i).iter().map(|v| if v.is_nan() { None } else { Some(f64::from(*v)) }).collect();
            let row = db.admin.query_one(&statement, &[&x]).await?;
            let probabilities: Vec<f32> = row.get(1);
            let theirs = &case.probabilities[i * case.classes..(i + 1) * case.classes];
            for (a, b) in probabilities.iter().zip(theirs) {
                assert!(close(*a, *b), "{} row {i} in SQL: {probabilities:?} vs XGBoost {theirs:?}", case.name);
            }
            assert_eq!(row.get::<_, String>(0), classes[Model::predict_class(theirs)], "{} row {i}", case.name);
        }
    }
    Ok(())
}
