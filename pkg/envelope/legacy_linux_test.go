package envelope

import (
	"bytes"
	"context"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/internal/legacytest"
)

// A layer.tar in layer-tool's canonical form (made on disk) checks as
// valid, checksum and all, and extracts.
func TestLegacyCanonical(t *testing.T) {
	layer, err := legacytest.CanonicalLayer(context.Background(), t.TempDir(), legacyEntries)
	if err != nil {
		t.Fatal(err)
	}
	file := legacytest.File(legacytest.DefaultMeta(legacyEntries), layer, true)
	rep := legacyVerify(t, file)
	if !rep.Valid {
		t.Fatalf("invalid:\n%s", legacyDescribe(rep))
	}
	if c, _ := legacyCheck(rep, CheckChecksums); c.Status != Pass {
		t.Errorf("checksums %s %q", c.Status, c.Message)
	}
	ex, err := Extract(context.Background(), bytes.NewReader(file), validatingHandler{})
	if err != nil || ex.Trees[0].Entries != rep.Layer.Entries {
		t.Fatalf("Extract: %v", err)
	}
}

// As the Rust tar crate writes it (GNU headers, "srv" for a directory,
// directory order), layer.tar is read through and layer_checksum is said
// to be unchecked, whatever the layer rules make of the entries.
func TestLegacyTarRS(t *testing.T) {
	entries := []legacytest.Entry{legacyEntries[3], legacyEntries[6], legacyEntries[4], legacyEntries[5], legacyEntries[0], legacyEntries[2], legacyEntries[1]}
	file := legacytest.File(legacytest.DefaultMeta(entries), legacytest.GNULayer(entries, true), false)
	rep := legacyVerify(t, file)
	for _, name := range []string{CheckStructure, CheckMetadata} {
		if c, _ := legacyCheck(rep, name); c.Status != Pass {
			t.Errorf("%s %s %q", name, c.Status, c.Message)
		}
	}
	c, _ := legacyCheck(rep, CheckChecksums)
	if l, _ := legacyCheck(rep, CheckLayer); (l.Status == Pass) != (c.Status == Warn) {
		t.Errorf("layer %s, checksums %s %q:\n%s", l.Status, c.Status, c.Message, legacyDescribe(rep))
	}
	ex, err := Extract(context.Background(), bytes.NewReader(file), validatingHandler{})
	if err != nil || len(ex.Unchecked) != 1 {
		t.Fatalf("Extract: %v, unchecked %q", err, ex.Unchecked)
	}
}
