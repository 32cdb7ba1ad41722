#!/usr/bin/env bash
# Shared helpers for layer-tool's test and demo scripts. Source it; don't run it.
#
#   lt_install        install dockerd, static busybox, getfattr/setfattr, zstd (apt)
#   lt_daemon_start   start (or reuse) a private dockerd; exports DOCKER_HOST
#                     (or the variable named by LT_HOST_VAR)
#   lt_daemon_stop    stop it again, but only if this shell started it
#   lt_base_image     build layer-tool-base:latest and layer-tool-other:latest
#
# and, for the daemons of scripts/podman.sh and scripts/containerd.sh too:
#
#   lt_apt_install PKG...            install Debian packages (apt-get update
#                                    once per shell)
#   lt_service_start NAME LOG READY TIMEOUT -- CMD...
#                                    start a daemon in its own session and wait
#                                    until the command READY succeeds
#   lt_service_wait NAME LOG READY TIMEOUT [PID]
#                                    wait for a daemon that is starting
#   lt_service_stop NAME TIMEOUT COMM NEEDLE PID...
#                                    SIGTERM, wait, SIGKILL; only processes that
#                                    still look like ours are signalled
#
# Environment:
#   LT_STATE     state dir of the private daemon (default /tmp/layer-tool-docker)
#   LT_DRIVER    storage driver of a daemon lt_daemon_start launches
#                (default overlay2; "default": no --storage-driver, the
#                daemon's own choice, which for Docker 29 is the containerd
#                image store)
#   LT_DOCKERD_ARGS  more dockerd flags, split at spaces (e.g.
#                "--ip6tables=false", which Docker 20.10 does not know)
#   LT_HOST_VAR  variable lt_daemon_start exports the daemon's address in
#                (default DOCKER_HOST)
#   LT_BUSYBOX   static busybox copied into the images (default /bin/busybox)
#
# Several daemons can run side by side, each with its own state dir. Give
# the variables for the duration of each call, e.g. a second daemon with the
# vfs driver whose address goes to DOCKER_HOST_VFS (DOCKER_HOST untouched):
#
#   LT_STATE=/tmp/layer-tool-docker-vfs LT_DRIVER=vfs \
#       LT_HOST_VAR=DOCKER_HOST_VFS lt_daemon_start
#   LT_STATE=/tmp/layer-tool-docker-vfs lt_daemon_stop
#
# This file deliberately does not run `set -euo pipefail` at top level: that
# would change the options of whatever shell sources it (an interactive shell
# would then exit on the first failing command). The scripts that source it set
# those options themselves; every function here scopes its own options with
# `local -` and reports failure through its return status, so it behaves the
# same with or without errexit.

# Guard against double sourcing (e.g. a script sourcing it twice).
if [[ -n "${_LT_LIB_SOURCED:-}" ]]; then
	return 0
fi
_LT_LIB_SOURCED=1

LT_STATE="${LT_STATE:-/tmp/layer-tool-docker}"
LT_DRIVER="${LT_DRIVER:-overlay2}"
LT_HOST_VAR="${LT_HOST_VAR:-DOCKER_HOST}"
LT_BUSYBOX="${LT_BUSYBOX:-/bin/busybox}"
LT_BASE_IMAGE="layer-tool-base:latest"
LT_OTHER_IMAGE="layer-tool-other:latest"

# Set to 1 by lt_daemon_start when *this shell* launched dockerd, so that
# lt_daemon_stop never tears down a daemon somebody else is still using.
# They describe the daemon of the last lt_daemon_start call; the per-state-dir
# records below are what lt_daemon_stop goes by, so that stopping one daemon
# never forgets or stops another.
LT_DAEMON_STARTED=0
LT_DAEMON_PID=""
# "dockerd:STATE", "podman:STATE", "containerd:STATE" -> 1 when this shell
# launched that daemon (lt_daemon_start, lt_podman_start, lt_containerd_start);
# their stop functions do nothing for a daemon without an entry.
declare -gA _LT_STARTED=()
declare -gA _LT_PIDS=() # state dir -> pid of its dockerd

_lt_log() {
	printf 'layer-tool: %s\n' "$*" >&2
}

# --------------------------------------------------------------------------
# lt_install
# --------------------------------------------------------------------------

_LT_APT_UPDATED=0

# _lt_busybox_ok: the images need a *static* busybox, because they contain
# nothing else (no libc). Debian's dynamic "busybox" package would produce an
# image whose every command fails with "no such file or directory".
_lt_busybox_ok() {
	[[ -x "$LT_BUSYBOX" ]] || return 1
	if command -v ldd >/dev/null 2>&1 && ldd "$LT_BUSYBOX" >/dev/null 2>&1; then
		return 1 # ldd succeeds only for dynamically linked programs
	fi
	return 0
}

lt_install() {
	local -
	set -u -o pipefail
	local pkgs=()

	if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1 ||
		! _lt_busybox_ok ||
		! command -v getfattr >/dev/null 2>&1 || ! command -v setfattr >/dev/null 2>&1; then
		pkgs+=(docker.io busybox-static attr)
	fi
	# The Go tests decompress zstd envelopes with the CLI to cross-check.
	if ! command -v zstd >/dev/null 2>&1; then
		pkgs+=(zstd)
	fi
	# The progress line is drawn only on a terminal: the tests read it
	# from a tmux screen.
	if ! command -v tmux >/dev/null 2>&1; then
		pkgs+=(tmux)
	fi
	lt_apt_install "${pkgs[@]}"
}

# lt_apt_install PKG...: install Debian packages without their recommends, as
# root or through sudo. apt-get update runs once per shell; apt's output goes
# to stderr (a script's stdout may be its report). No packages: nothing to do,
# which works without root too.
lt_apt_install() {
	local -
	set -u -o pipefail
	local sudo=()
	(($# > 0)) || return 0
	if [[ "$(id -u)" != 0 ]]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			_lt_log "need root (or sudo) to install: $*"
			return 1
		fi
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		_lt_log "apt-get not found; install these by hand: $*"
		return 1
	fi

	_lt_log "installing: $*"
	if ((_LT_APT_UPDATED == 0)); then
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || return 1
		_LT_APT_UPDATED=1
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "$@" >&2 || return 1
}

# --------------------------------------------------------------------------
# Daemons: lt_service_start / lt_service_wait / lt_service_stop, and the
# process look-ups behind them (dockerd here, podman.sh, containerd.sh)
# --------------------------------------------------------------------------

# _lt_alive PID: the process exists and is not a zombie (kill -0 succeeds on
# zombies, and a daemon we launched may be an unreaped child of this shell).
_lt_alive() {
	local pid="$1" stat=""
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
	stat="${stat##*) }" # the field after "(comm) " is the state letter
	[[ "${stat:0:1}" != Z ]]
}

# _lt_comm PID: the process's name, or nothing.
_lt_comm() {
	local comm=""
	read -r comm 2>/dev/null <"/proc/$1/comm"
	printf '%s' "$comm"
}

# _lt_proc_is PID COMM NEEDLE: the process is alive, its name matches the
# glob COMM, and its command line (each argument followed by a space)
# contains the string NEEDLE. This is how the daemons of a state dir, and
# their shims and conmons, are told apart from everyone else's: by a private
# path on their command line, never by name alone. Reads /proc without
# forking, as it runs for every process on the machine.
_lt_proc_is() {
	local pid="$1" comm="" IFS=' '
	local -a argv=()
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	read -r comm 2>/dev/null <"/proc/$pid/comm" || return 1
	# shellcheck disable=SC2053 # $2 is a glob
	[[ "$comm" == $2 ]] || return 1
	mapfile -d '' -t argv 2>/dev/null <"/proc/$pid/cmdline" || return 1
	[[ "${argv[*]} " == *"$3"* ]] || return 1
	_lt_alive "$pid"
}

# _lt_pids COMM NEEDLE: the pids of every process _lt_proc_is matches, one a
# line.
_lt_pids() {
	local p
	for p in /proc/[0-9]*; do
		p="${p#/proc/}"
		if _lt_proc_is "$p" "$1" "$2"; then
			echo "$p"
		fi
	done
}

# _lt_children PID...: the live processes whose parent is one of PIDs (and
# which are not among them), one a line.
_lt_children() {
	local p stat ppid
	local -A parents=()
	for p in "$@"; do
		parents[$p]=1
	done
	((${#parents[@]} > 0)) || return 0
	for p in /proc/[0-9]*; do
		p="${p#/proc/}"
		[[ -z "${parents[$p]:-}" ]] || continue
		read -r stat 2>/dev/null <"/proc/$p/stat" || continue
		stat="${stat##*) }" # parent pid: field 4, the second after "(comm) "
		read -r _ ppid _ <<<"$stat"
		if [[ -n "${parents[$ppid]:-}" ]] && _lt_alive "$p"; then
			echo "$p"
		fi
	done
}

# _lt_kill_containers PID...: SIGKILL these container processes (found as
# the children of our shims or conmons).
_lt_kill_containers() {
	local p
	for p in "$@"; do
		_lt_alive "$p" || continue
		_lt_log "killing container process $(_lt_comm "$p") (pid $p)"
		kill -KILL "$p" 2>/dev/null
	done
	return 0
}

# _lt_kill_tree PID...: SIGKILL the children of PIDs (the containers' init
# processes), then PIDs (shims, conmons, containerd that outlived their
# daemon). Children first, so they do not get reparented away from PIDs.
_lt_kill_tree() {
	local p kids
	(($# > 0)) || return 0
	kids="$(_lt_children "$@")"
	# shellcheck disable=SC2086 # one pid per word
	_lt_kill_containers $kids
	for p in "$@"; do
		_lt_alive "$p" || continue
		_lt_log "killing leftover $(_lt_comm "$p") (pid $p)"
		kill -KILL "$p" 2>/dev/null
	done
	return 0
}

# _lt_dump_log LOG: the end of a daemon's log, on stderr.
_lt_dump_log() {
	{
		echo "---- last 30 lines of $1 ----"
		tail -n 30 "$1" 2>/dev/null || echo "(no log)"
		echo "----"
	} >&2
}

# lt_service_wait NAME LOG READY TIMEOUT [PID]: wait up to TIMEOUT seconds
# until the command READY (a function, no arguments) succeeds. Gives up early
# if PID (the daemon or its launcher) died: it exited on a startup error. On
# failure the end of LOG goes to stderr.
lt_service_wait() {
	local -
	set -u -o pipefail
	local name="$1" log="$2" ready="$3" limit="$4" pid="${5:-}" deadline
	deadline=$((SECONDS + limit))
	until "$ready"; do
		if [[ -n "$pid" ]] && ! _lt_alive "$pid"; then
			_lt_log "$name exited during startup"
			_lt_dump_log "$log"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			_lt_log "$name did not answer within ${limit}s"
			_lt_dump_log "$log"
			return 1
		fi
		sleep 0.2
	done
}

# lt_service_start NAME LOG READY TIMEOUT -- CMD...: start the daemon CMD in
# the background, its output appended to LOG, then lt_service_wait for it.
# LT_SERVICE_LAUNCHER is the pid of its launcher. Record that this shell
# started the daemon (in _LT_STARTED) before calling this, so that an EXIT
# trap stops it even if startup fails or is interrupted.
lt_service_start() {
	local -
	set -u -o pipefail
	local name="$1" log="$2" ready="$3" limit="$4"
	shift 4
	[[ "${1:-}" != -- ]] || shift
	# setsid: own session, so a Ctrl-C aimed at the test run does not kill the
	# daemon before our EXIT trap stops it cleanly; --wait keeps the launcher
	# pid alive exactly as long as the daemon, which lets us notice early
	# exits. nohup: survive the controlling terminal going away.
	setsid --wait nohup "$@" </dev/null >>"$log" 2>&1 &
	LT_SERVICE_LAUNCHER=$!
	lt_service_wait "$name" "$log" "$ready" "$limit" "$LT_SERVICE_LAUNCHER"
}

# lt_service_stop NAME TIMEOUT COMM NEEDLE PID...: SIGTERM the processes
# PID..., wait up to TIMEOUT seconds for them to exit, then SIGKILL the rest.
# A signal goes to a pid only if, right before it is sent, _lt_proc_is PID
# COMM NEEDLE holds (NEEDLE: a private path on the daemon's command line): a
# pid that was recycled, or a daemon of another state dir (the system's,
# another test run's), is never signalled. Callers stop only daemons this
# shell started (see _LT_STARTED). Never fails.
lt_service_stop() {
	local -
	set +e -u
	local name="$1" limit="$2" comm="$3" needle="$4" p deadline
	shift 4
	local -a pids=()
	for p in "$@"; do
		_lt_proc_is "$p" "$comm" "$needle" || continue
		_lt_log "stopping $name (pid $p)"
		kill -TERM "$p" 2>/dev/null && pids+=("$p")
	done
	((${#pids[@]} > 0)) || return 0
	deadline=$((SECONDS + limit))
	while _lt_any_proc_is "$comm" "$needle" "${pids[@]}" && ((SECONDS < deadline)); do
		sleep 0.2
	done
	for p in "${pids[@]}"; do
		_lt_proc_is "$p" "$comm" "$needle" || continue
		_lt_log "$name (pid $p) ignored SIGTERM for ${limit}s; sending SIGKILL"
		kill -KILL "$p" 2>/dev/null
	done
	deadline=$((SECONDS + 5))
	while _lt_any_proc_is "$comm" "$needle" "${pids[@]}" && ((SECONDS < deadline)); do
		sleep 0.2
	done
	return 0
}

# _lt_any_proc_is COMM NEEDLE PID...: one of PIDs is still such a process.
_lt_any_proc_is() {
	local comm="$1" needle="$2" p
	shift 2
	for p in "$@"; do
		if _lt_proc_is "$p" "$comm" "$needle"; then
			return 0
		fi
	done
	return 1
}

# _lt_unmount_below DIR: lazily unmount DIR and everything below it, deepest
# first (overlay "merged" dirs, netns bind mounts, shm), so the directory can
# be removed and nothing leaks into the host's mount table. DIR must be
# absolute and free of symlinks, as /proc/mounts shows it.
_lt_unmount_below() {
	local state="$1" m
	awk -v s="$state" '$2 == s || index($2, s "/") == 1 { print length($2) "\t" $2 }' \
		/proc/mounts | sort -rn | cut -f2- | while IFS= read -r m; do
		# /proc/mounts escapes spaces etc. as octal (\040); undo that.
		m="$(printf '%b' "$m")"
		umount -l -- "$m" 2>/dev/null || _lt_log "could not unmount $m"
	done
}

# --------------------------------------------------------------------------
# lt_daemon_start / lt_daemon_stop
# --------------------------------------------------------------------------

# _lt_state: LT_STATE as an absolute, symlink-free path. dockerd needs absolute
# paths, and /proc/mounts and /proc/PID/cmdline only ever show resolved ones.
_lt_state() {
	realpath -m -- "$LT_STATE"
}

# _lt_is_our_dockerd PID: alive, is dockerd, and serves *our* socket. This is
# what keeps us from ever signalling another daemon (the system one, or a
# private one under another state dir) after a pid was recycled.
_lt_is_our_dockerd() {
	_lt_proc_is "$1" dockerd "unix://$(_lt_state)/docker.sock"
}

# _lt_pidfile_pid: the pid recorded by dockerd, or nothing.
_lt_pidfile_pid() {
	local pid=""
	pid="$(cat "$(_lt_state)/docker.pid" 2>/dev/null)" || true
	printf '%s' "${pid//[!0-9]/}"
}

# _lt_ping: does the daemon on our socket answer /_ping?
_lt_ping() {
	local sock
	sock="$(_lt_state)/docker.sock"
	[[ -S "$sock" ]] || return 1
	if command -v curl >/dev/null 2>&1; then
		curl -fsS --max-time 3 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1
	else
		# Any docker CLI will do (Debian's 20.10 or a newer one in
		# /usr/local/bin): both negotiate the API version down.
		timeout 10 docker -H "unix://$sock" version >/dev/null 2>&1
	fi
}

# _lt_export_host: export the daemon's address in the variable LT_HOST_VAR
# names (DOCKER_HOST unless told otherwise).
_lt_export_host() {
	local var="${LT_HOST_VAR:-DOCKER_HOST}"
	if [[ ! "$var" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
		_lt_log "LT_HOST_VAR=$var is not a variable name"
		return 1
	fi
	printf -v "$var" '%s' "unix://$(_lt_state)/docker.sock"
	export "${var?}"
	# A docker context would compete with DOCKER_HOST in newer CLIs.
	if [[ "$var" == DOCKER_HOST ]]; then
		unset DOCKER_CONTEXT
	fi
}

lt_daemon_start() {
	local -
	set -u -o pipefail
	local state pid driver="${LT_DRIVER:-overlay2}"
	state="$(_lt_state)"
	mkdir -p "$state" || return 1

	# Reuse a daemon already serving our state dir (a previous run that was
	# not stopped, or another script in this session). We did not start it, so
	# we will not stop it either.
	pid="$(_lt_pidfile_pid)"
	if _lt_is_our_dockerd "$pid"; then
		if ! _lt_ping; then
			# Alive but silent: probably still starting up (a concurrent caller).
			_lt_log "waiting for existing dockerd (pid $pid) in $state"
			lt_service_wait dockerd "$state/dockerd.log" _lt_ping 60 "$pid" || return 1
		fi
		_lt_log "reusing dockerd (pid $pid) in $state"
		LT_DAEMON_PID="$pid"
		_LT_PIDS[$state]="$pid"
		_lt_export_host
		return 0
	fi
	if _lt_ping; then
		# Something answers on our socket without a matching pidfile. Starting a
		# second dockerd would steal the socket from it, so use it as is.
		_lt_log "reusing daemon already answering on $state/docker.sock"
		_lt_export_host
		return 0
	fi

	# Stale leftovers from a crashed run: dockerd refuses to start while the
	# pidfile names a live process (pids get recycled).
	rm -f "$state/docker.pid" "$state/docker.sock"

	# An empty config file keeps a system /etc/docker/daemon.json (which may set
	# hosts or data-root) from conflicting with our flags. The private
	# exec-root also gives this dockerd its own containerd, so it never talks
	# to a system daemon's containerd.
	[[ -f "$state/daemon.json" ]] || echo '{}' >"$state/daemon.json" || return 1

	_lt_log "starting private dockerd ($driver) in $state (log: $state/dockerd.log)"
	LT_DAEMON_STARTED=1 # set now, so a trap cleans up even if startup fails
	_LT_STARTED[dockerd:$state]=1
	local -a args=(
		--config-file "$state/daemon.json"
		--data-root "$state/data"
		--exec-root "$state/exec"
		--host "unix://$state/docker.sock"
		--pidfile "$state/docker.pid"
		--bridge=none
		--iptables=false
		--ip-masq=false
	)
	if [[ "$driver" != default ]]; then
		args+=(--storage-driver "$driver")
	fi
	# shellcheck disable=SC2206 # LT_DOCKERD_ARGS is a list of words
	args+=(${LT_DOCKERD_ARGS:-})
	lt_service_start dockerd "$state/dockerd.log" _lt_ping 60 -- dockerd "${args[@]}" || return 1
	LT_DAEMON_PID="$(_lt_pidfile_pid)"
	_LT_PIDS[$state]="$LT_DAEMON_PID"
	_lt_export_host || return 1
	_lt_log "dockerd ready (pid ${LT_DAEMON_PID:-?}), ${LT_HOST_VAR:-DOCKER_HOST}=unix://$state/docker.sock"
}

# _lt_unmount_all: lazily unmount everything below the state dir.
_lt_unmount_all() {
	_lt_unmount_below "$(_lt_state)"
}

# lt_daemon_stop [force]: stop the daemon of LT_STATE if this shell started it
# (or if "force" is given). Safe to call repeatedly and from an EXIT trap: it
# never fails and never exits the shell.
lt_daemon_stop() {
	local -
	set +e -u
	local pid state
	local -a leftovers=()
	state="$(_lt_state)"
	if [[ "${_LT_STARTED[dockerd:$state]:-}" != 1 && "${1:-}" != force ]]; then
		return 0
	fi

	pid="$(_lt_pidfile_pid)"
	if ! _lt_is_our_dockerd "$pid"; then
		pid="${_LT_PIDS[$state]:-}"
	fi
	lt_service_stop dockerd 30 dockerd "unix://$state/docker.sock" "$pid"
	# containerd and its shims outlive dockerd after a SIGKILL (shims and
	# containers are meant to survive it); ours name our private exec-root.
	mapfile -t leftovers < <(_lt_pids 'containerd*' "$state/exec/")
	_lt_kill_tree "${leftovers[@]}"
	_lt_unmount_all
	unset '_LT_STARTED[dockerd:$state]' '_LT_PIDS[$state]'
	# shellcheck disable=SC2034 # LT_DAEMON_STARTED is for callers to read
	if [[ "$pid" == "$LT_DAEMON_PID" || -z "$LT_DAEMON_PID" ]]; then
		LT_DAEMON_STARTED=0
		LT_DAEMON_PID=""
	fi
	return 0
}

# --------------------------------------------------------------------------
# lt_base_image
# --------------------------------------------------------------------------

# _lt_fill_tree DIR [EXTRA_FILE...]: a minimal busybox root filesystem in DIR.
# EXTRA_FILE paths (relative to /) get small contents, which changes the
# image's diffIDs. Explicit `|| return 1` rather than errexit, because errexit
# is ignored inside functions called from `||` or `if` contexts.
_lt_fill_tree() {
	local dir="$1" applet f
	shift
	(
		umask 022
		cd "$dir" || exit 1
		mkdir -p bin etc tmp var root home dev proc sys usr/share/doc/base || exit 1
		chmod 1777 tmp || exit 1
		chmod 0700 root || exit 1
		cp "$LT_BUSYBOX" bin/busybox || exit 1
		chmod 0755 bin/busybox || exit 1
		# `busybox --list` includes "busybox" itself: skip it, or the symlink
		# would clash with the binary.
		while IFS= read -r applet; do
			[[ -n "$applet" && "$applet" != busybox ]] || continue
			ln -s busybox "bin/$applet" || exit 1
		done < <("$LT_BUSYBOX" --list)

		printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
			'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >etc/passwd || exit 1
		printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >etc/group || exit 1
		echo 'layer-tool test image' >etc/motd || exit 1
		# Tests delete or replace these to produce whiteouts and opaque dirs.
		echo 'base image documentation' >usr/share/doc/base/README || exit 1
		echo 'a second file, so the dir has more than one entry' \
			>usr/share/doc/base/NOTES || exit 1
		for f in "$@"; do
			mkdir -p "$(dirname "./$f")" || exit 1
			echo "extra file $f" >"./$f" || exit 1
		done
	)
}

# _lt_build_image TAG [EXTRA_FILE...]: import _lt_fill_tree's tree as a
# single-layer image.
_lt_build_image() {
	local -
	set -u -o pipefail
	local tag="$1" tree rc
	shift
	tree="$(mktemp -d)" || return 1
	if ! _lt_fill_tree "$tree" "$@"; then
		_lt_log "could not assemble the root filesystem for $tag"
		rm -rf "$tree"
		return 1
	fi

	# Fixed owner, order and mtime: rebuilding yields the same diffIDs.
	rc=0
	tar -C "$tree" --numeric-owner --owner=0 --group=0 --sort=name \
		--mtime=@946684800 -cf - . |
		docker import --change 'CMD ["/bin/sh"]' - "$tag" >/dev/null || rc=$?
	rm -rf "$tree"
	if ((rc != 0)); then
		_lt_log "docker import of $tag failed"
		return 1
	fi
	_lt_log "built image $tag"
}

lt_base_image() {
	local -
	set -u -o pipefail
	if ! _lt_busybox_ok; then
		_lt_log "$LT_BUSYBOX is missing or not static (run lt_install)"
		return 1
	fi
	if ! docker image inspect "$LT_BASE_IMAGE" >/dev/null 2>&1; then
		_lt_build_image "$LT_BASE_IMAGE" || return 1
	fi
	# Same tree plus etc/other: different rootfs diffIDs, for mismatch tests.
	if ! docker image inspect "$LT_OTHER_IMAGE" >/dev/null 2>&1; then
		_lt_build_image "$LT_OTHER_IMAGE" etc/other || return 1
	fi
}
