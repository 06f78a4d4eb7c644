#!/usr/bin/env bash
# Runs every test of snakepit: Rust (fmt, clippy, nextest, doc tests), Python (ruff, mypy,
# pytest), Node (eslint, tsc on the shipped types, node --test), the server's API fuzzing
# (schemathesis) and its dashboard in a real browser. Installs what it needs first: Ruby
# (for the classic-worker test), Node.js with npm and Chromium from apt when missing, a
# Python venv in .venv with its packages and the bridge package itself, and the npm
# dependencies of the Node bridge and of the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v ruby >/dev/null 2>&1; then
    echo "==> installing ruby"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "==> installing chromium"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "==> installing nodejs and npm"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
    echo "error: the Node bridge needs Node.js 18 or newer, found $(node --version)" >&2
    exit 1
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
# Large data through shared memory: Arrow record batches (issue 17).
.venv/bin/python -m pip install -q --disable-pip-version-check pyarrow
# gRPC compatibility tests: versions the original's stubs run on unchanged, and grpcio-tools
# to check our committed test stubs against proto/.
.venv/bin/python -m pip install -q --disable-pip-version-check "grpcio==1.76.0" "grpcio-tools==1.76.0" "protobuf==6.33.6"
.venv/bin/python -m pip install -q --disable-pip-version-check "schemathesis>=4.3,<5"
.venv/bin/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./python
rm -rf python/build python/src/*.egg-info
export SNAKEPIT_PYTHON="$PWD/.venv/bin/python"

echo "==> node environment (node/node_modules)"
(cd node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

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

echo "==> node: eslint, types, node --test"
(
    cd node
    npm run --silent lint
    npm test --silent
)
