#!/usr/bin/env bash
# The consumers of envelopes that the README's pipelines name, for the
# pipeline tests (testdata/script/pipe_*.txtar): Debian's OpenSSH server,
# awscli and restic, and an S3 API server (rclone serve s3) built from its
# Go module, as Debian's rclone 1.60 has no serve s3. The tests start the
# servers themselves, on 127.0.0.1, one per script. Source it (it sources
# scripts/lib.sh and scripts/build.sh); don't run it.
#
#   lt_pipeline_install   install openssh-server, awscli and restic (apt),
#                         without starting the system's sshd
#   lt_pipeline_rclone    export LT_RCLONE, the rclone that
#                         lt_engines_build_start rclone built (after
#                         lt_engines_build_wait), once it is there
#
# Like scripts/lib.sh, this file does not set errexit at top level.

if [[ -n "${_LT_PIPELINES_SOURCED:-}" ]]; then
	return 0
fi
_LT_PIPELINES_SOURCED=1

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/build.sh"

lt_pipeline_install() {
	local -
	set -u -o pipefail
	local rc=0 policy=/usr/sbin/policy-rc.d made=0
	local -a pkgs=()
	[[ -x /usr/sbin/sshd ]] && command -v ssh-keygen >/dev/null 2>&1 || pkgs+=(openssh-server)
	# Debian's, at /usr/bin/aws, which the tests call: a pip or pyenv aws
	# earlier on PATH is not what they test.
	[[ -x /usr/bin/aws ]] || pkgs+=(awscli)
	command -v restic >/dev/null 2>&1 || pkgs+=(restic)
	((${#pkgs[@]} > 0)) || return 0
	# openssh-server's postinst would start the system's sshd on port 22;
	# the tests start their own on 127.0.0.1. A policy-rc.d that says no
	# (exit 101) stops that, for this install only.
	if [[ " ${pkgs[*]} " == *" openssh-server "* && ! -e "$policy" && "$(id -u)" == 0 ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && made=1
	fi
	lt_apt_install "${pkgs[@]}" || rc=$?
	if ((made)); then
		rm -f "$policy"
	fi
	return "$rc"
}

lt_pipeline_rclone() {
	local bin="$LT_BUILD/rclone-$LT_RCLONE_VERSION/rclone"
	if [[ ! -x "$bin" ]]; then
		_lt_log "no rclone at $bin (lt_engines_build_start rclone builds it)"
		return 1
	fi
	export LT_RCLONE="$bin"
}
