# Shared by the scripts: sourced, not run.
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

# Cargo's target directory for this workspace (honours CARGO_TARGET_DIR).
target_dir() {
    cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

# The tests' independent oracles, in a venv created once: XGBoost itself (the CPU wheel from
# PyPI; training links its library too) and schemathesis (the front against its OpenAPI
# document). Python runs only there, never in the product.
ORACLE_VENV=${TA_ORACLE_VENV:-/var/cache/traffic_analyzer/xgb-venv}
ORACLE_PACKAGES=(xgboost-cpu==3.2.0 numpy==2.4.6 schemathesis==4.32.5)
ensure_oracle_venv() {
    if "$ORACLE_VENV/bin/python" -c '
import importlib.metadata as m, xgboost, numpy
assert xgboost.__version__ == "3.2.0" and m.version("schemathesis") == "4.32.5"' 2>/dev/null; then
        echo "test oracle venv present ($ORACLE_VENV)"
    else
        python3 -m venv "$ORACLE_VENV"
        "$ORACLE_VENV/bin/pip" install -q "${ORACLE_PACKAGES[@]}"
    fi
    # The wheel's libxgboost, which the trainer (the xgb crate) links against: no download.
    XGBOOST_LIB_DIR=$("$ORACLE_VENV/bin/python" -c 'import os, xgboost; print(os.path.join(os.path.dirname(xgboost.__file__), "lib"))')
    export XGBOOST_LIB_DIR
}
