package transfer

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"

	"github.com/layer-tool/layer-tool/pkg/envelope"
)

// goTarCorpus lists the archives of Go's own archive/tar tests, read from
// GOROOT at test time.
func goTarCorpus(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "archive", "tar", "testdata", "*.tar"))
	if err != nil || len(files) < 30 {
		t.Fatalf("Go's archive/tar test archives under %s: %d found (%v)", runtime.GOROOT(), len(files), err)
	}
	return files
}

// corpusEnvelope wraps a tar as the layer of an otherwise correct
// envelope: envelope.json declares its size and the entries archive/tar
// reads of it, the tar-split member is what tar-split records of it (as
// far as it can), and SHA256SUMS is made anew.
func corpusEnvelope(t *testing.T, data []byte) []byte {
	t.Helper()
	var entries int64
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		if _, err := tr.Next(); err != nil {
			break
		}
		entries++
	}
	entries = min(entries, int64(len(data))/512)
	return hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
		ms[3].data = data
		ms[4].data = corpusSplit(data)
		ms[0].data = []byte(hxMetaText(t, int64(len(data)), entries))
		return ms
	})(t)
}

// corpusSplit is the gzipped tar-split metadata of what tar-split can read
// of a tar.
func corpusSplit(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if tee, err := asm.NewInputTarStream(bytes.NewReader(data), &hxPacker{enc: jsonEncoder(zw)}, storage.NewDiscardFilePutter()); err == nil {
		io.Copy(io.Discard, tee)
	}
	zw.Close()
	return buf.Bytes()
}

// Every archive of Go's archive/tar tests, wrapped as a layer: layer-check's
// verdict is layer-import's, and when the import refuses the layer for
// what it holds, the check fails with the same words. The table it logs
// (go test -run TestGoTarCorpus -v) is the one in the README.
func TestGoTarCorpus(t *testing.T) {
	needRoot(t)
	for _, file := range goTarCorpus(t) {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			must(t, err)
			env := corpusEnvelope(t, data)
			lo := newLayout(t, "")
			_, ierr := Import(context.Background(), lo.tg, bytes.NewReader(env), ImportOptions{Gate: okGate})
			rep, err := envelope.Verify(context.Background(), bytes.NewReader(env))
			must(t, err)
			var fails []string
			for _, c := range rep.Checks {
				if c.Status == envelope.Fail {
					fails = append(fails, c.Name+": "+c.Message)
				}
			}
			verdict := "imports"
			if ierr != nil {
				verdict = "refused: " + ierr.Error()
				lo.unchanged(t)
			}
			canonical := "-"
			if c := rep.Layer.Canonical; c != nil && *c {
				canonical = "canonical"
			} else if c != nil {
				canonical = "not canonical: " + rep.Layer.NotCanonical
			}
			t.Logf("| %s | %s | check valid=%v %q | %s |", name, verdict, rep.Valid, fails, canonical)
			switch {
			case rep.Valid && ierr != nil:
				t.Errorf("check calls it valid, import refuses it: %v", ierr)
			case !rep.Valid && ierr == nil && !onlyTarSplit(fails):
				t.Errorf("import takes it, check calls it invalid: %q", fails)
			case ierr != nil && !errors.Is(ierr, ErrNoSpace):
				want := strings.TrimPrefix(ierr.Error(), envelope.ErrStructure.Error()+": ")
				found := false
				for _, f := range fails {
					found = found || strings.HasSuffix(f, ": "+want)
				}
				if !found {
					t.Errorf("import refuses it with %q; check does not say so: %q", want, fails)
				}
			}
		})
	}
}

// onlyTarSplit tells whether the only failure is of the tar-split member,
// which layer-import does not read: an archive tar-split cannot record
// has no valid envelope, but its layer is still what it is.
func onlyTarSplit(fails []string) bool {
	for _, f := range fails {
		if !strings.HasPrefix(f, envelope.CheckTarSplit+": ") {
			return false
		}
	}
	return len(fails) > 0
}

func jsonEncoder(w io.Writer) *json.Encoder { return json.NewEncoder(w) }
