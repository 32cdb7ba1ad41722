package envelope

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
)

// Contents is what an envelope carries.
type Contents struct {
	Meta Meta
	// Container and Info are the raw container inspect and /info documents.
	Container, Info []byte
	// WriteLayer streams layer.tar into w; it must write exactly
	// Meta.Layer.Size bytes.
	WriteLayer func(ctx context.Context, w io.Writer) error
}

// WriteOptions choose how the envelope is compressed.
type WriteOptions struct {
	Compression Compression
	Level       int
}

// ErrLayerSize: the layer writer produced more or fewer bytes than announced.
var ErrLayerSize = errors.New("layer.tar is not the size announced in envelope.json")

// Write writes an envelope holding c to w.
func Write(ctx context.Context, w io.Writer, c Contents, opts WriteOptions) (err error) {
	zw, err := compressor(w, opts.Compression, opts.Level)
	if err != nil {
		return err
	}
	meta, err := json.MarshalIndent(c.Meta, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", MemberEnvelope, err)
	}
	ew := &writer{tw: tar.NewWriter(zw), mtime: c.Meta.Created.Truncate(time.Second)}
	for _, m := range []struct {
		name string
		data []byte
	}{
		{MemberEnvelope, append(meta, '\n')},
		{MemberContainer, c.Container},
		{MemberInfo, c.Info},
	} {
		if err := ew.member(m.name, int64(len(m.data)), func(w io.Writer) error {
			_, err := w.Write(m.data)
			return err
		}); err != nil {
			return err
		}
	}

	var split bytes.Buffer
	if err := ew.member(MemberLayer, c.Meta.Layer.Size, func(w io.Writer) error {
		return writeLayer(ctx, w, &split, c.WriteLayer)
	}); err != nil {
		return err
	}
	if err := ew.member(MemberTarSplit, int64(split.Len()), func(w io.Writer) error {
		_, err := w.Write(split.Bytes())
		return err
	}); err != nil {
		return err
	}
	sums := ew.sums.Bytes()
	if err := ew.member(MemberSums, int64(len(sums)), func(w io.Writer) error {
		_, err := w.Write(sums)
		return err
	}); err != nil {
		return err
	}
	if err := ew.tw.Close(); err != nil {
		return fmt.Errorf("close envelope: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("close %s stream: %w", opts.Compression, err)
	}
	return nil
}

// writeLayer streams the layer into w and records its tar-split metadata,
// gzipped, into split. tar-split parses the stream in its own goroutine.
func writeLayer(ctx context.Context, w io.Writer, split *bytes.Buffer, write func(context.Context, io.Writer) error) error {
	zw := gzip.NewWriter(split)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		tee, err := asm.NewInputTarStream(pr, storage.NewJSONPacker(zw), storage.NewDiscardFilePutter())
		if err == nil {
			_, err = io.Copy(io.Discard, tee)
		}
		pr.CloseWithError(err)
		done <- err
	}()
	err := write(ctx, io.MultiWriter(w, pw))
	pw.CloseWithError(err)
	if splitErr := <-done; err == nil && splitErr != nil {
		err = fmt.Errorf("record tar-split: %w", splitErr)
	}
	if err != nil {
		return err
	}
	return zw.Close()
}

// writer writes the members of an envelope and their SHA256SUMS lines.
type writer struct {
	tw    *tar.Writer
	mtime time.Time
	sums  bytes.Buffer
}

func (ew *writer) member(name string, size int64, write func(io.Writer) error) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		ModTime:  ew.mtime,
		Format:   tar.FormatPAX,
	}
	if err := ew.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s header: %w", name, err)
	}
	h := sha256.New()
	fw := &fixedWriter{w: io.MultiWriter(ew.tw, h), left: size}
	if err := write(fw); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if fw.left != 0 {
		return fmt.Errorf("write %s: %d bytes short: %w", name, fw.left, ErrLayerSize)
	}
	if name != MemberSums {
		fmt.Fprintf(&ew.sums, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
	}
	return nil
}

// fixedWriter refuses to write past the size announced in a member header.
type fixedWriter struct {
	w    io.Writer
	left int64
}

func (f *fixedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > f.left {
		return 0, ErrLayerSize
	}
	n, err := f.w.Write(p)
	f.left -= int64(n)
	return n, err
}
