#!/usr/bin/env bash
# Property-based test of the HTTP API: starts `snakepit serve` on a free loopback port and
# runs schemathesis against its /openapi.json. Fails on any 5xx from malformed input
# (other than the documented 503/504) and on any response that does not match the schema.
# Needs: target/debug/snakepit built, .venv with schemathesis, SNAKEPIT_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/debug/snakepit
out=$(mktemp)
"$bin" serve --bind 127.0.0.1:0 --workers 2 >"$out" 2>"$out.err" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$out" "$out.err"' EXIT
for _ in $(seq 1 300); do
    grep -q '^listening on ' "$out" && break
    kill -0 "$server" 2>/dev/null || { cat "$out.err"; echo "snakepit serve did not start"; exit 1; }
    sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$out" | head -n1)
[ -n "$base" ] || { cat "$out.err"; echo "snakepit serve printed no address"; exit 1; }
.venv/bin/schemathesis --config-file crates/snakepit-server/tests/api/schemathesis.toml \
    run "$base/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --exclude-path /v1/events \
    --max-examples 30 --request-timeout 20 --no-color
kill -TERM "$server"
wait "$server"
