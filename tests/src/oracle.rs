//! XGBoost itself as an oracle: runs `tests/oracle/xgboost_oracle.py` in the test-only venv
//! (`scripts/common.sh` creates it) and reads back its models, rows and predictions.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The venv's interpreter (override with TA_ORACLE_PYTHON).
pub fn oracle_python() -> PathBuf {
    std::env::var_os("TA_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/traffic_analyzer/xgb-venv/bin/python"))
}

pub fn oracle_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oracle").join(name)
}

/// One model with XGBoost's outputs on its probe rows.
pub struct OracleCase {
    pub name: String,
    pub model_json: String,
    pub features: usize,
    pub classes: usize,
    pub groups: usize,
    pub objective: String,
    /// rows x features
    pub rows: Vec<f32>,
    /// rows x classes
    pub probabilities: Vec<f32>,
    /// rows x groups x (features + 1)
    pub contributions: Vec<f32>,
}

impl OracleCase {
    pub fn row_count(&self) -> usize {
        self.rows.len() / self.features
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.features..(i + 1) * self.features]
    }
}

fn read_f32(path: &Path) -> anyhow::Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Trains the oracle's models (softprob, softmax, logistic) on the core's feature list (names,
/// order, version) into `dir`, so the extension accepts them too.
pub fn generate(dir: &Path) -> anyhow::Result<Vec<OracleCase>> {
    let python = oracle_python();
    let names = dir.join("feature_names.txt");
    let list: Vec<&str> = traffic_core::features::FEATURES.iter().map(|f| f.name).collect();
    std::fs::write(&names, list.join("\n"))?;
    let status = Command::new(&python)
        .arg(oracle_script("xgboost_oracle.py"))
        .arg(dir)
        .arg(list.len().to_string())
        .arg(&names)
        .arg(traffic_core::features::FEATURE_VERSION.to_string())
        .status()
        .with_context(|| format!("running {} (the XGBoost oracle venv; see scripts/common.sh)", python.display()))?;
    if !status.success() {
        bail!("xgboost_oracle.py failed: {status}");
    }
    let mut cases = Vec::new();
    for name in ["softprob", "softmax", "logistic"] {
        let file = |suffix: &str| dir.join(format!("{name}.{suffix}"));
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file("meta.json"))?)?;
        let field = |key: &str| meta[key].as_u64().map(|v| v as usize).context(key.to_string());
        cases.push(OracleCase {
            name: name.to_string(),
            model_json: std::fs::read_to_string(file("json"))?,
            features: field("features")?,
            classes: field("classes")?,
            groups: field("groups")?,
            objective: meta["objective"].as_str().unwrap_or_default().to_string(),
            rows: read_f32(&file("rows.f32"))?,
            probabilities: read_f32(&file("proba.f32"))?,
            contributions: read_f32(&file("contribs.f32"))?,
        });
    }
    Ok(cases)
}
