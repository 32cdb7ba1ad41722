package transfer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/internal/legacytest"
)

// A file of the original layer-tool whose layer.tar is in canonical form
// imports as an envelope does: the same applier, reassembly and proof.
func TestImportLegacy(t *testing.T) {
	entries := []legacytest.Entry{
		{Name: "etc/"}, {Name: "etc/motd", Data: "hello\n"},
		{Name: "srv/"}, {Name: "srv/payload", Data: strings.Repeat("payload\n", 20000), Mode: 0o600},
	}
	layer, err := legacytest.CanonicalLayer(context.Background(), t.TempDir(), entries)
	must(t, err)
	for _, gz := range []bool{false, true} {
		lo := newLayout(t, "")
		file := legacytest.File(legacytest.DefaultMeta(entries), layer, gz)
		var seen envelope.Meta
		gate := func(_ context.Context, m *envelope.Meta) error {
			seen = *m
			return nil
		}
		res, err := Import(context.Background(), lo.tg, bytes.NewReader(file), ImportOptions{Gate: gate})
		if err != nil {
			t.Fatalf("gzip %v: Import: %v", gz, err)
		}
		if !envelope.IsLegacy(&seen) || seen.Layer.Entries != int64(len(layer))/512 {
			t.Errorf("gate saw %+v", seen)
		}
		if res.Entries != int64(len(entries)) || res.Digest != layerDigest(t, lo.upper) || res.Unchecked != nil {
			t.Errorf("imported %+v", res)
		}
		for _, e := range entries {
			p := filepath.Join(lo.upper, e.Name)
			fi, err := os.Stat(p)
			switch {
			case err != nil:
				t.Errorf("%s: %v", e.Name, err)
			case e.Dir() != fi.IsDir() || !fi.ModTime().Equal(legacytest.Mtime):
				t.Errorf("%s: %v, mtime %v", e.Name, fi.Mode(), fi.ModTime())
			case !e.Dir():
				if data, _ := os.ReadFile(p); string(data) != e.Data {
					t.Errorf("%s: %d bytes, want %d", e.Name, len(data), len(e.Data))
				}
			}
		}
		// Nothing of the old layer is left: a layer-tool-rs file holds
		// the whole upper dir.
		if _, err := os.Lstat(filepath.Join(lo.upper, "gone")); !os.IsNotExist(err) {
			t.Errorf("old whiteout still there: %v", err)
		}
	}
}

// A wrong layer_checksum refuses the import and leaves the layer as it was.
func TestImportLegacyBadChecksum(t *testing.T) {
	entries := []legacytest.Entry{{Name: "etc/"}, {Name: "etc/motd", Data: "hello\n"}}
	layer, err := legacytest.CanonicalLayer(context.Background(), t.TempDir(), entries)
	must(t, err)
	m := legacytest.DefaultMeta(entries)
	m.Checksum = strings.Repeat("ab", 32)
	lo := newLayout(t, "")
	_, err = Import(context.Background(), lo.tg, bytes.NewReader(legacytest.File(m, layer, false)), ImportOptions{Gate: okGate})
	if err == nil || !strings.Contains(err.Error(), "layer_checksum") {
		t.Fatalf("Import: %v, want a layer_checksum mismatch", err)
	}
	lo.unchanged(t)
}
