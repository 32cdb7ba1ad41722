package envelope

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
)

// A tar-split member with a second gzip member after the genuine one: a
// consumer's multistream gzip reader reassembles other bytes from it, so
// its sum must differ.
func TestSplitSecondGzipMember(t *testing.T) {
	// A tar of one file "f" with "abc".
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3})
	tw.Write([]byte("abc"))
	tw.Close()
	layer := tb.Bytes()

	// Its genuine tar-split metadata.
	var meta bytes.Buffer
	zw := gzip.NewWriter(&meta)
	rdr, err := asm.NewInputTarStream(bytes.NewReader(layer), storage.NewJSONPacker(zw), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rdr)
	zw.Close()
	good, n1, err := digestTarSplit(bytes.NewReader(meta.Bytes()), int64(len(layer)))
	if err != nil {
		t.Fatal(err)
	}

	// The same, plus a second gzip member with one more segment.
	evil := append([]byte(nil), meta.Bytes()...)
	var extra bytes.Buffer
	zw2 := gzip.NewWriter(&extra)
	line, _ := json.Marshal(storage.Entry{Type: storage.SegmentType, Payload: []byte("EVIL BYTES APPENDED"), Position: 999})
	zw2.Write(append(line, '\n'))
	zw2.Close()
	evil = append(evil, extra.Bytes()...)
	got, n2, err := digestTarSplit(bytes.NewReader(evil), int64(len(layer)))
	t.Logf("good: %d entries; evil: %d entries, err %v, equal sum %v", n1, n2, err, bytes.Equal(good, got))

	// What a tar-split consumer reassembles from the evil member.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("abc"), 0o644)
	zr, err := gzip.NewReader(bytes.NewReader(evil))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = asm.WriteOutputTarStream(storage.NewPathFileGetter(dir), storage.NewJSONUnpacker(zr), &out)
	t.Logf("reassembled %d bytes (layer.tar %d), err %v, same %v, tail %q", out.Len(), len(layer), err, bytes.Equal(out.Bytes(), layer), out.Bytes()[max(0, out.Len()-19):])
	if err == nil && bytes.Equal(good, got) && !bytes.Equal(out.Bytes(), layer) {
		t.Error("check's tar-split sum passes, but the member reassembles to other bytes")
	}
}

// The same in a whole envelope, SHA256SUMS made anew: check fails it.
func TestVerifySplitSecondGzipMember(t *testing.T) {
	f := newEnvFixture(t, "one")
	base := writeEnvelope(t, f.c, None)
	ms := parseMembers(t, base)
	var split []byte
	for _, m := range ms {
		if m.name == MemberTarSplit {
			split = m.data
		}
	}
	var extra bytes.Buffer
	zw := gzip.NewWriter(&extra)
	line, _ := json.Marshal(storage.Entry{Type: storage.SegmentType, Payload: []byte("EVIL"), Position: 0})
	zw.Write(append(line, '\n'))
	zw.Close()
	evil := assembleMembers(t, replaceMember(ms, MemberTarSplit, append(bytes.Clone(split), extra.Bytes()...), true))
	rep, err := Verify(context.Background(), bytes.NewReader(evil))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("valid=%v", rep.Valid)
	for _, c := range rep.Checks {
		t.Logf("  %s: %v %s", c.Name, c.Status, c.Message)
	}
	if rep.Valid {
		t.Error("an envelope whose tar-split member carries a second gzip member (extra segment) is called valid")
	}
}
