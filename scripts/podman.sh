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

lt_podman_start() {
	local -
	set -u -o pipefail
	local state
	state="$(_lt_podman_state)"
	_lt_podman_conf || return 1
	if _lt_podman_ping; then
		_lt_log "reusing podman service on $state/podman.sock"
	else
		rm -f "$state/podman.sock"
		_lt_log "starting podman system service in $state (log: $state/podman.log)"
		_LT_STARTED[podman:$state]=1
		# shellcheck disable=SC2016 # expanded by the inner bash
		lt_service_start "podman service" "$state/podman.log" _lt_podman_ping 60 -- bash -c '
			source "$1"
			LT_PODMAN="$2" LT_PODMAN_DRIVER="$3" lt_podman system service --time=0 "unix://$2/podman.sock"
		' lt-podman "${BASH_SOURCE[0]}" "$state" "$LT_PODMAN_DRIVER" || return 1
	fi
	export PODMAN_HOST="unix://$state/podman.sock"
	_lt_log "podman ready, PODMAN_HOST=$PODMAN_HOST"
}

# lt_podman_stop [force]: stop the service if this shell started it (or
# with "force"), then every conmon and container of this state dir.
lt_podman_stop() {
	local -
	set +e -u
	local state
	local -a pids=()
	state="$(_lt_podman_state)"
	if [[ "${_LT_STARTED[podman:$state]:-}" != 1 && "${1:-}" != force ]]; then
		return 0
	fi
	# Stop the containers the orderly way first (conmon cleans up, podman
	# unmounts their overlays), then the service.
	# shellcheck disable=SC2016 # expanded by the inner bash
	[[ -d "$state/root" ]] && timeout 60 bash -c 'source "$1"; LT_PODMAN="$2" LT_PODMAN_DRIVER="$3" lt_podman stop --all --time 0' \
		lt-podman "${BASH_SOURCE[0]}" "$state" "$LT_PODMAN_DRIVER" >/dev/null 2>&1
	# The service: `podman ... system service ... unix://$state/podman.sock`.
	mapfile -t pids < <(_lt_pids podman "unix://$state/podman.sock")
	lt_service_stop "podman service" 15 podman "unix://$state/podman.sock" "${pids[@]}"
	# conmon of our containers (its command line names our run root), and
	# the containers' inits, its children.
	mapfile -t pids < <(_lt_pids conmon "$state/")
	_lt_kill_tree "${pids[@]}"
	sleep 0.2
	_lt_unmount_below "$state"
	unset '_LT_STARTED[podman:$state]'
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
