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
// LayerSource the metadata of a large tree is compressed twice (once to
// learn its size, once to write it), so it is the fastest level.
const splitLevel = gzip.BestSpeed

// WriteOptions choose how the envelope is compressed.
type WriteOptions struct {
	Compression Compression
	Level       int
}

// ErrLayerSize: the layer writer produced more or fewer bytes than announced.
var ErrLayerSize = errors.New("layer.tar is not the size announced in envelope.json")

// Write writes an envelope holding c to w.
func Write(ctx context.Context, w io.Writer, c Contents, opts WriteOptions) error {
	_, err := write(ctx, w, c, opts, false)
	return err
}

// WriteDigest writes an envelope holding c to w and returns its digest
// ("sha256:HEX"), the one --expect checks: the sha256 of its SHA256SUMS,
// a root over every member (as an OCI manifest's digest is over its
// layers). It costs no hash over the stream, and a recompressed envelope
// keeps it.
func WriteDigest(ctx context.Context, w io.Writer, c Contents, opts WriteOptions) (string, error) {
	return write(ctx, w, c, opts, true)
}

func write(ctx context.Context, w io.Writer, c Contents, opts WriteOptions, digest bool) (sum string, err error) {
	var root []byte
	stages := []stage{nil, &sumStage{h: sha256.New()}, &splitStage{}}
	// A compressor writes small pieces: one write a megabyte to the
	// output (and its digest). Uncompressed, the blocks are that already.
	var bw *bufio.Writer
	if opts.Compression != None && opts.Compression != "" {
		bw = bufio.NewWriterSize(w, 1<<20)
		w = bw
	}
	zw, err := compressor(w, opts.Compression, opts.Level)
	if err != nil {
		return "", err
	}
	stages[0] = &outputStage{w: zw}
	s := newStream(stages...)
	defer s.close()
	if root, err = writeMembers(ctx, s, c); err != nil {
		return "", err
	}
	// The stages are done with everything: the compressor is the
	// caller's again.
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("close %s stream: %w", opts.Compression, err)
	}
	if bw != nil {
		if err := bw.Flush(); err != nil {
			return "", err
		}
	}
	if digest {
		sum = Root(root)
	}
	return sum, nil
}

// writeMembers writes the members of c into s, and the tar's end, waits
// until the stages have taken all of it, and returns SHA256SUMS.
func writeMembers(ctx context.Context, s *stream, c Contents) ([]byte, error) {
	meta, err := json.MarshalIndent(c.Meta, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", MemberEnvelope, err)
	}
	ew := &writer{s: s, tw: tar.NewWriter(s), mtime: c.Meta.Created.Truncate(time.Second)}
	for _, m := range []struct {
		name string
		data []byte
	}{
		{MemberEnvelope, append(meta, '\n')},
		{MemberContainer, c.Container},
		{MemberInfo, c.Info},
	} {
		if err := ew.bytes(m.name, m.data); err != nil {
			return nil, err
		}
	}

	if c.Layer != nil {
		err = ew.layerFromSource(ctx, c.Layer, c.Meta.Layer.Size, MemberLayer, MemberTarSplit)
	} else {
		err = ew.layerFromStream(ctx, c.WriteLayer, c.Meta.Layer.Size)
	}
	if err != nil {
		return nil, err
	}
	if len(c.Volumes) != len(c.Meta.Volumes) {
		return nil, fmt.Errorf("%d volume sources for %d volumes in %s", len(c.Volumes), len(c.Meta.Volumes), MemberEnvelope)
	}
	for i, src := range c.Volumes {
		if err := ew.layerFromSource(ctx, src, c.Meta.Volumes[i].Size, VolumeTar(i), VolumeTarSplit(i)); err != nil {
			return nil, err
		}
	}
	sums, err := ew.sums()
	if err != nil {
		return nil, err
	}
	if err := ew.bytes(MemberSums, sums); err != nil {
		return nil, err
	}
	if err := ew.tw.Close(); err != nil {
		return nil, fmt.Errorf("close envelope: %w", err)
	}
	return sums, s.sync()
}

// splitMemory bounds the gzipped tar-split metadata of a tree that an
// export holds (about 100 bytes an entry: some 80,000 entries). Within
// it, the metadata recorded while the tar streamed is written as it is;
// past it, a stat-only replay of the tree writes it again.
var splitMemory = 8 << 20

// layerFromSource writes a tree's tar (as member tarName) and its
// tar-split metadata (splitName). While the tar streams, the split stage
// records its metadata, compressed, and keeps it if it fits in
// splitMemory, else only counts it (a tar member's size comes before its
// data); then the metadata is written from memory or, past that bound,
// by a stat-only replay with the checksums kept from the first pass (8
// bytes a file).
func (ew *writer) layerFromSource(ctx context.Context, src LayerSource, size int64, tarName, splitName string) error {
	rec, err := newSplitRecording(splitMemory)
	if err != nil {
		return err
	}
	if err := ew.member(tarName, size, func(w io.Writer) error {
		ew.s.mark(mark{kind: markLayerStart, rec: rec})
		return src.WriteLayer(ctx, w, streamRecorder{s: ew.s})
	}); err != nil {
		return err
	}
	// The split stage has seen the tar's end once the stream is synced.
	if err := ew.s.sync(); err != nil {
		return err
	}
	if !rec.buf.over {
		return ew.bytes(splitName, rec.buf.b)
	}
	return ew.member(splitName, rec.buf.n, func(w io.Writer) error {
		zw, err := gzip.NewWriterLevel(w, splitLevel)
		if err != nil {
			return err
		}
		replay := rec.w.replaying(zw)
		if err := src.ReplayLayer(ctx, replay); err != nil {
			return err
		}
		if len(replay.crcs) != 0 {
			return fmt.Errorf("tar-split replay: %d checksums left over: %w", len(replay.crcs)/8, ErrLayerSize)
		}
		return zw.Close()
	})
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
	return ew.bytes(MemberTarSplit, split.Bytes())
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

// writer writes the members of an envelope into its stream.
type writer struct {
	s     *stream
	tw    *tar.Writer
	mtime time.Time
	names []string // the members SHA256SUMS covers, in order
}

func (ew *writer) bytes(name string, data []byte) error {
	return ew.member(name, int64(len(data)), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// member writes a member of size bytes; its sha256 is taken in the stream
// (but for SHA256SUMS itself).
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
	summed := name != MemberSums
	if summed {
		ew.s.mark(mark{kind: markMemberStart})
	}
	fw := &fixedWriter{w: ew.tw, left: size}
	if err := write(fw); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if fw.left != 0 {
		return fmt.Errorf("write %s: %d bytes short: %w", name, fw.left, ErrLayerSize)
	}
	if summed {
		ew.s.mark(mark{kind: markMemberEnd})
		ew.names = append(ew.names, name)
	}
	return nil
}

// sums is SHA256SUMS of the members written so far.
func (ew *writer) sums() ([]byte, error) {
	if err := ew.s.sync(); err != nil {
		return nil, err
	}
	digests := ew.s.stages[1].(*sumStage).sums
	if len(digests) != len(ew.names) {
		return nil, fmt.Errorf("%d digests for %d members", len(digests), len(ew.names))
	}
	var b bytes.Buffer
	for i, name := range ew.names {
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(digests[i]), name)
	}
	return b.Bytes(), nil
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
