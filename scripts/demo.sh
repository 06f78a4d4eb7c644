#!/usr/bin/env bash
# Builds the snakepit CLI and runs its demo: a real pool of Python workers answering calls.
# Needs only cargo and python3 on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p snakepit-cli
exec target/release/snakepit demo "$@"
