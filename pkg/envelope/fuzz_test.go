package envelope

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// fuzzEnvelope builds a small valid envelope around a hand-made layer.
func fuzzEnvelope(tb testing.TB, c Compression) []byte {
	tb.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	mt := time.Unix(1700000000, 123456789)
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
		{Name: "etc/.wh.motd", Typeflag: tar.TypeReg, ModTime: mt},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5, ModTime: mt, PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}},
		{Name: "etc/pw", Typeflag: tar.TypeLink, Linkname: "etc/passwd", Mode: 0o644, ModTime: mt},
		{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc", ModTime: mt},
	} {
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("root\n"))
		}
	}
	tw.Close()
	meta := Meta{
		Format: Format, Created: mt.UTC(), Producer: "fuzz",
		Container: Container{ID: "c", ImageID: "sha256:i", ImageLayers: []string{"sha256:l"}, StorageDriver: "overlay2"},
		Host:      Host{OS: "linux", Arch: "amd64"},
		Layer:     Layer{Size: int64(layer.Len()), Entries: 5},
	}
	var out bytes.Buffer
	err := Write(context.Background(), &out, Contents{
		Meta: meta, Container: []byte(`{"Id":"c"}`), Info: []byte(`{}`),
		WriteLayer: func(_ context.Context, w io.Writer) error {
			_, err := w.Write(layer.Bytes())
			return err
		},
	}, WriteOptions{Compression: c})
	if err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

func addEnvelopeSeeds(f *testing.F) {
	for _, c := range []Compression{None, Gzip, Zstd} {
		env := fuzzEnvelope(f, c)
		f.Add(env)
		f.Add(env[:len(env)/2])
		f.Add(append(append([]byte(nil), env...), 1, 2, 3))
	}
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00})
	f.Add([]byte("not an envelope"))
}

// FuzzVerify feeds layer-check's reader arbitrary bytes: it must never
// panic, and must call valid only what Extract also accepts.
func FuzzVerify(f *testing.F) {
	if rep, _ := Verify(context.Background(), bytes.NewReader(fuzzEnvelope(f, None))); !rep.Valid {
		f.Fatalf("seed envelope invalid: %+v", rep.Checks)
	}
	addEnvelopeSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(context.Background(), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		_, exErr := Extract(context.Background(), bytes.NewReader(data), validatingHandler{})
		if rep.Valid && exErr != nil {
			t.Fatalf("Verify says valid, Extract says %v", exErr)
		}
		// What an import refuses for the layer's content, check fails
		// with the same words.
		if content := errors.Is(exErr, overlay.ErrBadEntry) || errors.Is(exErr, overlay.ErrOrder) || errors.Is(exErr, overlay.ErrUnsafePath); content {
			found := false
			for _, c := range rep.Checks {
				found = found || c.Status == Fail && c.Message == message(exErr)
			}
			if !found {
				t.Fatalf("Extract refuses the content (%v), the report does not say so: %+v", exErr, rep.Checks)
			}
		}
	})
}

// validatingHandler reads the layer as an import would, without writing.
type validatingHandler struct{}

func (validatingHandler) Meta(context.Context, *Meta) error { return nil }

func (validatingHandler) Tree(_ context.Context, t TreeRef, r io.Reader) (int64, error) {
	tr := tar.NewReader(r)
	v := overlay.Validator{Plain: t.Plain()}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return v.Count(), nil
		}
		if err != nil {
			return v.Count(), fmt.Errorf("layer entry %d: %w", v.Count()+1, err)
		}
		if _, err := v.Entry(hdr); err != nil {
			return v.Count(), fmt.Errorf("layer entry %d: %w", v.Count(), err)
		}
	}
}

// FuzzDecompress: the compression front must not panic and must stay
// within its window cap on any input.
func FuzzDecompress(f *testing.F) {
	addEnvelopeSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decompress(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, d, 64<<20); err != nil && err != io.EOF {
			return
		}
		d.finish()
	})
}
