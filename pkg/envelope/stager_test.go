package envelope

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// memStager keeps the layer's files in memory, as an import keeps them on
// disk, and can serve one of them altered. Like the import, it tells
// Staged when a file is written.
type memStager struct {
	files   map[string][]byte
	alter   string
	staged  []string
	written chan string
}

func newMemStager(alter string) *memStager {
	return &memStager{files: map[string][]byte{}, alter: alter, written: make(chan string, 8)}
}

func (*memStager) Meta(context.Context, *Meta) error { return nil }

func (m *memStager) Tree(_ context.Context, t TreeRef, r io.Reader) error {
	// Each tree gets its own queue; Staged reads the current one.
	if t.Index > 0 {
		m.written = make(chan string, 8)
		m.files = map[string][]byte{}
	}
	defer close(m.written)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		m.files[hdr.Name] = data
		if len(data) > 0 {
			m.written <- hdr.Name
		}
	}
}

func (*memStager) Stages(int) bool { return true }

func (m *memStager) Staged(_ int, name string) (io.ReadCloser, error) {
	if got := <-m.written; got != name {
		return nil, errors.New("out of order: " + got)
	}
	m.staged = append(m.staged, name)
	data := m.files[name]
	if name == m.alter {
		data = append([]byte("!"), data[1:]...)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func TestExtractReassembles(t *testing.T) {
	env := fuzzEnvelope(t, None)
	st := newMemStager("")
	ex, err := Extract(context.Background(), bytes.NewReader(env), st)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Trees[0].Reassembled == "" || ex.Trees[0].Reassembled != ex.LayerDigest {
		t.Fatalf("reassembled %q, layer %q", ex.Trees[0].Reassembled, ex.LayerDigest)
	}
	if len(st.staged) != 1 || st.staged[0] != "etc/passwd" {
		t.Fatalf("staged %q, want the one file with contents", st.staged)
	}
	_, err = Extract(context.Background(), bytes.NewReader(env), newMemStager("etc/passwd"))
	if !errors.Is(err, ErrReassembly) {
		t.Fatalf("altered staged file: %v, want ErrReassembly", err)
	}
}
