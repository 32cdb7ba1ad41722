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
#
# A real Docker 29 (scripts/engines.sh; state in LT_DOCKER29, default
# ${LT_STATE}-docker29) with the containerd image store, which Docker 29
# picks on a new install, serves the Docker 29 tests at DOCKER29_HOST; it
# supervises a containerd 2 of its own. LT_DOCKER29_TESTS=0 leaves it out.
#
# A private containerd 2 (state in LT_CTRD2, default ${LT_STATE}-containerd2)
# serves the containerd tests a second time, at CONTAINERD2_ADDRESS, as
# containerd 1.6 (Debian's) serves them at CONTAINERD_ADDRESS.
# LT_CONTAINERD2_TESTS=0 leaves it out.
#
# A real nerdctl (LT_NERDCTL names it) makes containers and volumes in the
# private containerd for the nerdctl tests, with its data root in
# $LT_CTRD/nerdctl. LT_NERDCTL_TESTS=0 leaves it out (so does
# LT_CONTAINERD_TESTS=0).
#
# Docker 29, containerd 2, nerdctl, rclone and the runc they need are not
# in Debian (or too old there): they are built from their Go modules
# (scripts/build.sh) once per machine, into LT_BUILD (default
# /var/cache/layer-tool/build), a directory per version. On a new machine
# that takes about 5 minutes on 2 cores, in the background while the other
# daemons start; later runs find the binaries there.
#
# The pipeline tests (testdata/script/pipe_*.txtar) run the README's
# pipelines through real consumers: Debian's openssh-server, awscli and
# restic (installed here with apt; scripts/pipelines.sh) and an S3 API
# server, rclone serve s3 (scripts/build.sh builds rclone once per machine
# into LT_BUILD, beside the daemons above). Each script starts its own sshd
# or S3 server on 127.0.0.1 and stops it. LT_PIPELINE_TESTS=0 leaves them
# out (the cron one, which needs nothing more, still runs); otherwise a
# missing tool fails them.
#
# Without LT_DOCKER29_TESTS=0, LT_CONTAINERD2_TESTS=0 or LT_NERDCTL_TESTS=0,
# the Go tests (LAYER_TOOL_E2E=require) fail when DOCKER29_HOST,
# CONTAINERD2_ADDRESS or LT_NERDCTL is missing or does not answer.
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
LT_DOCKER29="${LT_DOCKER29:-${LT_STATE}-docker29}"
LT_CTRD2="${LT_CTRD2:-${LT_STATE}-containerd2}"
# shellcheck source=scripts/engines.sh
source "$ROOT/scripts/engines.sh"
# shellcheck source=scripts/pipelines.sh
source "$ROOT/scripts/pipelines.sh"

echo "layer-tool: go test -count=1 ./... $* against a private dockerd in $LT_STATE (LAYER_TOOL_E2E=require)" >&2

LT_VFS="${LT_VFS:-1}"
LT_PODMAN_TESTS="${LT_PODMAN_TESTS:-1}"
LT_CONTAINERD_TESTS="${LT_CONTAINERD_TESTS:-1}"
LT_DOCKER29_TESTS="${LT_DOCKER29_TESTS:-1}"
LT_CONTAINERD2_TESTS="${LT_CONTAINERD2_TESTS:-1}"
# nerdctl needs the private containerd.
LT_NERDCTL_TESTS="${LT_NERDCTL_TESTS:-$([[ "$LT_CONTAINERD_TESTS" == 0 ]] && echo 0 || echo 1)}"
LT_PIPELINE_TESTS="${LT_PIPELINE_TESTS:-1}"
# The Go tests read these: without a 0, a missing daemon is a failure.
export LT_DOCKER29_TESTS LT_CONTAINERD2_TESTS LT_NERDCTL_TESTS LT_PIPELINE_TESTS
LT_VFS_STATE="${LT_VFS_STATE:-${LT_STATE}-vfs}"

# shellcheck disable=SC2317 # called by the EXIT trap
_lt_test_cleanup() {
	lt_engines_build_stop
	lt_docker29_stop
	lt_containerd2_stop
	lt_containerd_stop
	lt_podman_stop
	lt_daemon_stop
	LT_STATE="$LT_VFS_STATE" lt_daemon_stop
}

# Stop the daemons (and the builds) however we leave (it only stops ones
# this shell started). INT/TERM are turned into exits so that the EXIT trap
# runs on Ctrl-C too.
trap _lt_test_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The builds first: they take longest, and run while apt installs and the
# other daemons start.
builds=()
if [[ "$LT_DOCKER29_TESTS" != 0 ]]; then
	builds+=(dockerd)
elif [[ "$LT_CONTAINERD2_TESTS" != 0 ]]; then
	builds+=(engines)
fi
if [[ "$LT_NERDCTL_TESTS" != 0 ]]; then
	builds+=(nerdctl)
fi
if [[ "$LT_PIPELINE_TESTS" != 0 ]]; then
	builds+=(rclone)
fi
if ((${#builds[@]} > 0)); then
	lt_engines_build_start "${builds[@]}"
fi
lt_install
# import_acl sets and reads POSIX ACLs in upper directories.
if ! command -v setfacl >/dev/null 2>&1 || ! command -v getfacl >/dev/null 2>&1; then
	lt_apt_install acl
fi
if [[ "$LT_PIPELINE_TESTS" != 0 ]]; then
	lt_pipeline_install
fi
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

if ((${#builds[@]} > 0)); then
	lt_engines_build_wait
fi
if [[ "$LT_NERDCTL_TESTS" != 0 ]]; then
	lt_nerdctl_setup
fi
if [[ "$LT_PIPELINE_TESTS" != 0 ]]; then
	lt_pipeline_rclone
fi
if [[ "$LT_CONTAINERD2_TESTS" != 0 ]]; then
	lt_containerd2_start
	lt_containerd2_base_image
fi
if [[ "$LT_DOCKER29_TESTS" != 0 ]]; then
	lt_docker29_start
	lt_docker29_base_image
fi

# With "require", the Go end-to-end tests fail instead of skipping when they
# cannot reach the daemon, so a broken setup cannot pass silently.
export LAYER_TOOL_E2E=require

cd "$ROOT"
status=0
go test -count=1 ./... "$@" || status=$?
exit "$status"
