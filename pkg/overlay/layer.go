package overlay

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Errors that callers branch on.
var (
	// ErrUnsupportedLayer: the upper directory uses an overlay feature that
	// a plain OCI layer cannot carry.
	ErrUnsupportedLayer = errors.New("layer cannot be expressed as an OCI layer")
	// ErrChanged: the tree changed between the measuring and the writing pass.
	ErrChanged = errors.New("layer changed while it was being exported (stop or pause the container)")
	// ErrLimit: a layer has more entries than it declared.
	ErrLimit = errors.New("layer exceeds its declared size")
)

// Options tune how an upper directory is read, or a layer applied.
type Options struct {
	// Plain: the tree is a plain directory (a volume), not an overlay
	// upper directory, and its tar is the canonical tar of the directory
	// as it is: no whiteout or opaque conversion in either direction,
	// every xattr carried (trusted.overlay.* too), names beginning ".wh."
	// ordinary names, and a first entry "./" for the root directory
	// itself. UserXattr is then ignored. See "Plain trees (volumes)" in
	// the package documentation.
	Plain bool
	// UserXattr: the overlay keeps its own attributes in user.overlay.*
	// (the daemon mounts with userxattr) instead of trusted.overlay.*.
	UserXattr bool
	// Warn, if set, is told about entries that are skipped (sockets).
	Warn func(msg string)
	// Skipped, if set, is told the name of each entry that is skipped,
	// so that an envelope can record what it does not hold.
	Skipped func(name string)
	// Record, if set, is told the raw bytes of the tar as Write or
	// Measure produce it.
	Record Recorder
	// Applied, if set, is called by Apply after each entry is made (a
	// small file's contents and metadata may still be on their way: Apply
	// returns once they are written and proved).
	Applied func(hdr *tar.Header)
	// MaxEntries, if not 0, bounds the entries Apply accepts (negative:
	// none). An import sets it to the count envelope.json declared, which
	// its free-space check relied on.
	MaxEntries int64
}

// Recorder is told the bytes of a layer tar as they are written, split the
// way tar-split (github.com/vbatts/tar-split) splits a tar: what comes
// before an entry's contents, the contents, and what follows the last.
type Recorder interface {
	// Entry gets the bytes written before an entry's contents: the padding
	// that ended the entry before it, then the entry's header blocks.
	Entry(raw []byte, hdr *tar.Header) error
	// Contents gets an entry's contents as they are written. A measuring
	// pass, which reads no file data, never calls it.
	Contents(p []byte)
	// End gets the bytes after the last entry's contents: its padding and
	// the tar's two end blocks.
	End(raw []byte) error
}

// A Lender is a Recorder that also lends the space the tar's next bytes
// go to: a file's contents are read straight into it, and the write of
// those same bytes that follows is not a copy (the envelope's stream
// blocks; a copy was 7-9% of an export's CPU).
type Lender interface {
	// Lend returns space for at most n bytes, at least one.
	Lend(n int) []byte
}

// Plan describes a layer tar: its size, its entries, and a fingerprint of
// every header in it. Two passes over an unchanged tree give equal plans.
type Plan struct {
	Size  int64
	Stats Stats
	// headers is the sha256 of every byte of the tar except file contents.
	headers [sha256.Size]byte
}

// Headers is the sha256 of every byte of the tar but the file contents: the
// headers, PAX records, padding and end blocks, in order.
func (p Plan) Headers() [sha256.Size]byte { return p.headers }

// Same reports whether two plans describe the same tar.
func (p Plan) Same(q Plan) bool { return p == q }

// Measure walks root without reading file contents and returns the plan
// of the tar that [Write] would produce for it, a layer or, with
// opts.Plain, a plain tree.
func Measure(ctx context.Context, root string, opts Options) (Plan, error) {
	return run(ctx, nil, opts, walking(ctx, root, opts, false), nil)
}

// MeasureList is Measure that also keeps what it saw of the tree, if that
// takes at most limit bytes of memory, for [WriteListed]; else the
// listing is nil.
func MeasureList(ctx context.Context, root string, opts Options, limit int) (Plan, *Listing, error) {
	l := &Listing{root: root, limit: limit}
	var err error
	// Before the walk: a change made while it runs moves it.
	if l.rootID, err = rootNodeID(root); err != nil {
		return Plan{}, nil, err
	}
	p, err := run(ctx, nil, opts, walking(ctx, root, opts, false), l.keep)
	if err != nil || l.over {
		return p, nil, err
	}
	return p, l, nil
}

// Write streams the canonical layer tar of root into w, or with opts.Plain
// the canonical tar of root as a plain tree, and returns its plan.
func Write(ctx context.Context, root string, w io.Writer, opts Options) (Plan, error) {
	if w == nil {
		return Plan{}, errors.New("write layer: nil writer")
	}
	return run(ctx, w, opts, walking(ctx, root, opts, true), nil)
}

// WriteListed is Write for a tree measured by [MeasureList] with the same
// options: it writes the headers the measuring pass saw and reads only
// the contents of the files, opened by name from directories opened one
// component at a time, never following a symlink. Each directory and
// each file it reads must be the inode the measuring pass saw, with the
// same change time (fstat): a name made, removed or renamed in a
// directory, or a file's contents or metadata changed in between, fails
// it with [ErrChanged]. Unlike a second walk, it does not look at entries
// without contents (symlinks, empty files, devices) again: a change of
// their metadata alone, in place, is not seen. With a nil w it writes
// nothing and reads no file: a pass that gives the tar-split metadata
// without a system call.
func WriteListed(ctx context.Context, l *Listing, w io.Writer, opts Options) (Plan, error) {
	return run(ctx, w, opts, l.replay(ctx, w != nil), nil)
}

// A source calls fn for every entry of a tree's tar, in order.
type source func(fn func(*entry) error) error

func walking(ctx context.Context, root string, opts Options, read bool) source {
	return func(fn func(*entry) error) error { return walk(ctx, root, opts, read, fn) }
}

// run drives one pass over the entries of src: with a nil w it only
// counts, and file contents are never read. keep, if set, is shown each
// entry.
func run(ctx context.Context, w io.Writer, opts Options, src source, keep func(*entry)) (Plan, error) {
	s := &sink{w: w, h: sha256.New(), rec: opts.Record}
	tw := tar.NewWriter(s)
	var st Stats
	buf := make([]byte, copyBuffer+1)
	lender, _ := opts.Record.(Lender)
	err := src(func(e *entry) error {
		if keep != nil {
			keep(e)
		}
		e.hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(e.hdr); err != nil {
			return fmt.Errorf("write header %q: %w", e.hdr.Name, err)
		}
		if s.rec != nil {
			if err := s.rec.Entry(s.raw, e.hdr); err != nil {
				return err
			}
			s.raw = s.raw[:0]
		}
		st.add(e.hdr, opts.Plain)
		if e.hdr.Typeflag != tar.TypeReg || e.hdr.Size == 0 {
			return nil
		}
		s.data = true
		defer func() { s.data = false }()
		if w == nil {
			return writeZeros(tw, e.hdr.Size)
		}
		if e.data != nil {
			_, err := tw.Write(e.data)
			return err
		}
		return copyFile(tw, e, buf, lender)
	})
	if err != nil {
		return Plan{}, err
	}
	if err := tw.Close(); err != nil {
		return Plan{}, fmt.Errorf("close layer tar: %w", err)
	}
	if s.rec != nil {
		if err := s.rec.End(s.raw); err != nil {
			return Plan{}, err
		}
	}
	p := Plan{Size: s.n, Stats: st}
	s.h.Sum(p.headers[:0])
	return p, nil
}

// copyBuffer is the size of the reads of file contents.
const copyBuffer = 1 << 20

// zeros is what a hole reads as, and what a measuring pass writes for file
// contents it does not read.
var zeros = make([]byte, copyBuffer)

// writeZeros writes n zero bytes to w. In a measuring pass the sink counts
// them in data mode and never looks at them.
func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// sink counts what the tar writer produces and hashes all of it but file
// contents, which it forwards to w unless w is nil. With a recorder, it
// keeps the bytes written since the last entry's contents for it, and
// shows it the contents.
type sink struct {
	w    io.Writer
	h    hash.Hash
	n    int64
	data bool
	rec  Recorder
	raw  []byte
}

func (s *sink) Write(p []byte) (int, error) {
	if !s.data {
		s.h.Write(p)
		if s.rec != nil {
			s.raw = append(s.raw, p...)
		}
	}
	if s.w == nil {
		s.n += int64(len(p))
		return len(p), nil
	}
	n, err := s.w.Write(p)
	s.n += int64(n)
	if s.data && s.rec != nil {
		s.rec.Contents(p[:n])
	}
	return n, err
}

// entry is one item of the walk: the header to write and, for a regular
// file, its path, whether it has holes and, in a pass that reads contents,
// its open descriptor (else -1).
type entry struct {
	hdr    *tar.Header
	fd     int
	path   string
	sparse bool
	id     nodeID // of a directory or regular file
	// data, if not nil, is the whole contents, read already (fd is -1).
	data []byte
}

// nodeID identifies the state of a node for a pass that does not walk the
// tree again (WriteListed): its inode and change time, which any change of
// its contents, of its names (a directory's) or of its metadata moves.
type nodeID struct {
	ino       uint64
	sec, nsec int64 // change time
	// size and mtime too: before Linux 6.13 the change time only moves
	// by the clock tick, and a change within the same tick shows in them.
	size        int64
	msec, mnsec int64
}
