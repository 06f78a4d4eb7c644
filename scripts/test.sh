#!/usr/bin/env bash
# Runs every test of snakepit: Rust (fmt, clippy, nextest, doc tests) and Python (ruff,
# pytest). Installs what it needs first: Ruby (for the classic-worker test) from apt, and a
# Python venv in .venv with msgpack, pytest, ruff, mypy and the bridge package itself.
# The server's tests also need Chromium (apt), playwright-core (npm) and schemathesis (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v ruby >/dev/null 2>&1; then
    echo "==> installing ruby"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "==> installing chromium (dashboard browser test)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "==> installing nodejs and npm (dashboard browser test)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "==> installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

echo "==> python environment (.venv)"
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "msgpack>=1.0" "pytest>=7" "ruff>=0.4" "mypy>=1.8"
# The original Snakepit's README data-science adapter (a source-compatibility test) needs these.
.venv/bin/python -m pip install -q --disable-pip-version-check numpy pandas scikit-learn
# gRPC compatibility tests: versions the original's stubs run on unchanged, and grpcio-tools
# to check our committed test stubs against proto/.
.venv/bin/python -m pip install -q --disable-pip-version-check "grpcio==1.76.0" "grpcio-tools==1.76.0" "protobuf==6.33.6"
.venv/bin/python -m pip install -q --disable-pip-version-check "schemathesis>=4.3,<5"
.venv/bin/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./python
rm -rf python/build python/src/*.egg-info
export SNAKEPIT_PYTHON="$PWD/.venv/bin/python"

echo "==> rust: fmt, clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> rust: tests"
cargo nextest run --workspace --locked --profile ci
cargo test --workspace --doc --locked

echo "==> scaffold: snakepit new adapter demo && setup && doctor && pytest && call"
(
    cargo build -q --locked -p snakepit-cli
    snakepit="$PWD/target/debug/snakepit"
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    cd "$scratch"
    env -u SNAKEPIT_PYTHON "$snakepit" -q new adapter demo
    cd demo
    env -u SNAKEPIT_PYTHON "$snakepit" -q setup
    env -u SNAKEPIT_PYTHON "$snakepit" doctor
    .venv/bin/python -m pytest -q
    env -u SNAKEPIT_PYTHON "$snakepit" call hello --args '{"name": "Ada"}'
)

echo "==> server: schemathesis against /openapi.json, dashboard in Chromium"
cargo build --locked -p snakepit-cli
bash scripts/api-fuzz.sh
(
    cd crates/snakepit-cli/tests/browser
    npm ci --no-audit --no-fund --loglevel=error
    npm test
)

echo "==> python: ruff, mypy, pytest"
(
    cd python
    ../.venv/bin/ruff check .
    ../.venv/bin/ruff format --check .
    ../.venv/bin/mypy
    ../.venv/bin/python -m pytest -q
)
