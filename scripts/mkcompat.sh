#!/usr/bin/env bash
# Makes the compatibility envelopes of testdata/envelopes (its README says
# which commit and engines made the ones kept there): a container on each
# engine route, exported by the layer-export of one commit. The test suite
# never runs this: the files kept in testdata stand for what users keep, and
# every later version must check and import them as they are
# (testdata/script/compat_*.txtar). Run it to see how they were made, or to
# make such a set with another commit, into a new directory.
#
#   bash scripts/mkcompat.sh OUTDIR [ROUTE...]
#
# ROUTE is one of (default: all)
#   docker       Docker 20.10, overlay2: v2-docker-volume.layer, .layer.gz
#                and .layer.zst, one envelope in each compression, of a
#                container with a named volume (files, a symlink, a hard
#                link, a fifo and an xattr in both, a whiteout and an
#                opaque directory in the layer)
#   podman       rootful Podman, through its Docker-compatible API:
#                v2-podman.layer
#   docker29     Docker 29 on its containerd image store: v2-docker29.layer
#   ctr          a container ctr made on containerd 1.6, with a directory
#                bind exported with --binds: v2-ctr.layer
#   containerd2  the same on containerd 2: v2-containerd2.layer
#   nerdctl      nerdctl on containerd 1.6, with a named volume:
#                v2-nerdctl.layer
# Every route but docker gets the same small change set: a file and a
# symlink in the layer, a deleted image file, a file in the volume (the
# bind for ctr and containerd2).
#
# OUTDIR must not hold any of the files already: nothing kept is replaced.
# The daemons are those of scripts/test.sh, in their own state dirs under
# LT_STATE (default /tmp/layer-tool-mkcompat), started here and stopped at
# the end; the engines built from source come from LT_BUILD, as there.
#
# Environment:
#   LT_COMPAT_REV       the commit whose layer-export writes the files
#                       (default HEAD), built from `git archive` of it
#   SOURCE_DATE_EPOCH   the envelopes' "created" (default: that commit's
#                       committer time)
#
# Not made here: Docker 20.10 with the vfs driver, the suite's one other
# route, whose containers layer-export refuses (export_vfs.txtar).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LT_STATE="${LT_STATE:-/tmp/layer-tool-mkcompat}"
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

ALL_ROUTES=(docker podman docker29 ctr containerd2 nerdctl)
IMG=layer-tool-base
CTR_IMG=docker.io/library/layer-tool-base:latest

if (($# < 1)) || [[ "$1" == -* ]]; then
	echo "usage: bash scripts/mkcompat.sh OUTDIR [${ALL_ROUTES[*]}]" >&2
	exit 2
fi
OUT="$1"
shift
ROUTES=("$@")
((${#ROUTES[@]} > 0)) || ROUTES=("${ALL_ROUTES[@]}")
declare -A WANT=()
for r in "${ROUTES[@]}"; do
	case " ${ALL_ROUTES[*]} " in
	*" $r "*) WANT[$r]=1 ;;
	*)
		echo "mkcompat: unknown route $r (${ALL_ROUTES[*]})" >&2
		exit 2
		;;
	esac
done

REV="$(git -C "$ROOT" rev-parse --verify "${LT_COMPAT_REV:-HEAD}^{commit}")"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct "$REV")}"

# step: show a command, each word quoted only where a shell needs it, then
# run it.
step() {
	local w line="+"
	for w in "$@"; do
		if [[ "$w" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
			line+=" $w"
		else
			line+=" ${w@Q}"
		fi
	done
	echo "$line" >&2
	"$@"
}

# files ROUTE: the files a route writes.
files() {
	case "$1" in
	docker) echo v2-docker-volume.layer v2-docker-volume.layer.gz v2-docker-volume.layer.zst ;;
	*) echo "v2-$1.layer" ;;
	esac
}

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
for r in "${ROUTES[@]}"; do
	for f in $(files "$r"); do
		if [[ -e "$OUT/$f" ]]; then
			echo "mkcompat: $OUT/$f exists; kept envelopes are never replaced" >&2
			exit 1
		fi
	done
done

# shellcheck disable=SC2317 # called by the EXIT trap
_lt_mkcompat_cleanup() {
	lt_engines_build_stop
	lt_docker29_stop
	lt_containerd2_stop
	lt_containerd_stop
	lt_podman_stop
	lt_daemon_stop
	rm -rf "${TMP:-}"
}
trap _lt_mkcompat_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The commands, as the commit has them (not the checkout's).
TMP="$(mktemp -d)"
mkdir "$TMP/src" "$TMP/bin"
git -C "$ROOT" archive "$REV" | tar -x -C "$TMP/src"
(cd "$TMP/src" && GOWORK=off go build -o "$TMP/bin/" ./cmd/...)
export PATH="$TMP/bin:$PATH"

# The daemons the routes need, started as scripts/test.sh starts them.
builds=()
[[ -z "${WANT[docker29]:-}" ]] || builds+=(dockerd)
[[ -z "${WANT[containerd2]:-}" ]] || builds+=(engines)
[[ -z "${WANT[nerdctl]:-}" ]] || builds+=(nerdctl)
if ((${#builds[@]} > 0)); then
	lt_engines_build_start "${builds[@]}"
fi
lt_install
lt_daemon_start
lt_base_image
if [[ -n "${WANT[podman]:-}" ]]; then
	lt_podman_install
	lt_podman_start
	lt_podman_base_image
fi
if [[ -n "${WANT[ctr]:-}${WANT[nerdctl]:-}" ]]; then
	lt_containerd_install
	lt_containerd_start
	LT_CTRD_NS=default lt_containerd_base_image
fi
if ((${#builds[@]} > 0)); then
	lt_engines_build_wait
fi
if [[ -n "${WANT[nerdctl]:-}" ]]; then
	lt_nerdctl_setup
fi
if [[ -n "${WANT[containerd2]:-}" ]]; then
	lt_containerd2_start
	lt_containerd2_base_image
fi
if [[ -n "${WANT[docker29]:-}" ]]; then
	lt_docker29_start
	lt_docker29_base_image
fi

# The change set of every route but docker: a file and a symlink in the
# layer, a deleted image file (a whiteout), a file in the mount at /vol.
route_make() {
	echo "mkdir /srv && echo 'from $1' > /srv/route && ln -s route /srv/link && rm /etc/motd && echo 'volume of $1' > /vol/data"
}

# docker_fresh NAME VOLUME: remove what an earlier run left (Engine API at
# DOCKER_HOST).
docker_fresh() {
	docker rm -f -v "$1" >/dev/null 2>&1 || true
	docker volume rm -f "$2" >/dev/null 2>&1 || true
}

make_docker() {
	local make upper mp f
	make='mkdir -p /srv/sub && echo payload > /srv/payload && ln -s payload /srv/link && ln /srv/payload /srv/hard && mkfifo /srv/fifo && echo x > /srv/sub/x && rm /etc/motd && rm -rf /usr/share/doc/base && mkdir /usr/share/doc/base && echo new > /usr/share/doc/base/README && echo vol > /named/v && mkdir /named/sub && echo x > /named/sub/x && ln /named/sub/x /named/hard && ln -s sub/x /named/link && mkfifo /named/fifo'
	docker_fresh compat-docker compat-named
	step docker run --network none --name compat-docker -v compat-named:/named "$IMG" sh -c "$make"
	upper="$(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' compat-docker)"
	mp="$(docker volume inspect -f '{{.Mountpoint}}' compat-named)"
	step setfattr -n user.compat -v layer "$upper/srv/payload"
	step setfattr -n user.compat -v volume "$mp/sub/x"
	step layer-export -o "$OUT/v2-docker-volume.layer" compat-docker
	step layer-export --compress gzip -o "$OUT/v2-docker-volume.layer.gz" compat-docker
	step layer-export --compress zstd -o "$OUT/v2-docker-volume.layer.zst" compat-docker
	# One envelope, three compressions.
	for f in gz zst; do
		case "$f" in
		gz) gzip -dc "$OUT/v2-docker-volume.layer.gz" ;;
		zst) zstd -qdc "$OUT/v2-docker-volume.layer.zst" ;;
		esac | cmp - "$OUT/v2-docker-volume.layer"
	done
}

# make_engine_api ROUTE HOST: a route through the Docker-compatible API at
# HOST (Podman, Docker 29).
make_engine_api() {
	local route="$1"
	export DOCKER_HOST="$2"
	docker_fresh "compat-$route" compat-vol
	step docker run --network none --name "compat-$route" -v compat-vol:/vol "$IMG" sh -c "$(route_make "$route")"
	step layer-export -o "$OUT/v2-$route.layer" "compat-$route"
}

# make_ctr ROUTE: a container ctr made (plain containerd at
# CONTAINERD_ADDRESS, state LT_CTRD), with a directory bind at /vol, which
# only --binds carries.
make_ctr() {
	local route="$1" bind
	bind="$(_lt_ctrd_state)/compat-bind"
	export LT_CTRD_NS=default
	lt_ctr tasks delete -f "compat-$route" >/dev/null 2>&1 || true
	lt_ctr containers delete "compat-$route" >/dev/null 2>&1 || true
	lt_ctr snapshots --snapshotter overlayfs rm "compat-$route" >/dev/null 2>&1 || true
	rm -rf "$bind"
	mkdir -p "$bind"
	step lt_ctr_run --mount "type=bind,src=$bind,dst=/vol,options=rbind:rw" "$CTR_IMG" "compat-$route" sh -c "$(route_make "$route")"
	step layer-export --containerd-address "$CONTAINERD_ADDRESS" --namespace default --binds \
		-o "$OUT/v2-$route.layer" "compat-$route"
}

make_nerdctl() {
	# As pkg/cli's nerdctl command runs it (script_linux_test.go).
	local -a n=("$LT_NERDCTL" --address "$CONTAINERD_ADDRESS" --namespace default
		--snapshotter overlayfs --cgroup-manager cgroupfs
		--data-root "$(_lt_ctrd_state)/nerdctl/data" --cni-netconfpath "$(_lt_ctrd_state)/nerdctl/cni")
	"${n[@]}" rm -f -v compat-nerdctl >/dev/null 2>&1 || true
	"${n[@]}" volume rm -f compat-vol >/dev/null 2>&1 || true
	step "${n[@]}" run --net none --name compat-nerdctl -v compat-vol:/vol "$IMG" sh -c "$(route_make nerdctl)"
	step layer-export --containerd-address "$CONTAINERD_ADDRESS" --namespace default \
		-o "$OUT/v2-nerdctl.layer" compat-nerdctl
}

# version ROUTE: the engine's version, as the README records it.
version() {
	case "$1" in
	docker) docker version --format 'Docker {{.Server.Version}}' ;;
	podman) lt_podman version --format 'Podman {{.Client.Version}}' ;;
	docker29) DOCKER_HOST="$DOCKER29_HOST" docker version --format 'Docker {{.Server.Version}}' ;;
	ctr) containerd --version ;;
	containerd2) "$LT_CONTAINERD2_BIN/containerd" --version ;;
	nerdctl) echo "$("$LT_NERDCTL" --version), on $(containerd --version)" ;;
	esac
}

for r in "${ROUTES[@]}"; do
	echo "mkcompat: route $r" >&2
	case "$r" in
	docker) (make_docker) ;;
	podman) (make_engine_api podman "$PODMAN_HOST") ;;
	docker29) (make_engine_api docker29 "$DOCKER29_HOST") ;;
	ctr) (make_ctr ctr) ;;
	containerd2)
		(
			# containerd 2's ctr, state dir and socket.
			PATH="$(_lt_engines_path):$PATH"
			export PATH LT_CTRD="$LT_CTRD2" CONTAINERD_ADDRESS="${CONTAINERD2_ADDRESS:?}"
			make_ctr containerd2
		)
		;;
	nerdctl) (make_nerdctl) ;;
	esac
done

{
	echo "mkcompat: layer-export of commit $REV, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, into $OUT:"
	for r in "${ROUTES[@]}"; do
		for f in $(files "$r"); do
			printf '  %-28s %6d bytes  %s\n' "$f" "$(stat -c %s "$OUT/$f")" "$(version "$r")"
		done
	done
} >&2
