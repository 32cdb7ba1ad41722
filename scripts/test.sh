#!/usr/bin/env bash
# The project's test command (used by the README and by .ci/run): runs every
# Go test, end-to-end ones included, against a private Docker daemon that this
# script starts and stops. Extra arguments go to `go test` (e.g. -run, -v).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

echo "layer-tool: go test -count=1 ./... $* against a private dockerd in $LT_STATE (LAYER_TOOL_E2E=require)" >&2

lt_install
# Stop the daemon however we leave (it only stops one this shell started).
# INT/TERM are turned into exits so that the EXIT trap runs on Ctrl-C too.
trap lt_daemon_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lt_daemon_start
lt_base_image

# With "require", the Go end-to-end tests fail instead of skipping when they
# cannot reach the daemon, so a broken setup cannot pass silently.
export LAYER_TOOL_E2E=require

cd "$ROOT"
status=0
go test -count=1 ./... "$@" || status=$?
exit "$status"
