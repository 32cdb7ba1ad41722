package envelope

import (
	"archive/tar"
	"bufio"
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
	"github.com/layer-tool/layer-tool/pkg/overlay"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
)

// Contents is what an envelope carries.
type Contents struct {
	Meta Meta
	// Container and Info are the raw container inspect and /info documents.
	Container, Info []byte
	// Layer produces layer.tar, exactly Meta.Layer.Size bytes.
	Layer LayerSource
	// Volumes produce the volumes' tars (v2), one for each of
	// Meta.Volumes, in that order, each exactly its Size bytes.
	Volumes []LayerSource
	// WriteLayer, for a layer tar that exists already (tests, tools),
	// streams it into w; used when Layer is nil. Its tar-split metadata
	// is parsed from the stream and held in memory until it is written.
	WriteLayer func(ctx context.Context, w io.Writer) error
}

// LayerSource produces layer.tar for an envelope, and can go over it a
// second time without its file contents.
type LayerSource interface {
	// WriteLayer streams layer.tar into w, telling rec as it goes.
	WriteLayer(ctx context.Context, w io.Writer, rec overlay.Recorder) error
	// ReplayLayer tells rec what WriteLayer told it, except the
	// contents, without reading them: a stat-only pass.
	ReplayLayer(ctx context.Context, rec overlay.Recorder) error
}

// splitLevel is the gzip level of layer.tar-split.json.gz. With a
// LayerSource the metadata is compressed twice (once to learn its size,
// once to write it), so it is the fastest level.
const splitLevel = gzip.BestSpeed

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

	if c.Layer != nil {
		err = ew.layerFromSource(ctx, c.Layer, c.Meta.Layer.Size, MemberLayer, MemberTarSplit)
	} else {
		err = ew.layerFromStream(ctx, c.WriteLayer, c.Meta.Layer.Size)
	}
	if err != nil {
		return err
	}
	if len(c.Volumes) != len(c.Meta.Volumes) {
		return fmt.Errorf("%d volume sources for %d volumes in %s", len(c.Volumes), len(c.Meta.Volumes), MemberEnvelope)
	}
	for i, src := range c.Volumes {
		if err := ew.layerFromSource(ctx, src, c.Meta.Volumes[i].Size, VolumeTar(i), VolumeTarSplit(i)); err != nil {
			return err
		}
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

// layerFromSource writes a tree's tar (as member tarName) and its
// tar-split metadata (splitName) holding neither: while the tar streams,
// its metadata is recorded, compressed and only counted (a tar member's
// size comes before its data); then a stat-only replay writes the same
// metadata, with the checksums kept from the first pass (8 bytes a file).
func (ew *writer) layerFromSource(ctx context.Context, src LayerSource, size int64, tarName, splitName string) error {
	count := &countWriter{}
	zc, err := gzip.NewWriterLevel(count, splitLevel)
	if err != nil {
		return err
	}
	rec := newSplitWriter(zc)
	arec := newAsyncRecorder(rec)
	defer arec.close()
	if err := ew.member(tarName, size, func(w io.Writer) error {
		// A tar writes each header block on its own: gather them, so that
		// the digest worker and the output see few, large writes.
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := src.WriteLayer(ctx, bw, arec); err != nil {
			return err
		}
		return bw.Flush()
	}); err != nil {
		return err
	}
	if err := zc.Close(); err != nil {
		return err
	}
	return ew.member(splitName, count.n, func(w io.Writer) error {
		zw, err := gzip.NewWriterLevel(w, splitLevel)
		if err != nil {
			return err
		}
		replay := rec.replaying(zw)
		if err := src.ReplayLayer(ctx, replay); err != nil {
			return err
		}
		if len(replay.crcs) != 0 {
			return fmt.Errorf("tar-split replay: %d checksums left over: %w", len(replay.crcs)/8, ErrLayerSize)
		}
		return zw.Close()
	})
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// layerFromStream writes a finished layer tar and then its tar-split
// metadata, parsed from the stream and held in memory in between.
func (ew *writer) layerFromStream(ctx context.Context, write func(context.Context, io.Writer) error, size int64) error {
	var split bytes.Buffer
	if err := ew.member(MemberLayer, size, func(w io.Writer) error {
		return writeLayer(ctx, w, &split, write)
	}); err != nil {
		return err
	}
	return ew.member(MemberTarSplit, int64(split.Len()), func(w io.Writer) error {
		_, err := w.Write(split.Bytes())
		return err
	})
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
	h := newAsyncHash(sha256.New())
	defer h.Sum()
	fw := &fixedWriter{w: io.MultiWriter(ew.tw, h), left: size}
	if err := write(fw); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if fw.left != 0 {
		return fmt.Errorf("write %s: %d bytes short: %w", name, fw.left, ErrLayerSize)
	}
	if name != MemberSums {
		fmt.Fprintf(&ew.sums, "%s  %s\n", hex.EncodeToString(h.Sum()), name)
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
