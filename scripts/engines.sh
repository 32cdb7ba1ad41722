#!/usr/bin/env bash
# The daemons and tools users run today that Debian does not ship, for
# layer-tool's tests: a real Docker 29 with its containerd image store,
# containerd 2, and nerdctl. They are built from source once per machine
# (scripts/build.sh); the daemons run with the runc built there. Source it
# (it sources scripts/lib.sh, scripts/containerd.sh and scripts/build.sh);
# don't run it.
#
#   lt_engines_build_start [engines] [dockerd] [nerdctl] [rclone]
#                            start builds in the background (their own
#                            session; log in $LT_BUILD/build.log), after
#                            installing what they need with apt: engines
#                            (the default) is runc and containerd 2,
#                            dockerd adds dockerd 29, nerdctl is nerdctl,
#                            rclone is the S3 server of the pipeline tests
#   lt_engines_build_wait    wait for them; fails if one failed
#   lt_engines_build_stop    stop the builds if still running
#   lt_docker29_start        start (or reuse) a private dockerd 29 in
#                            $LT_DOCKER29 that supervises its own
#                            containerd 2; exports DOCKER29_HOST
#   lt_docker29_stop         stop it (if this shell started it)
#   lt_docker29_base_image   load layer-tool-base and layer-tool-other from
#                            the private dockerd (DOCKER_HOST): the same
#                            diffIDs in both stores
#   lt_containerd2_start     start (or reuse) a private containerd 2 in
#                            $LT_CTRD2; exports CONTAINERD2_ADDRESS, and
#                            LT_CONTAINERD2_BIN (its ctr and shim)
#   lt_containerd2_stop      stop it (if this shell started it)
#   lt_containerd2_base_image
#                            the test images in its namespaces default and
#                            moby, as lt_containerd_base_image does
#   lt_nerdctl_setup         export LT_NERDCTL, the nerdctl built for the
#                            private containerd (scripts/containerd.sh),
#                            after checking that it runs
#
# Environment:
#   LT_DOCKER29  state dir of Docker 29 (default /tmp/layer-tool-docker29)
#   LT_CTRD2     state dir of containerd 2 (default
#                /tmp/layer-tool-containerd2), laid out as LT_CTRD
#   and scripts/build.sh's LT_BUILD and versions.
#
# Docker 29 is started like the private dockerd of scripts/lib.sh but
# without --storage-driver, so that it makes the choice it makes on a new
# install: the containerd image store with the overlayfs snapshotter. Its
# exec root gives it a containerd of its own, the containerd 2 built here
# (Docker 29's packages ship containerd 2 too).
#
# Like scripts/lib.sh, this file does not set errexit at top level; every
# function scopes its own options with `local -`.

if [[ -n "${_LT_ENGINES_SOURCED:-}" ]]; then
	return 0
fi
_LT_ENGINES_SOURCED=1

_LT_ENGINES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$_LT_ENGINES_DIR/lib.sh"
# shellcheck source=scripts/containerd.sh
source "$_LT_ENGINES_DIR/containerd.sh"
# shellcheck source=scripts/build.sh
source "$_LT_ENGINES_DIR/build.sh"

LT_DOCKER29="${LT_DOCKER29:-/tmp/layer-tool-docker29}"
LT_CTRD2="${LT_CTRD2:-/tmp/layer-tool-containerd2}"
_LT_BUILD_PID=""

# _lt_engines_path: the build dirs, to put in front of PATH.
_lt_engines_path() {
	printf '%s:%s:%s' "$LT_BUILD/runc-$LT_RUNC_VERSION" \
		"$LT_BUILD/containerd-$LT_CONTAINERD2_VERSION" \
		"$LT_BUILD/dockerd-$LT_DOCKERD29_VERSION"
}

lt_engines_build_start() {
	local -
	set -u -o pipefail
	local what w
	local -a builds=()
	(($# > 0)) || set -- engines
	for what in "$@"; do
		case "$what" in
		engines) builds+=(runc containerd2) ;;
		dockerd) builds+=(runc containerd2 dockerd29) ;;
		nerdctl) builds+=(nerdctl) ;;
		rclone) builds+=(rclone) ;;
		*)
			_lt_log "lt_engines_build_start: unknown build $what"
			return 1
			;;
		esac
	done
	# Each once, in a stable order.
	mapfile -t builds < <(printf '%s\n' "${builds[@]}" | sort -u)
	# Only runc links C (libseccomp).
	for w in "${builds[@]}"; do
		if [[ "$w" == runc ]]; then
			lt_build_deps || return 1
		fi
	done
	mkdir -p "$LT_BUILD" || return 1
	_lt_log "building (or finding in $LT_BUILD) ${builds[*]} in the background (log: $LT_BUILD/build.log)"
	# Own session: lt_engines_build_stop signals the whole group. The
	# builds share the Go caches; go handles concurrent use of them. The
	# settings go along (the caller need not have exported them).
	# shellcheck disable=SC2016 # expanded by the inner bash
	LT_BUILD="$LT_BUILD" LT_RUNC_VERSION="$LT_RUNC_VERSION" \
		LT_CONTAINERD2_VERSION="$LT_CONTAINERD2_VERSION" \
		LT_DOCKERD29_VERSION="$LT_DOCKERD29_VERSION" \
		LT_DOCKERD29_REPORTS="$LT_DOCKERD29_REPORTS" \
		LT_NERDCTL_VERSION="$LT_NERDCTL_VERSION" LT_RCLONE_VERSION="$LT_RCLONE_VERSION" setsid bash -c '
		source "$1"
		shift
		pids=()
		for b in "$@"; do
			"lt_build_$b" & pids+=($!)
		done
		rc=0
		for p in "${pids[@]}"; do
			wait "$p" || rc=1
		done
		exit $rc
	' lt-build "$_LT_ENGINES_DIR/build.sh" "${builds[@]}" </dev/null >>"$LT_BUILD/build.log" 2>&1 &
	_LT_BUILD_PID=$!
}

lt_engines_build_wait() {
	local rc=0
	if [[ -z "$_LT_BUILD_PID" ]]; then
		return 0
	fi
	wait "$_LT_BUILD_PID" || rc=$?
	_LT_BUILD_PID=""
	if ((rc != 0)); then
		_lt_log "building the daemons failed"
		_lt_dump_log "$LT_BUILD/build.log"
		return 1
	fi
}

lt_engines_build_stop() {
	local -
	set +e
	if [[ -n "$_LT_BUILD_PID" ]] && _lt_alive "$_LT_BUILD_PID"; then
		_lt_log "stopping the builds (pid $_LT_BUILD_PID)"
		kill -TERM -- "-$_LT_BUILD_PID" 2>/dev/null
		wait "$_LT_BUILD_PID" 2>/dev/null
	fi
	_LT_BUILD_PID=""
	return 0
}

lt_docker29_start() {
	PATH="$(_lt_engines_path):$PATH" LT_STATE="$LT_DOCKER29" LT_DRIVER=default \
		LT_HOST_VAR=DOCKER29_HOST LT_DOCKERD_ARGS="--ip6tables=false" lt_daemon_start || return 1
	_lt_log "$(DOCKER_HOST="$DOCKER29_HOST" docker version --format \
		'Docker {{.Server.Version}}, API {{.Server.APIVersion}}, containerd {{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}' 2>&1)"
}

lt_docker29_stop() {
	LT_STATE="$LT_DOCKER29" lt_daemon_stop
}

lt_docker29_base_image() {
	local -
	set -u -o pipefail
	local img
	for img in "$LT_BASE_IMAGE" "$LT_OTHER_IMAGE"; do
		if DOCKER_HOST="$DOCKER29_HOST" docker image inspect "$img" >/dev/null 2>&1; then
			continue
		fi
		docker save "$img" | DOCKER_HOST="$DOCKER29_HOST" docker load -q >/dev/null || {
			_lt_log "docker load of $img into Docker 29 failed"
			return 1
		}
		_lt_log "loaded $img into Docker 29"
	done
}

lt_containerd2_start() {
	local -
	set -u -o pipefail
	PATH="$(_lt_engines_path):$PATH" LT_CTRD="$LT_CTRD2" LT_CTRD_VAR=CONTAINERD2_ADDRESS \
		lt_containerd_start || return 1
	export LT_CONTAINERD2_BIN="$LT_BUILD/containerd-$LT_CONTAINERD2_VERSION"
	export LT_CTRD2
}

lt_containerd2_stop() {
	PATH="$(_lt_engines_path):$PATH" LT_CTRD="$LT_CTRD2" lt_containerd_stop
}

lt_containerd2_base_image() {
	local ns
	for ns in default moby; do
		PATH="$(_lt_engines_path):$PATH" LT_CTRD="$LT_CTRD2" LT_CTRD_NS="$ns" \
			lt_containerd_base_image || return 1
	done
}

# lt_nerdctl_setup: nerdctl runs on the private containerd with its own data
# root and CNI config dir in $LT_CTRD/nerdctl (pkg/cli's nerdctl command
# gives those flags). `--net none` needs no CNI plugin: nerdctl makes an
# empty network namespace then, and its OCI hook calls no plugin for it.
lt_nerdctl_setup() {
	local bin="$LT_BUILD/nerdctl-$LT_NERDCTL_VERSION/nerdctl"
	"$bin" --version >/dev/null || {
		_lt_log "no nerdctl at $bin (lt_build_nerdctl)"
		return 1
	}
	mkdir -p "$(_lt_ctrd_state)/nerdctl" || return 1
	export LT_NERDCTL="$bin"
	_lt_log "$("$bin" --version), data root in $(_lt_ctrd_state)/nerdctl"
}
