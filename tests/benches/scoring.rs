//! Scoring benchmark: rows/s scored by the Rust evaluator alone and by SQL over
//! `aggregated_features`, against XGBoost's own single-thread predict on the same model (7
//! classes, depth 6, BENCH_ROUNDS x 7 trees) and the same rows, in the same run; and the shipped
//! model (models/default.json) on the same rows, what the jobs pay per window row.
//!
//! `cargo bench -p e2e --bench scoring`; BENCH_ROWS (default 50,000), BENCH_ROUNDS (default 86,
//! 602 trees).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use e2e::oracle::{oracle_python, oracle_script};
use e2e::TestDb;
use futures_util::SinkExt;
use traffic_core::features::{FEATURES, FEATURE_VERSION};
use traffic_core::model::Model;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        out = Some(value);
    }
    (best, out.expect("at least one run"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requested_rows = env_or("BENCH_ROWS", 50_000);
    let rounds = env_or("BENCH_ROUNDS", 86);
    // BENCH_CACHE=dir keeps XGBoost's model and rows there for reruns; XGBoost's timing is
    // measured again in every run.
    let cache = std::env::var_os("BENCH_CACHE").map(std::path::PathBuf::from);
    let dir =
        cache.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("ta-bench-scoring-{}", std::process::id())));
    std::fs::create_dir_all(&dir)?;
    let names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    std::fs::write(dir.join("names.txt"), names.join("\n"))?;
    // XGBoost: trains the model and writes the rows (unless cached), times its own predict.
    let output = Command::new(oracle_python())
        .arg(oracle_script("xgboost_bench.py"))
        .arg(&dir)
        .arg(dir.join("names.txt"))
        .arg(FEATURE_VERSION.to_string())
        .arg(requested_rows.to_string())
        .arg(rounds.to_string())
        .output()
        .context("running xgboost_bench.py")?;
    if !output.status.success() {
        bail!("xgboost_bench.py failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let xgboost = report["rows_per_sec"].as_f64().context("rows_per_sec")?;
    let json = std::fs::read_to_string(dir.join("bench.json"))?;
    let bytes = std::fs::read(dir.join("bench.rows.f32"))?;
    let values: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if cache.is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    let n = FEATURES.len();
    // The rows XGBoost timed (a cached set may hold another count than BENCH_ROWS).
    let rows = values.len() / n;

    // The evaluator alone, one thread.
    let model = Model::from_json(&json)?;
    let (evaluator_time, checksum) = best_of(3, || {
        let mut sum = 0.0f64;
        for x in values.chunks_exact(n) {
            let p = model.probabilities(x).expect("row fits");
            sum += f64::from(p[0]);
        }
        sum
    });
    let evaluator = rows as f64 / evaluator_time.as_secs_f64();
    let (batch_time, batch_checksum) = best_of(3, || {
        model.probabilities_batch(&values).expect("rows fit").iter().map(|p| f64::from(p[0])).sum::<f64>()
    });
    assert_eq!(batch_checksum, checksum, "batch and row-by-row scoring agree");
    let batch = rows as f64 / batch_time.as_secs_f64();
    let (shap_time, _) = best_of(1, || {
        values.chunks_exact(n).take(rows / 10).map(|x| model.contributions(x).expect("row fits").bias[0]).sum::<f32>()
    });
    let shap = (rows / 10) as f64 / shap_time.as_secs_f64();
    println!(
        "scoring benchmark: {rows} rows x {n} features (10% missing), {} trees (7 classes, depth 6), best of 3\n",
        report["trees"]
    );
    println!("  XGBoost 3.2 predict, nthread=1          {xgboost:>10.0} rows/s   (baseline)");
    println!(
        "  Rust evaluator, row by row              {evaluator:>10.0} rows/s   {:.2}x XGBoost",
        evaluator / xgboost
    );
    println!(
        "  Rust evaluator, batches of rows         {batch:>10.0} rows/s   {:.2}x XGBoost (target >= 1.5x)",
        batch / xgboost
    );
    println!("  TreeSHAP contributions (explain)        {shap:>10.0} rows/s");
    // What the jobs pay per window row: the shipped model (its own size and classes) on the same rows.
    let shipped =
        Model::from_json(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/default.json"))?)?;
    let (shipped_time, _) = best_of(3, || shipped.probabilities_batch(&values).expect("rows fit").len());
    println!(
        "  the shipped model ({} trees), batches   {:>10.0} rows/s",
        shipped.num_trees(),
        rows as f64 / shipped_time.as_secs_f64()
    );
    if std::env::var("BENCH_SKIP_SQL").is_ok() {
        return Ok(());
    }

    // SQL: the rows as aggregated_features rows, scored with score(f) in one query (a parallel
    // scan on this machine's 2 cores).
    let db = TestDb::create("ta_bench_scoring").await?;
    db.admin.execute("SELECT load_model('bench', $1)", &[&json]).await?;
    let columns: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    let sink = db
        .admin
        .copy_in(&format!(
            "COPY aggregated_features (window_seconds, window_start, window_end, scope, {}) FROM STDIN (FORMAT csv)",
            columns.join(", ")
        ))
        .await?;
    let mut csv = String::new();
    for (i, x) in values.chunks_exact(n).enumerate() {
        let start = 1_700_000_000 + i as i64 * 5;
        csv.push_str(&format!("5,{},{},global", to_timestamp(start), to_timestamp(start + 5)));
        for v in x {
            csv.push(',');
            if !v.is_nan() {
                csv.push_str(&v.to_string());
            }
        }
        csv.push('\n');
    }
    futures_util::pin_mut!(sink);
    sink.send(bytes::Bytes::from(csv)).await?;
    sink.finish().await?;
    db.admin.batch_execute("VACUUM ANALYZE aggregated_features").await?;
    // With PostgreSQL's default of 2 workers per query, and with one worker per core besides the
    // leader (on a 2-core machine the default puts 3 processes, each with its own copy of the
    // model in cache, on 2 cores).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut settings = vec![2];
    let one_per_core = cores.saturating_sub(1).max(1);
    if one_per_core != 2 {
        settings.push(one_per_core);
    }
    for workers in settings {
        db.admin.batch_execute(&format!("SET max_parallel_workers_per_gather = {workers}")).await?;
        let mut sql_times = Vec::new();
        let mut sql_checksum = 0.0;
        for _ in 0..3 {
            let start = Instant::now();
            let row = db
                .admin
                .query_one("SELECT sum((score(f)).probabilities[1])::float8 FROM aggregated_features f", &[])
                .await?;
            sql_times.push(start.elapsed());
            sql_checksum = row.get::<_, f64>(0);
        }
        let sql = rows as f64 / sql_times.iter().min().expect("runs").as_secs_f64();
        assert!((sql_checksum - checksum).abs() < 1e-3 * rows as f64, "SQL and evaluator agree");
        println!(
            "  SQL: score(f), {workers} worker(s) + leader  {sql:>10.0} rows/s   {:.2}x XGBoost (target >= 200,000 rows/s)",
            sql / xgboost
        );
    }
    Ok(())
}

fn to_timestamp(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.to_rfc3339()).unwrap_or_default()
}
