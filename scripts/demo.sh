#!/usr/bin/env bash
# End-to-end demo: make a container whose read-write layer has new files, a
# deletion (whiteout), a replaced directory (opaque dir), a symlink and a
# setuid file; export that layer as an envelope, list it and check it, then do
# the same through the layer-tool multi-command with compression.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

CONTAINER=layer-tool-demo

# step: show the command (as a shell would with -x) before running it.
step() {
	printf '\n+ %s\n' "$*" >&2
}

lt_install
# lt_daemon_stop only stops the daemon if lt_daemon_start launched it here;
# a daemon that was already running is left alone.
trap lt_daemon_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lt_daemon_start
lt_base_image

BIN="$(mktemp -d)"
OUT="$(mktemp -d)"

step go build -o "$BIN/" ./cmd/...
(cd "$ROOT" && go build -o "$BIN/" ./cmd/...)

# A fresh container every time, so the layer content is always the same.
COPY="$CONTAINER-copy"
docker rm -f -v "$CONTAINER" "$COPY" >/dev/null 2>&1 || true
docker volume rm -f "$CONTAINER-data" "$COPY-data" >/dev/null 2>&1 || true
script='echo "rows: 3" > /data/db && mkdir -p /srv/www && echo hello > /srv/www/index.html && rm /etc/motd && rm -rf /usr/share/doc/base && mkdir /usr/share/doc/base && echo new > /usr/share/doc/base/README && ln -s /srv/www /www && chmod 4755 /srv/www/index.html'
step docker run --network none --name "$CONTAINER" -v "$CONTAINER-data:/data" layer-tool-base sh -c "'$script'"
docker run --network none --name "$CONTAINER" -v "$CONTAINER-data:/data" layer-tool-base sh -c "$script"

# Keep going after a failing tool step so the whole demo output is visible,
# but remember the failure for the exit status.
status=0

step "$BIN/layer-export" "$CONTAINER" ">" "$OUT/demo.layer"
"$BIN/layer-export" "$CONTAINER" >"$OUT/demo.layer" || status=$?

step tar -tvf "$OUT/demo.layer"
tar -tvf "$OUT/demo.layer" || status=$?

step "$BIN/layer-check" "<" "$OUT/demo.layer"
"$BIN/layer-check" <"$OUT/demo.layer" || status=$?

# Import: a fresh container of the same image, with its own volume at
# /data, gets the layer and the volume's data; then it runs with them.
step docker create --network none --name "$COPY" -v "$COPY-data:/data" layer-tool-base sh -c "'cat /data/db /srv/www/index.html'"
docker create --network none --name "$COPY" -v "$COPY-data:/data" layer-tool-base sh -c 'cat /data/db /srv/www/index.html' >/dev/null || status=$?
step "$BIN/layer-import" "$COPY" "<" "$OUT/demo.layer"
"$BIN/layer-import" "$COPY" <"$OUT/demo.layer" || status=$?
step docker start -a "$COPY"
docker start -a "$COPY" || status=$?

step "$BIN/layer-tool" export "$CONTAINER" "$OUT/demo.layer.gz" --compress
"$BIN/layer-tool" export "$CONTAINER" "$OUT/demo.layer.gz" --compress || status=$?

step "$BIN/layer-tool" check "$OUT/demo.layer.gz"
"$BIN/layer-tool" check "$OUT/demo.layer.gz" || status=$?

cat >&2 <<MSG

layer-tool demo:
  binaries:  $BIN
  envelopes: $OUT/demo.layer, $OUT/demo.layer.gz
  container: $CONTAINER (left in place; daemon state in $LT_STATE)
MSG
if ((status != 0)); then
	echo "layer-tool demo: a step failed (last failing status $status)" >&2
fi
exit "$status"
