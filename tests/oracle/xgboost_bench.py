"""XGBoost's own single-thread prediction speed, the baseline of `cargo bench -p e2e --bench scoring`.

Usage: xgboost_bench.py OUT_DIR FEATURE_NAMES_FILE FEATURE_VERSION ROWS ROUNDS

Trains a 7-class multi:softprob model (ROUNDS rounds, depth 6, so 7 x ROUNDS trees; fixed seeds)
on synthetic rows with missing values, writes OUT_DIR/bench.json and OUT_DIR/bench.rows.f32
(ROWS rows, little-endian f32), and prints {"rows_per_sec": ...}: XGBoost's predict with
nthread=1 over those rows, best of 3. With the model and rows already in OUT_DIR (a rerun), only
the timing runs again: the baseline is always measured in the same run as what it is compared to.
"""
import os
import json
import sys
import time

import numpy as np
import xgboost as xgb

CLASSES = 7


def main():
    out, names_file, version, rows, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    with open(names_file) as f:
        names = [line.strip() for line in f if line.strip()]
    rng = np.random.default_rng(11)

    def data(n):
        x = rng.gamma(1.5, 2.0, size=(n, len(names))).astype(np.float32)
        score = x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * (x[:, 3] > 3) + rng.normal(size=n)
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, CLASSES + 1)[1:-1]))
        x[rng.random(x.shape) < 0.1] = np.nan
        return x, y

    if not (os.path.exists(f"{out}/bench.json") and os.path.exists(f"{out}/bench.rows.f32")):
        train(out, names, version, rows, rounds, data)
    test = np.fromfile(f"{out}/bench.rows.f32", dtype="<f4").reshape(-1, len(names))
    rows = len(test)

    model = xgb.Booster(model_file=f"{out}/bench.json")
    model.set_param({"nthread": 1})
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        model.inplace_predict(test)
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"rows_per_sec": rows / best, "trees": len(model.get_dump())}))


def train(out, names, version, rows, rounds, data):
    x, y = data(20000)
    params = {"objective": "multi:softprob", "num_class": CLASSES, "max_depth": 6, "eta": 0.1, "seed": 3, "nthread": 2}
    booster = xgb.train(params, xgb.DMatrix(x, label=y, feature_names=names), rounds)
    booster.set_attr(classes=json.dumps(["Normal"] + [f"c{i}" for i in range(1, CLASSES)]), feature_version=version)
    booster.save_model(f"{out}/bench.json")
    test, _ = data(rows)
    test.astype("<f4").tofile(f"{out}/bench.rows.f32")


if __name__ == "__main__":
    main()
