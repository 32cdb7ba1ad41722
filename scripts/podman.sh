#!/usr/bin/env bash
# Helpers to run a private, rootful Podman with its Docker-compatible API,
# for layer-tool's tests. Source it (it sources scripts/lib.sh); don't
# run it.
#
#   lt_podman_install     install podman (apt, no recommends)
#   lt_podman             run the podman CLI against the private state dir
#   lt_podman_start       start (or reuse) `podman system service`; exports
#                         PODMAN_HOST=unix://$LT_PODMAN/podman.sock (never
#                         DOCKER_HOST: set DOCKER_HOST=$PODMAN_HOST per command)
#   lt_podman_stop        stop the service, the containers' conmon and init
#                         processes, and unmount what is left under $LT_PODMAN;
#                         safe to call twice and from an EXIT trap
#   lt_podman_base_image  load layer-tool-base and layer-tool-other from the
#                         private dockerd (scripts/lib.sh: lt_daemon_start and
#                         lt_base_image first, DOCKER_HOST pointing at it)
#
# Environment:
#   LT_PODMAN         state dir (default /tmp/layer-tool-podman): root/ is
#                     the storage root (overlay/<id>/diff), run/ the run root,
#                     run/libpod podman's tmp dir, conf/ the config files
#   LT_PODMAN_DRIVER  storage driver (default overlay)
#
# Nothing of the host's podman configuration is used: CONTAINERS_CONF,
# CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF point at files in
# $LT_PODMAN/conf (no registries: nothing is ever pulled), events go to a
# file, cgroups are managed by cgroupfs (no systemd), containers get no
# network unless told otherwise, and their rlimits fit the sandbox (which
# refuses podman's default nofile/nproc of 1048576).
#
# Containers made through the Docker-compatible API (`docker create` with
# DOCKER_HOST=$PODMAN_HOST) get the "bridge" network whatever netns says:
# create them with `--network none` (HostConfig.NetworkMode "none"), or they
# fail to start ("failed to find plugin bridge"), by design (see below).
#
# Left outside $LT_PODMAN (podman 4.3 has no switch for them):
# /var/lib/containers/cache/blob-info-cache-v1.boltdb (written by `podman
# load`), and a /run/netns bind mount if a bridge container was attempted.
#
# Like scripts/lib.sh, this file does not set errexit at top level; every
# function scopes its own options with `local -`.

if [[ -n "${_LT_PODMAN_SOURCED:-}" ]]; then
	return 0
fi
_LT_PODMAN_SOURCED=1

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LT_PODMAN="${LT_PODMAN:-/tmp/layer-tool-podman}"
LT_PODMAN_DRIVER="${LT_PODMAN_DRIVER:-overlay}"

declare -gA _LT_PODMAN_STARTED=() # state dir -> 1 when this shell launched its service


_lt_podman_state() {
	realpath -m -- "$LT_PODMAN"
}

lt_podman_install() {
	command -v podman >/dev/null 2>&1 && return 0
	lt_apt_install podman
}

# _lt_podman_conf: write the private config files (once).
_lt_podman_conf() {
	local state conf
	state="$(_lt_podman_state)"
	conf="$state/conf"
	mkdir -p "$conf" "$state/root" "$state/run/libpod" "$state/tmp" "$state/no-cni-plugins" || return 1
	[[ -f "$conf/storage.conf" ]] || cat >"$conf/storage.conf" <<EOF || return 1
[storage]
driver = "$LT_PODMAN_DRIVER"
graphroot = "$state/root"
runroot = "$state/run"
EOF
	[[ -f "$conf/registries.conf" ]] || cat >"$conf/registries.conf" <<EOF || return 1
unqualified-search-registries = []
short-name-mode = "permissive"
EOF
	[[ -f "$conf/containers.conf" ]] || cat >"$conf/containers.conf" <<EOF || return 1
[containers]
netns = "none"
log_driver = "k8s-file"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[network]
network_backend = "cni"
network_config_dir = "$state/net"
# No plugins there: a container left on the default "bridge" network (the
# Docker-compatible API's default, whatever netns says) fails to start
# instead of creating cni-podman0 and iptables chains on the host.
cni_plugin_dirs = ["$state/no-cni-plugins"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$state/events.log"
tmp_dir = "$state/run/libpod"
volume_path = "$state/root/volumes"
static_dir = "$state/root/libpod"
runtime = "runc"
EOF
}

# lt_podman ARGS...: the podman CLI on the private state.
lt_podman() {
	local state
	state="$(_lt_podman_state)"
	_lt_podman_conf || return 1
	CONTAINERS_CONF="$state/conf/containers.conf" \
		CONTAINERS_STORAGE_CONF="$state/conf/storage.conf" \
		CONTAINERS_REGISTRIES_CONF="$state/conf/registries.conf" \
		TMPDIR="$state/tmp" \
		podman --root "$state/root" --runroot "$state/run" \
		--storage-driver "$LT_PODMAN_DRIVER" \
		--cgroup-manager cgroupfs --events-backend file \
		--tmpdir "$state/run/libpod" "$@"
}

_lt_podman_ping() {
	local sock
	sock="$(_lt_podman_state)/podman.sock"
	[[ -S "$sock" ]] || return 1
	curl -fsS --max-time 3 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1
}

# _lt_podman_service_pids: pids of `podman ... system service` serving our
# socket, recognised by their command line.
_lt_podman_service_pids() {
	local state p comm cmdline
	state="$(_lt_podman_state)"
	for p in /proc/[0-9]*; do
		p="${p#/proc/}"
		comm="$(cat "/proc/$p/comm" 2>/dev/null)" || continue
		[[ "$comm" == podman ]] || continue
		cmdline="$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" || continue
		[[ "$cmdline" == *" system service "*"unix://$state/podman.sock"* ]] && echo "$p"
	done
}

lt_podman_start() {
	local -
	set -u -o pipefail
	local state launcher deadline
	state="$(_lt_podman_state)"
	_lt_podman_conf || return 1
	if _lt_podman_ping; then
		_lt_log "reusing podman service on $state/podman.sock"
	else
		rm -f "$state/podman.sock"
		_lt_log "starting podman system service in $state (log: $state/podman.log)"
		# shellcheck disable=SC2016 # expanded by the inner bash
		setsid --wait nohup bash -c '
			source "$1"
			LT_PODMAN="$2" LT_PODMAN_DRIVER="$3" lt_podman system service --time=0 "unix://$2/podman.sock"
		' lt-podman "${BASH_SOURCE[0]}" "$state" "$LT_PODMAN_DRIVER" \
			</dev/null >>"$state/podman.log" 2>&1 &
		launcher=$!
		_LT_PODMAN_STARTED[$state]=1
		deadline=$((SECONDS + 60))
		until _lt_podman_ping; do
			if ! kill -0 "$launcher" 2>/dev/null || ((SECONDS >= deadline)); then
				_lt_log "podman service did not answer /_ping"
				tail -n 30 "$state/podman.log" >&2
				return 1
			fi
			sleep 0.2
		done
	fi
	export PODMAN_HOST="unix://$state/podman.sock"
	_lt_log "podman ready, PODMAN_HOST=$PODMAN_HOST"
}

# lt_podman_stop [force]: stop the service if this shell started it (or
# with "force"), then every conmon and container of this state dir.
lt_podman_stop() {
	local -
	set +e -u
	local state p comm cmdline ppid deadline m
	local -A conmons=()
	state="$(_lt_podman_state)"
	if [[ "${_LT_PODMAN_STARTED[$state]:-}" != 1 && "${1:-}" != force ]]; then
		return 0
	fi
	# Stop the containers the orderly way first (conmon cleans up, podman
	# unmounts their overlays), then the service.
	# shellcheck disable=SC2016 # expanded by the inner bash
	[[ -d "$state/root" ]] && timeout 60 bash -c 'source "$1"; LT_PODMAN="$2" LT_PODMAN_DRIVER="$3" lt_podman stop --all --time 0' \
		lt-podman "${BASH_SOURCE[0]}" "$state" "$LT_PODMAN_DRIVER" >/dev/null 2>&1
	for p in $(_lt_podman_service_pids); do
		_lt_log "stopping podman service (pid $p)"
		kill -TERM "$p" 2>/dev/null
	done
	deadline=$((SECONDS + 15))
	while [[ -n "$(_lt_podman_service_pids)" ]] && ((SECONDS < deadline)); do
		sleep 0.2
	done
	for p in $(_lt_podman_service_pids); do
		kill -KILL "$p" 2>/dev/null
	done
	# conmon of our containers: its command line names our run root.
	for p in /proc/[0-9]*; do
		p="${p#/proc/}"
		comm="$(cat "/proc/$p/comm" 2>/dev/null)" || continue
		[[ "$comm" == conmon ]] || continue
		cmdline="$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" || continue
		[[ "$cmdline" == *"$state/"* ]] && conmons[$p]=1
	done
	# Container inits are the conmons' children: kill them first.
	for p in /proc/[0-9]*; do
		p="${p#/proc/}"
		[[ -z "${conmons[$p]:-}" ]] || continue
		ppid="$(awk '{ sub(/.*\) /, ""); print $2 }' "/proc/$p/stat" 2>/dev/null)" || continue
		if [[ -n "${conmons[$ppid]:-}" ]]; then
			_lt_log "killing container process $(cat "/proc/$p/comm" 2>/dev/null) (pid $p)"
			kill -KILL "$p" 2>/dev/null
		fi
	done
	for p in "${!conmons[@]}"; do
		_lt_log "killing conmon (pid $p)"
		kill -KILL "$p" 2>/dev/null
	done
	sleep 0.2
	_lt_unmount_below "$state"
	unset '_LT_PODMAN_STARTED[$state]'
	return 0
}

# lt_podman_base_image: copy the test images from the private dockerd
# (DOCKER_HOST) into podman's storage, so that both have the same rootfs
# diffIDs.
lt_podman_base_image() {
	local -
	set -u -o pipefail
	local img
	for img in layer-tool-base:latest layer-tool-other:latest; do
		if lt_podman image exists "$img"; then
			continue
		fi
		docker save "$img" | lt_podman load -q >/dev/null || {
			_lt_log "podman load of $img failed"
			return 1
		}
		_lt_log "loaded $img into podman"
	done
}
