#!/usr/bin/env bash
# Benchmark layer-export, layer-import and layer-check against their peers
# (tar, gzip, pigz, zstd, docker commit+save, docker export, tar -x) on three
# fixture containers, plus a memory check on a layer of a million entries.
#
#   bash scripts/bench.sh [-n RUNS] [--peer-runs M] [--only small|large|mixed]
#                         [--rebuild] [--settle SECONDS] [--no-million]
#                         [--entries N] [--keep] [--clean]
#
# Works from a fresh Debian machine as root: installs what is missing
# (lib.sh's packages, plus pigz and GNU time), starts a private dockerd with
# its own state (LT_STATE, default /tmp/layer-tool-bench, one bench.sh at a
# time per state dir; the daemon is stopped on exit if started here), builds
# the base image, rebuilds the binaries from the work tree on every run, and
# builds the fixture containers once:
#
#   small    ~20,000 files of 0.1-16 KiB in nested directories (~210 MiB)
#   large    three files of 512 MiB, partly compressible, one of them sparse
#            (64 MiB allocated)
#   mixed    ~5,000 files (~1 GiB) with hard links, symlinks, whiteouts, an
#            opaque directory, xattrs, a fifo, long and unicode names
#   million  --entries empty files (default 1,000,000) in 1,000 directories
#   vols     the small fixture's files split in three: a third in the layer,
#            a third in each of two named volumes (exported beside small, as
#            its "layer + 2 volumes" row: the same bytes should cost the same)
#
# The fixtures' layers are written straight into each container's overlay2
# upper directory from the host (scripts/benchfixture, deterministic content)
# and are kept in the daemon's state between runs, so reruns skip that step;
# --rebuild makes them anew, --clean removes them at the end.
#
# Each table row is the median of RUNS runs (wall time, CPU user+sys of the
# whole pipeline, peak RSS of its largest process, output size), timed with
# GNU time; the peers' rows (tar, gzip, pigz, zstd, docker) get at most
# --peer-runs runs, which keeps a default run within ~20 minutes on 2 cores
# (tar | gzip -1 and docker commit + save take 15-25 s a run on the large
# fixtures). Runs are interleaved: run 1 of every row, then run 2, ... Every command writes into a pipe (`| wc -c`), never to a file or
# /dev/null directly. Imports go into a new target (container or directory)
# each run, on the daemon's file system. Nothing is deleted during a
# fixture's runs: its copies are removed just before the next fixture's import
# runs (or at the end), and before the import runs of each fixture the script
# syncs and waits --settle seconds (ext4 without a journal creates files
# slowly for a while after a bulk delete). Raw samples are kept in
# $LT_STATE/bench-results/; scripts/benchreport does the arithmetic (medians,
# spreads, ratios) and prints the tables, also again from a kept run's
# samples (see its doc comment).
#
# Options:
#   -n RUNS         runs per command (default 5)
#   --peer-runs M   at most M runs of each peer's row (default 3; -n caps it)
#   --only FIXTURE  only the small, large or mixed fixture (the million check
#                   still runs unless --no-million)
#   --rebuild       rebuild the fixture containers even if they exist
#   --settle S      pause before the timed imports of each fixture (default 20)
#   --no-million    skip the million-entry memory check
#   --entries N     entries of that check (default 1000000)
#   --keep          keep the fixtures and also this run's work: envelopes,
#                   imported target containers, extracted directories
#   --clean         remove the fixture containers at the end
#
# Report on stdout (markdown); progress on stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CMDLINE="$(printf '%q ' bash scripts/bench.sh "$@")"
CMDLINE="${CMDLINE% }"

export LT_STATE="${LT_STATE:-/tmp/layer-tool-bench}"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

RUNS=5
PEER_RUNS=3
ONLY=""
REBUILD=0
SETTLE=20
MILLION=1
ENTRIES=1000000
KEEP=0
CLEAN=0

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

die() {
	printf 'bench: %s\n' "$*" >&2
	exit 2
}

while (($# > 0)); do
	case "$1" in
	-n)
		[[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive number"
		RUNS="$2"
		shift
		;;
	--peer-runs)
		[[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--peer-runs wants a positive number"
		PEER_RUNS="$2"
		shift
		;;
	--only)
		[[ $# -ge 2 && "$2" =~ ^(small|large|mixed)$ ]] || die "--only wants small, large or mixed"
		ONLY="$2"
		shift
		;;
	--rebuild) REBUILD=1 ;;
	--settle)
		[[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || die "--settle wants a number of seconds"
		SETTLE="$2"
		shift
		;;
	--no-million) MILLION=0 ;;
	--entries)
		[[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--entries wants a positive number"
		ENTRIES="$2"
		shift
		;;
	--keep) KEEP=1 ;;
	--clean) CLEAN=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done

log() {
	printf 'bench: %s\n' "$*" >&2
}

min() {
	if (($1 < $2)); then echo "$1"; else echo "$2"; fi
}

loadavg() {
	cut -d' ' -f1-3 /proc/loadavg
}

LOAD_START="$(loadavg)"

# q ARG...: the arguments quoted for a bash -c string.
q() {
	local s
	s="$(printf '%q ' "$@")"
	printf '%s' "${s% }"
}

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

lt_install
missing=()
command -v pigz >/dev/null 2>&1 || missing+=(pigz)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v gzip >/dev/null 2>&1 || missing+=(gzip)
command -v setfattr >/dev/null 2>&1 || missing+=(attr)
lt_apt_install "${missing[@]}"
command -v go >/dev/null 2>&1 || die "go is not installed"

BIN=""
WORK=""
LABEL="layer-tool.bench"
SCRATCH_LABEL="layer-tool.bench.scratch"
COMMIT_IMAGE=lt-bench-commit:latest

# remove_scratch: the targets this script created for imports and the image
# of docker commit (also leftovers of an interrupted run).
remove_scratch() {
	local ids
	ids="$(docker ps -aq --filter "label=$SCRATCH_LABEL" 2>/dev/null)" || return 0
	if [[ -n "$ids" ]]; then
		# shellcheck disable=SC2086 # one id per word
		docker rm -f $ids >/dev/null 2>&1 || true
	fi
	docker image rm -f "$COMMIT_IMAGE" >/dev/null 2>&1 || true
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	set +e
	if [[ -n "${DOCKER_HOST:-}" ]] && ((KEEP == 0)); then
		remove_scratch
	fi
	if [[ -n "${DOCKER_HOST:-}" ]] && ((CLEAN == 1)); then
		log "removing the fixture containers (--clean)"
		for c in small large mixed vols "million-$ENTRIES"; do
			docker rm -f "lt-bench-$c" >/dev/null 2>&1
			rm -f "$LT_STATE/bench-fixtures/lt-bench-$c"
		done
		docker volume rm lt-bench-vol-a lt-bench-vol-b >/dev/null 2>&1
	fi
	if [[ -n "$WORK" ]]; then
		if ((KEEP == 1)); then
			log "kept the run's work in $WORK (--keep)"
		else
			rm -rf "$WORK"
		fi
	fi
	[[ -z "$BIN" ]] || rm -rf "$BIN"
	lt_daemon_stop
}
# One run per state dir: two runs would share the daemon and remove each
# other's targets. (Use another LT_STATE to run side by side.)
mkdir -p "$LT_STATE"
exec 9>"$LT_STATE/bench.lock"
flock -n 9 || die "another bench.sh is running with LT_STATE=$LT_STATE"

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

START=$SECONDS
# 9>&-: the daemon must not inherit (and keep) the lock.
lt_daemon_start 9>&-
lt_base_image
BASE_IMAGE="$LT_BASE_IMAGE"
DATA_ROOT="$(realpath -m -- "$LT_STATE")/data"
[[ -d "$DATA_ROOT" ]] || die "no data root at $DATA_ROOT"

BIN="$(mktemp -d /tmp/layer-tool-bench-bin.XXXXXX)"
# The work directory (envelopes, tar -x targets) sits beside the data root,
# on the same file system as the containers' layers.
WORK="$(mktemp -d "$(realpath -m -- "$LT_STATE")/bench-work.XXXXXX")"
mkdir -p "$WORK/res" "$WORK/x" "$LT_STATE/bench-fixtures"
if [[ "$(stat -c %d "$WORK")" != "$(stat -c %d "$DATA_ROOT")" ]]; then
	log "warning: $WORK and $DATA_ROOT are on different file systems"
fi

log "go build -o $BIN/ ./cmd/..."
(cd "$ROOT" && go build -o "$BIN/" ./cmd/... ./scripts/benchfixture ./scripts/benchreport)
REPORT="$BIN/benchreport"
EXPORT="$BIN/layer-export"
IMPORT="$BIN/layer-import"
CHECK="$BIN/layer-check"

remove_scratch

# ---------------------------------------------------------------------------
# Report header: machine and versions
# ---------------------------------------------------------------------------

fs_info() {
	local dev fstype opts journal="" base
	read -r dev fstype opts < <(findmnt -no SOURCE,FSTYPE,OPTIONS -T "$DATA_ROOT" | head -n1)
	dev="${dev%%\[*}" # a bind mount shows as DEV[/path]
	if [[ "$fstype" == ext4 ]]; then
		base="$(basename -- "$dev")"
		if compgen -G "/proc/fs/jbd2/$base-*" >/dev/null; then
			journal=", journal"
		else
			journal=", no journal"
		fi
	fi
	printf '%s on %s%s (%s)' "$fstype" "$dev" "$journal" "$opts"
}

# busy_warning LOADAVG: a note when other work competes for the CPUs.
busy_warning() {
	awk -v n="$(nproc)" -v l="${1%% *}" 'BEGIN { if (l > n / 2) printf " — **the machine is busy with other work: numbers are noisy**" }'
}

cpu_model() {
	awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo
}

header() {
	local rev dirty=""
	rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
		dirty=" (work tree modified)"
	fi
	cat <<EOF
# layer-tool benchmark

- command: \`$CMDLINE\`
- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- machine: $(nproc) CPUs, $(cpu_model), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)
- data root: $DATA_ROOT, $(fs_info)
- code: $rev$dirty, $("$BIN/layer-tool" version 2>/dev/null | head -n1), $(go version | cut -d' ' -f3)
- peers: $(tar --version | head -n1), $(gzip --version | head -n1), pigz $(pigz --version 2>&1 | awk '{print $2}'), zstd $(zstd -V | grep -o 'v[0-9.]*'), dockerd $(docker version --format '{{.Server.Version}}')
- load average before this run started: $LOAD_START$(busy_warning "$LOAD_START")
- runs: $RUNS per layer-tool command, $(min "$RUNS" "$PEER_RUNS") per peer (medians); settle before imports: ${SETTLE}s

Wall time is the median over the runs; CPU is user+sys of every process of the
pipeline; peak RSS is that of its largest process (for the docker rows that is
the docker CLI: the daemon's own work is not counted in CPU or RSS). Every
export writes into a pipe read by \`wc -c\`. Ratios are of median wall times.
EOF
}

# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

# Bump a spec when the generator changes: existing containers are rebuilt.
fixture_spec() {
	case "$1" in
	small) echo "small-v1 files=20000" ;;
	large) echo "large-v1 size=512MiB" ;;
	mixed) echo "mixed-v1 files=5000" ;;
	million) echo "million-v1 entries=$ENTRIES" ;;
	vols) echo "vols-v1 files=20000 split=3" ;;
	esac
}

fixture_name() {
	if [[ "$1" == million ]]; then
		echo "lt-bench-million-$ENTRIES"
	else
		echo "lt-bench-$1"
	fi
}

upper_of() {
	docker inspect -f '{{.GraphDriver.Data.UpperDir}}' "$1"
}

# fixture_ok KIND: the container exists with the current spec and its fill
# completed (the marker names its id).
fixture_ok() {
	local name spec id label
	name="$(fixture_name "$1")"
	spec="$(fixture_spec "$1")"
	id="$(docker inspect -f '{{.Id}}' "$name" 2>/dev/null)" || return 1
	label="$(docker inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$name" 2>/dev/null)" || return 1
	[[ "$label" == "$spec" ]] || return 1
	[[ "$(cat "$LT_STATE/bench-fixtures/$name" 2>/dev/null)" == "$id" ]]
}

# set_xattrs UPPER: user.* attributes on files and directories of the mixed
# fixture, short, long (2 KiB: ext4 keeps all of a file's xattrs in one block)
# and binary values.
set_xattrs() {
	local upper="$1" f i=0
	while IFS= read -r f; do
		setfattr -n user.bench.comment -v "file $i of the mixed fixture" "$f"
		if ((i % 5 == 0)); then
			setfattr -n user.bench.binary -v 0x00ff10e2c0ffee "$f"
		fi
		if ((i % 10 == 0)); then
			setfattr -n user.bench.large -v "$(head -c 2048 /dev/zero | tr '\0' x)" "$f"
		fi
		i=$((i + 1))
	done < <(find "$upper/data/d00" "$upper/data/d01" -type f | LC_ALL=C sort | head -n 60)
	setfattr -n user.bench.dir -v "a directory" "$upper/data/d02"
	setfattr -n user.mime_type -v "text/plain; charset=utf-8" "$upper/data/unicode/café"
}

# split_into_volumes CONTAINER DIR: move every third entry of DIR (the
# small fixture's packages) into the container's first volume, and the
# next into its second: the same files as the small fixture's layer, a
# third in each tree.
split_into_volumes() {
	local c="$1" dir="$2" a b i=0 e
	a="$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/vol/a"}}{{.Source}}{{end}}{{end}}' "$c")"
	b="$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/vol/b"}}{{.Source}}{{end}}{{end}}' "$c")"
	[[ -d "$a" && -d "$b" ]] || die "no volume directories for $c: '$a' '$b'"
	while IFS= read -r e; do
		case $((i % 3)) in
		1) mv -- "$dir/$e" "$a/" ;;
		2) mv -- "$dir/$e" "$b/" ;;
		esac
		i=$((i + 1))
	done < <(LC_ALL=C ls -A -- "$dir")
}

# Whiteouts (deleted files, a deleted directory) and an opaque directory,
# made by the container itself on top of the base image.
# shellcheck disable=SC2016 # expanded by the container's shell
MIXED_SCRIPT='set -e
rm /etc/motd
for a in vi less wget telnet ftpget ftpput httpd crond crontab fdisk hexdump; do rm -f /bin/$a; done
rm -rf /home
rm -rf /usr/share/doc/base
mkdir /usr/share/doc/base
echo "replaced documentation" > /usr/share/doc/base/README'

make_fixture() {
	local kind="$1" name spec upper t0=$SECONDS
	name="$(fixture_name "$kind")"
	spec="$(fixture_spec "$kind")"
	if ((REBUILD == 0)) && fixture_ok "$kind"; then
		log "reusing fixture $name ($spec)"
		return 0
	fi
	log "building fixture $name ($spec)"
	docker rm -f "$name" >/dev/null 2>&1 || true
	rm -f "$LT_STATE/bench-fixtures/$name"
	if [[ "$kind" == mixed ]]; then
		docker run --network none --name "$name" --label "$LABEL=$spec" \
			"$BASE_IMAGE" sh -c "$MIXED_SCRIPT"
	elif [[ "$kind" == vols ]]; then
		docker volume rm lt-bench-vol-a lt-bench-vol-b >/dev/null 2>&1 || true
		docker create --network none --name "$name" --label "$LABEL=$spec" \
			-v lt-bench-vol-a:/vol/a -v lt-bench-vol-b:/vol/b "$BASE_IMAGE" >/dev/null
	else
		docker create --network none --name "$name" --label "$LABEL=$spec" \
			"$BASE_IMAGE" >/dev/null
	fi
	upper="$(upper_of "$name")"
	[[ -d "$upper" ]] || die "no upper directory for $name: $upper"
	case "$kind" in
	small) "$BIN/benchfixture" small "$upper" -files 20000 ;;
	large) "$BIN/benchfixture" large "$upper" -size-mib 512 ;;
	mixed)
		"$BIN/benchfixture" mixed "$upper" -files 5000
		set_xattrs "$upper"
		;;
	million) "$BIN/benchfixture" million "$upper" -entries "$ENTRIES" ;;
	vols)
		"$BIN/benchfixture" small "$upper" -files 20000
		split_into_volumes "$name" "$upper/app/node_modules"
		;;
	esac
	sync
	docker inspect -f '{{.Id}}' "$name" >"$LT_STATE/bench-fixtures/$name"
	log "fixture $name built in $((SECONDS - t0))s: $(du -sh --apparent-size "$upper" | cut -f1) apparent, $(du -sh "$upper" | cut -f1) allocated, $(find "$upper" | wc -l) entries"
}

# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------

# sample FIXTURE KEY CMD: run the bash command CMD once under GNU time and
# append "wall cpu rss_kib size_bytes" to the row's results (FAIL on a
# non-zero exit). CMD may write a byte count to $SIZE_FILE.
SIZE_FILE=""
sample() {
	local fx="$1" key="$2" cmd="$3" res tf line
	res="$WORK/res/$fx.$key"
	tf="$WORK/time.out"
	SIZE_FILE="$WORK/size.out"
	rm -f "$SIZE_FILE"
	if /usr/bin/time -f '%e %U %S %M' -o "$tf" bash -o pipefail -c "$cmd" \
		>"$WORK/cmd.out" 2>"$WORK/cmd.err"; then
		line="$("$REPORT" sample "$tf" "$SIZE_FILE")"
		echo "$line" >>"$res"
		log "  $fx $key: ${line%% *}s"
	else
		echo FAIL >>"$res"
		log "  $fx $key: FAILED; stderr:"
		tail -n 5 "$WORK/cmd.err" >&2 || true
	fi
}

# size_to: the tail of a command that counts its output into SIZE_FILE.
size_to() {
	printf '| wc -c > %s' "$(q "$WORK/size.out")"
}

# mib BYTES: in MiB, one decimal.
mib() {
	"$REPORT" mib "$1"
}

# table FIXTURE KEY...: the markdown table of those rows (labels, peers and
# columns: scripts/benchreport/table.go).
table() {
	echo
	"$REPORT" table "$WORK/res" "$@"
}

settle() {
	sync
	if ((SETTLE > 0)); then
		log "settling ${SETTLE}s before the timed imports"
		sleep "$SETTLE"
	fi
}

# new_target NAME: a fresh stopped container of the base image to import into.
new_target() {
	docker create --network none --name "$1" --label "$SCRATCH_LABEL=1" "$BASE_IMAGE" >/dev/null
}

# bench_fixture KIND: export and import rows of one fixture, its table.
bench_fixture() {
	local fx="$1" c upper env layer r t d tarc
	c="$(fixture_name "$fx")"
	upper="$(upper_of "$c")"
	env="$WORK/$fx.layer"
	layer="$WORK/$fx.layer.tar"
	tarc="tar -C $(q "$upper") --xattrs --numeric-owner -cf - ."

	log "fixture $fx: warming the page cache"
	tar -C "$upper" -cf - . | cat >/dev/null
	if [[ "$fx" == small ]] && ((VOLS == 1)); then
		"$EXPORT" "$(fixture_name vols)" 2>/dev/null | cat >/dev/null
	fi

	log "fixture $fx: export side, $RUNS runs"
	for ((r = 1; r <= RUNS; r++)); do
		if ((r <= PEER_RUNS)); then
			# docker commit first: removing its image deletes a copy of the
			# layer, the bulk delete that slows file creation for a while
			# after; the rows that follow only read.
			sample "$fx" commit_save "docker commit $(q "$c" "$COMMIT_IMAGE") >/dev/null && docker save $(q "$COMMIT_IMAGE") $(size_to)"
			docker image rm -f "$COMMIT_IMAGE" >/dev/null 2>&1 || true
			sample "$fx" docker_export "docker export $(q "$c") $(size_to)"
			sample "$fx" tar "$tarc $(size_to)"
			sample "$fx" tar_gzip1 "$tarc | gzip -1 $(size_to)"
			sample "$fx" tar_pigz "$tarc | pigz $(size_to)"
			sample "$fx" tar_zstd "$tarc | zstd -q -T0 -3 $(size_to)"
		fi
		sample "$fx" exp "$(q "$EXPORT" "$c") $(size_to)"
		if [[ "$fx" == small ]] && ((VOLS == 1)); then
			sample "$fx" exp_vols "$(q "$EXPORT" "$(fixture_name vols)") $(size_to)"
		fi
		sample "$fx" exp_zstd "$(q "$EXPORT" --compress zstd "$c") $(size_to)"
		sample "$fx" exp_gzip "$(q "$EXPORT" --compress gzip "$c") $(size_to)"
	done

	log "fixture $fx: envelope and layer.tar for the import side"
	"$EXPORT" "$c" >"$env" 2>/dev/null
	tar -xOf "$env" layer.tar >"$layer"

	remove_copies
	settle
	log "fixture $fx: import side, $RUNS runs"
	for ((r = 1; r <= RUNS; r++)); do
		t="lt-bench-t-$fx-$r"
		new_target "$t"
		sync
		sample "$fx" imp "$(q "$IMPORT" --no-backup -q "$t") < $(q "$env")"
		sample "$fx" check "$(q "$CHECK" --offline) < $(q "$env") > /dev/null"
		((r <= PEER_RUNS)) || continue
		sample "$fx" sha256sum "sha256sum < $(q "$env") > /dev/null"
		d="$WORK/x/$fx-tarx-$r"
		mkdir "$d"
		sync
		sample "$fx" tarx "tar -C $(q "$d") --xattrs --xattrs-include='*' --numeric-owner -xf $(q "$layer")"
		d="$WORK/x/$fx-tarxsync-$r"
		mkdir "$d"
		sync
		sample "$fx" tarx_sync "tar -C $(q "$d") --xattrs --xattrs-include='*' --numeric-owner -xf $(q "$layer") && sync"
	done

	echo
	echo "## $fx: $(fixture_summary "$upper")"
	echo
	echo "Export (all read the same upper directory):"
	table "$fx" exp exp_vols exp_zstd exp_gzip tar tar_gzip1 tar_pigz tar_zstd commit_save docker_export
	echo
	echo "Import and check of the uncompressed envelope ($(mib "$(stat -c %s "$env")") MiB; layer.tar $(mib "$(stat -c %s "$layer")") MiB), each run into a new target:"
	table "$fx" imp tarx tarx_sync check sha256sum

	if [[ "$fx" == large ]]; then
		sparse_report "$upper"
	fi

	# Its copies go just before the next import runs (see remove_copies).
	rm -f "$env" "$layer"
}

# remove_copies: delete the previous fixture's imported copies (targets, tar
# -x directories): a bulk delete, so it is followed by a settle.
remove_copies() {
	((KEEP == 0)) || return 0
	log "removing the imported copies of earlier fixtures"
	remove_scratch
	rm -rf "$WORK/x"
	mkdir -p "$WORK/x"
}

fixture_summary() {
	local upper="$1"
	printf '%s apparent, %s allocated, %s entries' \
		"$(du -sh --apparent-size "$upper" | cut -f1)" "$(du -sh "$upper" | cut -f1)" \
		"$(($(find "$upper" | wc -l) - 1))"
}

# sparse_report UPPER: allocated vs apparent size of the sparse file in the
# source, in the first layer-import target and in the first tar -x copies.
sparse_report() {
	local upper="$1" f=big/sparse.img t row
	echo
	echo "### sparse: \`$f\` (512 MiB apparent)"
	echo
	echo "| copy | allocated MiB | apparent MiB |"
	echo "| --- | ---: | ---: |"
	sparse_row() {
		if [[ -e "$2/$f" ]]; then
			printf '| %s | %s | %s |\n' "$1" \
				"$(mib "$(($(du -k "$2/$f" | cut -f1) * 1024))")" \
				"$(mib "$(($(du -k --apparent-size "$2/$f" | cut -f1) * 1024))")"
		else
			printf '| %s | missing | |\n' "$1"
		fi
	}
	sparse_row "source upper dir" "$upper"
	t="$(upper_of lt-bench-t-large-1 2>/dev/null || true)"
	row="after \`layer-import\`"
	if [[ -n "$t" ]]; then sparse_row "$row" "$t"; else printf '| %s | missing | |\n' "$row"; fi
	sparse_row "after \`tar -x\`" "$WORK/x/large-tarx-1"
	sparse_row "after \`tar -x\` + \`sync\`" "$WORK/x/large-tarxsync-1"
}

# million: peak memory of export, check and import on a layer of ENTRIES
# empty files.
bench_million() {
	local fx=million c env t
	c="$(fixture_name million)"
	env="$WORK/million.layer"
	log "million ($ENTRIES entries): export, check, import once each"
	tar -C "$(upper_of "$c")" -cf - . | cat >/dev/null
	sample "$fx" m_exp "$(q "$EXPORT" "$c") | cat > $(q "$env")"
	sample "$fx" m_check "$(q "$CHECK" --offline) < $(q "$env") > /dev/null"
	remove_copies
	t="lt-bench-t-million"
	new_target "$t"
	settle
	sample "$fx" m_imp "$(q "$IMPORT" --no-backup -q "$t") < $(q "$env")"

	echo
	echo "## million: $ENTRIES empty files in $(find "$(upper_of "$c")/m" -mindepth 1 -maxdepth 1 | wc -l) directories (one run each)"
	echo
	echo "Envelope: $(mib "$(stat -c %s "$env" 2>/dev/null || echo 0)") MiB. The README promises under 64 MiB of memory whatever the input."
	table "$fx" m_exp m_check m_imp
	rm -f "$env"
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

FIXTURES=(small large mixed)
if [[ -n "$ONLY" ]]; then
	FIXTURES=("$ONLY")
fi

# The volumes fixture goes with small: its rows are in small's table.
VOLS=0
for fx in "${FIXTURES[@]}"; do
	make_fixture "$fx"
	if [[ "$fx" == small ]]; then
		make_fixture vols
		VOLS=1
	fi
done
if ((MILLION == 1)); then
	make_fixture million
fi
log "fixtures ready after $((SECONDS - START))s"

header
for fx in "${FIXTURES[@]}"; do
	bench_fixture "$fx"
done
if ((MILLION == 1)); then
	bench_million
fi

RESULTS="$LT_STATE/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS"
cp "$WORK"/res/* "$RESULTS/"
echo
echo "Load average at the end (this benchmark included): $(loadavg)."
echo "Total time of this run: $((SECONDS - START)) s. Raw samples (wall cpu rss_kib bytes, one run a line): $RESULTS"
