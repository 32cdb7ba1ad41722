package envelope

import (
	"bytes"
	"context"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/internal/crc64iso"
	"github.com/layer-tool/layer-tool/pkg/overlay"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
)

// TestSplitWriterMatchesTarSplit pins the recorder to tar-split itself:
// for the same layer, the metadata it writes while the layer is written,
// and again in a replay that reads no file data, must be byte for byte
// what tar-split's disassembler writes from the finished tar.
func TestSplitWriterMatchesTarSplit(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	must(os.WriteFile(filepath.Join(root, "a/big"), bytes.Repeat([]byte("0123456789abcdef"), 200_000), 0o644))
	must(os.WriteFile(filepath.Join(root, "a/b/small"), []byte("x"), 0o600))
	must(os.WriteFile(filepath.Join(root, "a/empty"), nil, 0o644))
	must(os.WriteFile(filepath.Join(root, "odd\xffname"), []byte("odd"), 0o644))
	must(os.Link(filepath.Join(root, "a/b/small"), filepath.Join(root, "a/hard")))
	must(os.Symlink("/etc/passwd", filepath.Join(root, "link")))
	long := filepath.Join(root, string(bytes.Repeat([]byte("n"), 180)))
	must(os.WriteFile(long, []byte("long"), 0o644))

	var layer, live bytes.Buffer
	rec := newSplitWriter(&live)
	if _, err := overlay.Write(context.Background(), root, &layer, overlay.Options{Record: rec}); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	tee, err := asm.NewInputTarStream(bytes.NewReader(layer.Bytes()), storage.NewJSONPacker(&want), storage.NewDiscardFilePutter())
	must(err)
	_, err = io.Copy(io.Discard, tee)
	must(err)
	if !bytes.Equal(live.Bytes(), want.Bytes()) {
		t.Fatalf("recorded metadata differs from tar-split's:\n got %.300s\nwant %.300s", live.String(), want.String())
	}
	var replayed bytes.Buffer
	if _, err := overlay.Measure(context.Background(), root, overlay.Options{Record: rec.replaying(&replayed)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(replayed.Bytes(), want.Bytes()) {
		t.Fatalf("replayed metadata differs from tar-split's")
	}
}

// The checksums an export records are tar-split's: crc64iso is a faster
// route to the values of storage.CRCTable.
func TestSplitChecksumIsTarSplits(t *testing.T) {
	p := make([]byte, 100000)
	for i := range p {
		p[i] = byte(i * 7 / 3)
	}
	for _, n := range []int{0, 1, 511, 4096, 70000, len(p)} {
		if got, want := crc64iso.Update(0, p[:n]), crc64.Update(0, storage.CRCTable, p[:n]); got != want {
			t.Fatalf("%d bytes: crc64iso %#x, tar-split %#x", n, got, want)
		}
	}
}
