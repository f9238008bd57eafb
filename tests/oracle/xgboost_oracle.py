"""Independent oracle for the Rust XGBoost evaluator: XGBoost's own predictions.

Usage: xgboost_oracle.py OUT_DIR NUM_FEATURES [FEATURE_NAMES_FILE [FEATURE_VERSION]]

Trains small models with XGBoost itself (fixed seeds) and writes, per model NAME:
  NAME.json              the model, as Booster.save_model writes it
  NAME.rows.f32          rows x features, little-endian f32 (NaN = missing)
  NAME.proba.f32         rows x classes, predict_proba-style probabilities
  NAME.contribs.f32      rows x groups x (features + 1), pred_contribs=True
  NAME.meta.json         {"rows", "features", "classes", "groups"}
Features are named from FEATURE_NAMES_FILE (one per line) if given, else f0, f1, ...; class 0 is
"Normal", the others c1, c2, ...; the feature_version attribute is FEATURE_VERSION (default 1).
Rows include NaNs, values exactly at split thresholds and the f32 just below them.
"""
import json
import sys

import numpy as np
import xgboost as xgb


def training_data(rng, n, features, classes):
    x = rng.normal(size=(n, features)).astype(np.float32)
    x[:, ::3] = np.round(x[:, ::3] * 4)  # some discrete features, so thresholds get hit exactly
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5) + (x[:, 2] * x[:, 3] > 1)
    y = np.minimum(y + (x[:, 4] > 1.5), classes - 1)
    x[rng.random(x.shape) < 0.15] = np.nan
    return x, y


def thresholds(model_json):
    """(feature, threshold) of every split in the model."""
    out = []
    for tree in model_json["learner"]["gradient_booster"]["model"]["trees"]:
        for left, feature, cond in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"]):
            if left != -1:
                out.append((feature, np.float32(cond)))
    return out


def probe_rows(rng, base, splits, n):
    """Rows from `base` with one split feature set exactly at, or just below, its threshold."""
    rows = base[rng.integers(0, len(base), size=n)].copy()
    picks = rng.integers(0, len(splits), size=n)
    for i, pick in enumerate(picks):
        feature, threshold = splits[pick]
        value = threshold if i % 2 == 0 else np.nextafter(threshold, np.float32(-np.inf))
        rows[i, feature] = value
    return rows


def main():
    out, features = sys.argv[1], int(sys.argv[2])
    names = [f"f{i}" for i in range(features)]
    if len(sys.argv) > 3:
        with open(sys.argv[3]) as f:
            names = [line.strip() for line in f if line.strip()]
        assert len(names) == features, f"{len(names)} feature names for {features} features"
    feature_version = sys.argv[4] if len(sys.argv) > 4 else "1"
    rng = np.random.default_rng(42)
    configs = [
        ("softprob", {"objective": "multi:softprob", "num_class": 7, "max_depth": 6, "eta": 0.3}, 7, 60),
        ("softmax", {"objective": "multi:softmax", "num_class": 3, "max_depth": 4, "eta": 0.5}, 3, 30),
        ("logistic", {"objective": "binary:logistic", "max_depth": 8, "eta": 0.1}, 2, 120),
    ]
    for name, params, classes, rounds in configs:
        x, y = training_data(rng, 4000, features, classes)
        booster = xgb.train({**params, "seed": 7, "nthread": 1}, xgb.DMatrix(x, label=y), rounds)
        booster.feature_names = names
        booster.set_attr(classes=json.dumps(["Normal"] + [f"c{i}" for i in range(1, classes)]), feature_version=feature_version)
        path = f"{out}/{name}.json"
        booster.save_model(path)
        with open(path) as f:
            splits = thresholds(json.load(f))
        fresh, _ = training_data(rng, 6000, features, classes)
        rows = np.vstack([fresh, probe_rows(rng, fresh, splits, 6000)]).astype(np.float32)
        # Reload from JSON, so the oracle scores exactly the file the Rust side reads.
        reloaded = xgb.Booster(model_file=path)
        reloaded.set_param({"nthread": 1})
        d = xgb.DMatrix(rows, feature_names=booster.feature_names)
        margin = reloaded.predict(d, output_margin=True)
        if params["objective"] == "binary:logistic":
            p = reloaded.predict(d)
            proba = np.stack([1 - p, p], axis=1)
        elif params["objective"] == "multi:softmax":
            # softmax predicts a class index; its probabilities are softprob's, from the margins.
            e = np.exp(margin - margin.max(axis=1, keepdims=True))
            proba = e / e.sum(axis=1, keepdims=True)
            assert (proba.argmax(axis=1) == reloaded.predict(d)).all()
        else:
            proba = reloaded.predict(d)
        contribs = reloaded.predict(d, pred_contribs=True)
        groups = 1 if contribs.ndim == 2 else contribs.shape[1]
        rows.astype("<f4").tofile(f"{out}/{name}.rows.f32")
        proba.astype("<f4").tofile(f"{out}/{name}.proba.f32")
        contribs.astype("<f4").tofile(f"{out}/{name}.contribs.f32")
        with open(f"{out}/{name}.meta.json", "w") as f:
            json.dump({"rows": len(rows), "features": features, "classes": classes, "groups": groups,
                       "objective": params["objective"], "xgboost": xgb.__version__}, f)


if __name__ == "__main__":
    main()
