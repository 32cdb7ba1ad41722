#!/usr/bin/env bash
# Helpers to run a private containerd (no dockerd, no CRI) for layer-tool's
# tests. Source it (it sources scripts/lib.sh); don't run it.
#
#   lt_containerd_install     install containerd and runc (apt, no recommends)
#   lt_ctr                    run ctr against the private socket, namespace
#                             $LT_CTRD_NS
#   lt_ctr_run ARGS...        `ctr run` with the overlayfs snapshotter, a
#                             private runc root and FIFO dir:
#                             lt_ctr_run IMAGE ID CMD...
#   lt_ctr_start ID           run a stopped container's process again
#                             (`ctr tasks start`, FIFOs in $LT_CTRD/fifo)
#   lt_containerd_start       start (or reuse) `containerd --config
#                             $LT_CTRD/config.toml`, the one on PATH (with
#                             its shim and runc: put containerd 2's first
#                             to run that); exports
#                             CONTAINERD_ADDRESS=$LT_CTRD/containerd.sock
#                             (or the variable LT_CTRD_VAR names)
#   lt_containerd_stop [force]
#                             stop it (if this shell started it, or with
#                             "force"), its shims and their containers, and
#                             unmount what is left under $LT_CTRD; safe to
#                             call twice and from an EXIT trap
#   lt_containerd_base_image  import layer-tool-base and layer-tool-other
#                             from the private dockerd (scripts/lib.sh:
#                             lt_daemon_start and lt_base_image first,
#                             DOCKER_HOST pointing at it), unpacked for the
#                             overlayfs snapshotter
#
# Environment:
#   LT_CTRD     state dir (default /tmp/layer-tool-containerd): root/ is
#               containerd's root (root/io.containerd.snapshotter.v1.overlayfs/
#               snapshots/<n>/fs are the snapshots), state/ its state dir,
#               runc/ the runc root of lt_ctr_run's containers, fifo/ ctr's
#               IO FIFOs
#   LT_CTRD_NS  namespace lt_ctr uses (default moby, as dockerd's)
#   LT_CTRD_VAR variable lt_containerd_start exports the socket in (default
#               CONTAINERD_ADDRESS)
#
# Left outside $LT_CTRD (containerd 1.6 has no switch for them): the shims'
# sockets in /run/containerd/s/ (removed when a shim exits normally), and
# the containers' cgroups (/<namespace>/<id> under each controller, removed
# with the task). Plain `ctr run`/`ctr tasks start` without --fifo-dir
# also creates /run/containerd/fifo/.
#
# Like scripts/lib.sh, this file does not set errexit at top level; every
# function scopes its own options with `local -`.

if [[ -n "${_LT_CTRD_SOURCED:-}" ]]; then
	return 0
fi
_LT_CTRD_SOURCED=1

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LT_CTRD="${LT_CTRD:-/tmp/layer-tool-containerd}"
LT_CTRD_NS="${LT_CTRD_NS:-moby}"
LT_CTRD_VAR="${LT_CTRD_VAR:-CONTAINERD_ADDRESS}"

# _lt_ctrd_state: LT_CTRD as an absolute, symlink-free path (what
# /proc/mounts and the shims' command lines show).
_lt_ctrd_state() {
	realpath -m -- "$LT_CTRD"
}

lt_containerd_install() {
	command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 &&
		command -v runc >/dev/null 2>&1 && return 0
	lt_apt_install containerd runc
}

# _lt_ctrd_conf_version: the config file version the containerd on PATH
# writes by default: 2 for containerd 1.x (its `config default` says
# nothing), 3 for containerd 2.0 to 2.3, 4 from 2.4 on.
_lt_ctrd_conf_version() {
	local v
	command -v containerd >/dev/null 2>&1 || return 1
	v="$(containerd config default 2>/dev/null | awk -F' *= *' '$1 == "version" { print $2; exit }')"
	[[ "$v" =~ ^[0-9]+$ ]] || v=2
	echo "$v"
}

# _lt_ctrd_conf: write the private config file (once), in the format of
# the containerd on PATH, so that it need not migrate it at each start (and
# log that it did). containerd 1.5 to 1.7 read version 2; containerd 2
# split CRI into io.containerd.cri.v1.* plugins and dropped aufs (version
# 3), and 2.4 moved the sockets' addresses into the server plugins' sections
# (version 4), whose default ttrpc socket would be the system's.
_lt_ctrd_conf() {
	local state version
	local -a disabled=()
	state="$(_lt_ctrd_state)"
	mkdir -p "$state/root" "$state/state" "$state/tmp" "$state/opt" "$state/runc" "$state/fifo" || return 1
	[[ -f "$state/config.toml" ]] && return 0
	version="$(_lt_ctrd_conf_version)" || {
		_lt_log "no containerd on PATH (lt_containerd_install)"
		return 1
	}
	# No CRI (it would want CNI and a sandbox image); no snapshotters this
	# machine cannot serve (their failed loads only fill the log).
	disabled=(io.containerd.grpc.v1.cri io.containerd.snapshotter.v1.btrfs
		io.containerd.snapshotter.v1.devmapper io.containerd.snapshotter.v1.zfs)
	if ((version >= 3)); then
		disabled+=(io.containerd.cri.v1.images io.containerd.cri.v1.runtime
			io.containerd.podsandbox.controller.v1.podsandbox
			io.containerd.snapshotter.v1.blockfile io.containerd.snapshotter.v1.erofs)
	else
		disabled+=(io.containerd.snapshotter.v1.aufs)
	fi
	{
		echo "version = $version"
		echo "root = \"$state/root\""
		echo "state = \"$state/state\""
		echo "temp = \"$state/tmp\""
		echo "disabled_plugins = ["
		printf '  "%s",\n' "${disabled[@]}"
		echo "]"
		echo
		echo "[debug]"
		echo "  level = \"info\""
		if ((version < 4)); then
			cat <<EOF
  address = ""

[grpc]
  address = "$state/containerd.sock"

[ttrpc]
  address = ""
EOF
		fi
		echo
		echo "[plugins]"
		if ((version >= 4)); then
			cat <<EOF
  [plugins."io.containerd.server.v1.grpc"]
    address = "$state/containerd.sock"
  [plugins."io.containerd.server.v1.ttrpc"]
    address = "$state/containerd.sock.ttrpc"
  [plugins."io.containerd.server.v1.debug"]
    address = ""
EOF
		fi
		cat <<EOF
  [plugins."io.containerd.internal.v1.opt"]
    path = "$state/opt"
EOF
	} >"$state/config.toml.tmp" && mv "$state/config.toml.tmp" "$state/config.toml"
}

_lt_ctrd_ping() {
	local sock
	sock="$(_lt_ctrd_state)/containerd.sock"
	[[ -S "$sock" ]] || return 1
	timeout 5 ctr -a "$sock" version >/dev/null 2>&1
}

# lt_ctr ARGS...: ctr on the private socket and namespace.
lt_ctr() {
	ctr -a "$(_lt_ctrd_state)/containerd.sock" -n "$LT_CTRD_NS" "$@"
}

# lt_ctr_run [FLAGS...] IMAGE ID [CMD...]: `ctr run` as the tests need it:
# overlayfs snapshots (the key of the container's active snapshot is ID),
# runc's state under $LT_CTRD/runc, no network namespace setup beyond an
# empty one. The container is left stopped (not --rm) when CMD exits.
lt_ctr_run() {
	lt_ctr run --snapshotter overlayfs --runc-root "$(_lt_ctrd_state)/runc" \
		--fifo-dir "$(_lt_ctrd_state)/fifo" "$@"
}

# lt_ctr_start ID: start a new task for a container whose task is gone
# (lt_ctr_run deletes it when the process exits), attached, like lt_ctr_run.
lt_ctr_start() {
	lt_ctr tasks start --fifo-dir "$(_lt_ctrd_state)/fifo" "$@"
}

lt_containerd_start() {
	local -
	set -u -o pipefail
	local state
	state="$(_lt_ctrd_state)"
	_lt_ctrd_conf || return 1
	if _lt_ctrd_ping; then
		_lt_log "reusing containerd on $state/containerd.sock"
	else
		rm -f "$state/containerd.sock"
		_lt_log "starting private containerd in $state (log: $state/containerd.log)"
		_LT_STARTED[containerd:$state]=1
		lt_service_start containerd "$state/containerd.log" _lt_ctrd_ping 60 -- \
			containerd --config "$state/config.toml" || return 1
	fi
	if [[ ! "$LT_CTRD_VAR" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
		_lt_log "LT_CTRD_VAR=$LT_CTRD_VAR is not a variable name"
		return 1
	fi
	printf -v "$LT_CTRD_VAR" '%s' "$state/containerd.sock"
	export "${LT_CTRD_VAR?}"
	_lt_log "containerd ready ($(containerd --version | cut -d' ' -f3)), $LT_CTRD_VAR=$state/containerd.sock"
}

# _lt_ctrd_cgroups PID: the cgroup directories of PID, one a line (v1: one
# per controller hierarchy; v2 or hybrid: the unified one).
_lt_ctrd_cgroups() {
	local line ctrl path
	while IFS= read -r line; do
		line="${line#*:}"
		ctrl="${line%%:*}"
		path="${line#*:}"
		[[ "$path" != / ]] || continue
		if [[ -z "$ctrl" ]]; then
			[[ -d /sys/fs/cgroup/unified ]] && echo "/sys/fs/cgroup/unified$path" || echo "/sys/fs/cgroup$path"
		else
			echo "/sys/fs/cgroup/${ctrl#name=}$path"
		fi
	done 2>/dev/null <"/proc/$1/cgroup"
}

# _lt_ctrd_thaw DIR...: thaw the freezer cgroups among DIRs (a paused
# container's processes take a SIGKILL only once thawed).
_lt_ctrd_thaw() {
	local d
	for d in "$@"; do
		[[ -f "$d/freezer.state" ]] && echo THAWED >"$d/freezer.state" 2>/dev/null
		[[ -f "$d/cgroup.freeze" ]] && echo 0 >"$d/cgroup.freeze" 2>/dev/null
	done
	return 0
}

lt_containerd_stop() {
	local -
	set +e -u
	local state sock ns t p m
	local -a pids=() kids=() cgdirs=()
	state="$(_lt_ctrd_state)"
	sock="$state/containerd.sock"
	if [[ "${_LT_STARTED[containerd:$state]:-}" != 1 && "${1:-}" != force ]]; then
		return 0
	fi
	# The orderly way first, while containerd answers: resume paused tasks
	# (a frozen process does not die of SIGKILL), kill and delete every task,
	# which unmounts its rootfs and removes its cgroup.
	if _lt_ctrd_ping; then
		for ns in $(ctr -a "$sock" namespaces ls -q 2>/dev/null); do
			for t in $(ctr -a "$sock" -n "$ns" tasks ls -q 2>/dev/null); do
				ctr -a "$sock" -n "$ns" tasks resume "$t" >/dev/null 2>&1
				timeout 30 ctr -a "$sock" -n "$ns" tasks delete --force "$t" >/dev/null 2>&1 ||
					_lt_log "could not delete task $ns/$t"
			done
		done
	fi
	mapfile -t pids < <(_lt_pids containerd " --config $state/config.toml")
	lt_service_stop containerd 15 containerd " --config $state/config.toml" "${pids[@]}"
	# Shims outlive containerd by design; ours name our socket with
	# -address. Their children are the containers' inits: kill those first,
	# each in its cgroups, thawed (a frozen process takes SIGKILL only then).
	mapfile -t pids < <(_lt_pids 'containerd-shim*' " -address $sock ")
	mapfile -t kids < <(_lt_children "${pids[@]}")
	for p in "${kids[@]}"; do
		mapfile -t -O "${#cgdirs[@]}" cgdirs < <(_lt_ctrd_cgroups "$p")
	done
	_lt_kill_containers "${kids[@]}"
	_lt_ctrd_thaw "${cgdirs[@]}"
	lt_service_stop containerd-shim 10 'containerd-shim*' " -address $sock " "${pids[@]}"
	# The killed containers' cgroups, now empty (deleting the task would
	# have removed them).
	for m in "${cgdirs[@]}"; do
		rmdir -- "$m" 2>/dev/null
	done
	_lt_unmount_below "$state"
	unset '_LT_STARTED[containerd:$state]'
	return 0
}

# lt_containerd_base_image: copy the test images from the private dockerd
# (DOCKER_HOST) into containerd's namespace, unpacked into overlayfs
# snapshots, so that both stores have the same rootfs diffIDs. `docker
# save` of layer-tool-base:latest is imported as
# docker.io/library/layer-tool-base:latest.
lt_containerd_base_image() {
	local -
	set -u -o pipefail
	local img
	for img in layer-tool-base:latest layer-tool-other:latest; do
		if lt_ctr images check "name==docker.io/library/$img" 2>/dev/null |
			awk 'NR > 1 && $NF == "true" { ok = 1 } END { exit !ok }'; then
			continue
		fi
		docker save "$img" | lt_ctr images import --snapshotter overlayfs - >/dev/null || {
			_lt_log "ctr images import of $img failed"
			return 1
		}
		_lt_log "imported $img into containerd ($LT_CTRD_NS)"
	done
}
