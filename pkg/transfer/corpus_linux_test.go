package transfer

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"context"
	"encoding/base64"
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
	var files []string
	for _, pattern := range []string{"*.tar", "*.tar.base64", "*.tar.bz2"} {
		m, err := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "archive", "tar", "testdata", pattern))
		must(t, err)
		files = append(files, m...)
	}
	if len(files) < 40 {
		t.Fatalf("Go's archive/tar test archives under %s: %d found", runtime.GOROOT(), len(files))
	}
	return files
}

// readCorpus reads an archive of the corpus, decoding the base64 and
// bzip2 ones as archive/tar's own tests do, at most 64 MiB of it.
func readCorpus(t *testing.T, file string) []byte {
	f, err := os.Open(file)
	must(t, err)
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(file, ".base64"):
		r = base64.NewDecoder(base64.StdEncoding, r)
	case strings.HasSuffix(file, ".bz2"):
		r = bzip2.NewReader(r)
	}
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	must(t, err)
	return data
}

// corpusEnvelope wraps a tar as the layer of an otherwise correct
// envelope: envelope.json declares its size and the entries archive/tar
// reads of it, the tar-split member is what tar-split records of it (as
// far as it can), and SHA256SUMS is made anew.
func corpusEnvelope(t *testing.T, data []byte) []byte {
	t.Helper()
	var entries int64
	sparse := false
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		entries++
		// Skipping a sparse entry walks its holes: tens of gigabytes of
		// them in some of the archives. Both tools refuse it at once.
		if sparse = hdr.Typeflag == tar.TypeGNUSparse || hdr.PAXRecords["GNU.sparse.map"] != "" || hdr.PAXRecords["GNU.sparse.major"] != ""; sparse {
			break
		}
	}
	entries = min(entries, int64(len(data))/512)
	return hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
		ms[3].data = data
		ms[4].data = corpusSplit(data, sparse)
		ms[0].data = []byte(hxMetaText(t, int64(len(data)), entries))
		return ms
	})(t)
}

// corpusSplit is the gzipped tar-split metadata of what tar-split can read
// of a tar (nothing of one with sparse entries, whose holes it would
// expand).
func corpusSplit(data []byte, sparse bool) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if !sparse {
		if tee, err := asm.NewInputTarStream(bytes.NewReader(data), &hxPacker{enc: jsonEncoder(zw)}, storage.NewDiscardFilePutter()); err == nil {
			io.Copy(io.Discard, tee)
		}
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
			env := corpusEnvelope(t, readCorpus(t, file))
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
