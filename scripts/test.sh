#!/usr/bin/env bash
# The project's test command (used by the README and by .ci/run): runs every
# Go test, end-to-end ones included, against a private Docker daemon that this
# script starts and stops. Extra arguments go to `go test` (e.g. -run, -v).
#
# A second private daemon with the vfs storage driver (state in LT_VFS_STATE,
# default /tmp/layer-tool-docker-vfs) lets the tests see how the tool refuses
# a non-overlay2 daemon; its address goes to DOCKER_HOST_VFS. LT_VFS=0 leaves
# it out (the tests that need it then skip, unless DOCKER_HOST_VFS is given).
#
# A private rootful Podman (scripts/podman.sh; state in LT_PODMAN, default
# /tmp/layer-tool-podman) serves its Docker-compatible API at PODMAN_HOST for
# the cross-engine tests. LT_PODMAN_TESTS=0 leaves it out.
#
# A private containerd (scripts/containerd.sh; state in LT_CTRD, default
# ${LT_STATE}-containerd) with the test images in namespaces default and
# moby serves the containerd tests at CONTAINERD_ADDRESS; they also stand in
# for Docker 29's containerd image store. LT_CONTAINERD_TESTS=0 leaves it
# out.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
LT_PODMAN="${LT_PODMAN:-${LT_STATE}-podman}"
# shellcheck source=scripts/podman.sh
source "$ROOT/scripts/podman.sh"
LT_CTRD="${LT_CTRD:-${LT_STATE}-containerd}"
# shellcheck source=scripts/containerd.sh
source "$ROOT/scripts/containerd.sh"

echo "layer-tool: go test -count=1 ./... $* against a private dockerd in $LT_STATE (LAYER_TOOL_E2E=require)" >&2

LT_VFS="${LT_VFS:-1}"
LT_PODMAN_TESTS="${LT_PODMAN_TESTS:-1}"
LT_CONTAINERD_TESTS="${LT_CONTAINERD_TESTS:-1}"
LT_VFS_STATE="${LT_VFS_STATE:-${LT_STATE}-vfs}"

# shellcheck disable=SC2317 # called by the EXIT trap
_lt_test_cleanup() {
	lt_containerd_stop
	lt_podman_stop
	lt_daemon_stop
	LT_STATE="$LT_VFS_STATE" lt_daemon_stop
}

lt_install
# Stop the daemons however we leave (it only stops ones this shell started).
# INT/TERM are turned into exits so that the EXIT trap runs on Ctrl-C too.
trap _lt_test_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lt_daemon_start
lt_base_image

if [[ "$LT_VFS" != 0 ]]; then
	LT_STATE="$LT_VFS_STATE" LT_DRIVER=vfs LT_HOST_VAR=DOCKER_HOST_VFS lt_daemon_start
	DOCKER_HOST="$DOCKER_HOST_VFS" lt_base_image
fi

if [[ "$LT_PODMAN_TESTS" != 0 ]]; then
	lt_podman_install
	lt_podman_start
	lt_podman_base_image
fi

if [[ "$LT_CONTAINERD_TESTS" != 0 ]]; then
	lt_containerd_install
	lt_containerd_start
	LT_CTRD_NS=default lt_containerd_base_image
	LT_CTRD_NS=moby lt_containerd_base_image
	export LT_CTRD
fi

# With "require", the Go end-to-end tests fail instead of skipping when they
# cannot reach the daemon, so a broken setup cannot pass silently.
export LAYER_TOOL_E2E=require

cd "$ROOT"
status=0
go test -count=1 ./... "$@" || status=$?
exit "$status"
