#!/usr/bin/env bash
# Builds, from their Go modules, the daemons Debian does not ship in the
# versions users run: Docker 29's dockerd, containerd 2 and the runc both
# need. Each is built once per machine into a directory named by its version
# under LT_BUILD; a later run finds it there and builds nothing. Source it (it
# sources scripts/lib.sh); don't run it.
#
#   lt_build_runc        $LT_BUILD/runc-$LT_RUNC_VERSION/runc
#   lt_build_containerd2 $LT_BUILD/containerd-$LT_CONTAINERD2_VERSION/
#                        {containerd,containerd-shim-runc-v2,ctr}
#   lt_build_dockerd29   $LT_BUILD/dockerd-$LT_DOCKERD29_VERSION/dockerd
#   lt_build_nerdctl     $LT_BUILD/nerdctl-$LT_NERDCTL_VERSION/nerdctl
#   lt_build_rclone      $LT_BUILD/rclone-$LT_RCLONE_VERSION/rclone (the S3
#                        server of the pipeline tests: rclone serve s3)
#   lt_build_deps        the Debian packages the builds need (libseccomp-dev
#                        and pkg-config for runc's seccomp support, gcc)
#
# Environment:
#   LT_BUILD                 where the binaries are kept (default
#                            /var/cache/layer-tool/build)
#   LT_RUNC_VERSION          default v1.5.3
#   LT_CONTAINERD2_VERSION   default v2.4.2
#   LT_DOCKERD29_VERSION     moby's v2 module version, default v2.0.0-beta.24,
#                            which is Docker 29.8.0 (LT_DOCKERD29_REPORTS)
#   LT_NERDCTL_VERSION       default v2.2.2
#   LT_RCLONE_VERSION        default v1.76.0
#
# Each build runs `go install` with GOBIN set to a temporary directory beside
# its final one, which is renamed into place only when every binary is
# there, under a lock (flock) on the final name: an interrupted build leaves
# nothing that looks finished, and two runs on one machine build once. The Go
# build and module caches are the caller's (go env GOCACHE, GOMODCACHE), so a
# new version rebuilds only what changed. GOWORK=off and GOFLAGS=-mod=mod:
# nothing of the current directory's module or workspace leaks into a build.

if [[ -n "${_LT_BUILD_SOURCED:-}" ]]; then
	return 0
fi
_LT_BUILD_SOURCED=1

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LT_BUILD="${LT_BUILD:-/var/cache/layer-tool/build}"
LT_RUNC_VERSION="${LT_RUNC_VERSION:-v1.5.3}"
LT_CONTAINERD2_VERSION="${LT_CONTAINERD2_VERSION:-v2.4.2}"
LT_DOCKERD29_VERSION="${LT_DOCKERD29_VERSION:-v2.0.0-beta.24}"
LT_NERDCTL_VERSION="${LT_NERDCTL_VERSION:-v2.2.2}"
LT_RCLONE_VERSION="${LT_RCLONE_VERSION:-v1.76.0}"
# What that dockerd reports as its version; moby's releases/versions.yaml maps
# module versions to Docker releases. Without it dockerd says
# "library-import".
LT_DOCKERD29_REPORTS="${LT_DOCKERD29_REPORTS:-29.8.0}"

lt_build_deps() {
	local pkgs=()
	command -v gcc >/dev/null 2>&1 || pkgs+=(gcc libc6-dev)
	command -v pkg-config >/dev/null 2>&1 || pkgs+=(pkg-config)
	# runc links libseccomp through cgo; without it (and -tags seccomp)
	# `docker run` fails with "seccomp: config provided but seccomp not
	# supported".
	[[ -f /usr/include/seccomp.h ]] || pkgs+=(libseccomp-dev)
	lt_apt_install "${pkgs[@]}"
}

# _lt_build DIR BIN... -- FUNC ARGS...: unless DIR holds every BIN already,
# run FUNC TMP ARGS... to put them into TMP, a new DIR.tmp.*, then rename it
# to DIR.
_lt_build() {
	local -
	set -u -o pipefail
	local dir="$1" b rc=0 start=$SECONDS
	local -a bins=()
	shift
	while (($# > 0)) && [[ "$1" != -- ]]; do
		bins+=("$1")
		shift
	done
	shift
	_lt_have_all() {
		for b in "${bins[@]}"; do
			[[ -x "$dir/$b" ]] || return 1
		done
	}
	_lt_have_all && return 0
	mkdir -p "$(dirname "$dir")" || return 1
	(
		exec 9>"$dir.lock" || exit 1
		flock 9 || exit 1
		_lt_have_all && exit 0 # another run built it while we waited
		# Holding the lock, every DIR.tmp.* is a killed build's.
		rm -rf "$dir".tmp.*
		tmp="$(mktemp -d "$dir.tmp.XXXXXX")" || exit 1
		trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
		_lt_log "building $(basename "$dir") (${*:2})"
		"$1" "$tmp" "${@:2}" || exit 1
		for b in "${bins[@]}"; do
			[[ -x "$tmp/$b" ]] || {
				_lt_log "${*:2} made no $b"
				exit 1
			}
		done
		rm -rf "$dir" && mv "$tmp" "$dir" || exit 1
		trap - EXIT
	) || rc=$?
	if ((rc != 0)); then
		_lt_log "build of $(basename "$dir") failed"
		return 1
	fi
	_lt_log "built $(basename "$dir") in $((SECONDS - start))s"
}

# _lt_go_install DIR BIN... -- ENV... -- GO_INSTALL_ARGS...: unless DIR holds
# every BIN already, go install into DIR.tmp.*, then rename it to DIR.
_lt_go_install() {
	local dir="$1"
	local -a bins=()
	shift
	while (($# > 0)) && [[ "$1" != -- ]]; do
		bins+=("$1")
		shift
	done
	shift
	_lt_build "$dir" "${bins[@]}" -- _lt_go_install_into "$@"
}

# _lt_go_install_into TMP ENV... -- GO_INSTALL_ARGS...
_lt_go_install_into() {
	local tmp="$1"
	local -a envs=()
	shift
	while (($# > 0)) && [[ "$1" != -- ]]; do
		envs+=("$1")
		shift
	done
	shift
	# A directory outside any module: go install pkg@version ignores the
	# current module, but a go.work or GOFLAGS=-mod=vendor would not.
	(cd / && env GOBIN="$tmp" GOWORK=off GOFLAGS=-mod=mod "${envs[@]}" go install "$@" >&2)
}

# lt_build_runc: Debian's runc 1.1.5 cannot run Docker 29's containers
# (`namespace {"time" ""} does not exist`).
lt_build_runc() {
	_lt_go_install "$LT_BUILD/runc-$LT_RUNC_VERSION" runc -- CGO_ENABLED=1 -- \
		-tags seccomp "github.com/opencontainers/runc@$LT_RUNC_VERSION"
}

lt_build_containerd2() {
	local m="github.com/containerd/containerd/v2/cmd"
	_lt_go_install "$LT_BUILD/containerd-$LT_CONTAINERD2_VERSION" \
		containerd containerd-shim-runc-v2 ctr -- CGO_ENABLED=1 -- \
		"$m/containerd@$LT_CONTAINERD2_VERSION" \
		"$m/containerd-shim-runc-v2@$LT_CONTAINERD2_VERSION" \
		"$m/ctr@$LT_CONTAINERD2_VERSION"
}

lt_build_dockerd29() {
	_lt_go_install "$LT_BUILD/dockerd-$LT_DOCKERD29_VERSION" dockerd -- CGO_ENABLED=1 -- \
		-ldflags "-X github.com/moby/moby/v2/dockerversion.Version=$LT_DOCKERD29_REPORTS" \
		"github.com/moby/moby/v2/cmd/dockerd@$LT_DOCKERD29_VERSION"
}

# lt_build_nerdctl: nerdctl is not in Debian 12, and `go install
# .../cmd/nerdctl@VERSION` refuses every release since v2.0.3: their go.mod
# replaces github.com/containerd/nerdctl/mod/tigron (its test framework, a
# module of the same repository that is not published) with ./mod/tigron,
# which the module's zip leaves out. So the release's module is downloaded
# (verified against the Go checksum database as any module is), copied, and built as
# the main module, as nerdctl's Makefile does (CGO_ENABLED=0, the version
# set by -ldflags), with its own go.sum; the copy gets an empty tigron
# module in place of the missing one, and loses
# cmd/nerdctl/helpers/testing_linux.go, test helpers kept in a non-test
# file, the one file of the binary that imports it.
lt_build_nerdctl() {
	_lt_build "$LT_BUILD/nerdctl-$LT_NERDCTL_VERSION" nerdctl -- \
		_lt_nerdctl_build_into "$LT_NERDCTL_VERSION"
}

# _lt_nerdctl_build_into TMP VERSION
_lt_nerdctl_build_into() {
	local -
	set -u -o pipefail
	local tmp="$1" v="$2" mod=github.com/containerd/nerdctl/v2 dir
	dir="$(cd / && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$mod@$v" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || return 1
	[[ -n "$dir" && -f "$dir/go.mod" ]] || {
		_lt_log "go mod download $mod@$v gave no directory"
		return 1
	}
	cp -R "$dir" "$tmp/src" && chmod -R u+w "$tmp/src" || return 1
	mkdir -p "$tmp/src/mod/tigron" || return 1
	echo "module github.com/containerd/nerdctl/mod/tigron" >"$tmp/src/mod/tigron/go.mod" || return 1
	rm -f "$tmp/src/cmd/nerdctl/helpers/testing_linux.go"
	(cd "$tmp/src" && env GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
		go build -ldflags "-X $mod/pkg/version.Version=$v" -o "$tmp/nerdctl" ./cmd/nerdctl >&2) || return 1
	rm -rf "$tmp/src"
}

# lt_build_rclone: an S3 API server (rclone serve s3) for the object storage
# pipeline; Debian's rclone 1.60 has no serve s3. Pure Go, so no cgo.
lt_build_rclone() {
	_lt_go_install "$LT_BUILD/rclone-$LT_RCLONE_VERSION" rclone -- CGO_ENABLED=0 -- \
		"github.com/rclone/rclone@$LT_RCLONE_VERSION"
}
