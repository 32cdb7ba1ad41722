package overlay

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Apply extracts a canonical layer tar, read from r, into the empty
// directory dir, turning it back into an overlay upper directory: ".wh.NAME"
// becomes a character device 0:0 named NAME, and "DIR/.wh..wh..opq" the
// opaque attribute of DIR.
//
// Every entry is checked by a [Validator] before anything is written, so an
// entry's parent is always a directory this call created. Files are made
// with *at calls relative to that directory's descriptor, under a single
// validated name component, with O_NOFOLLOW and O_EXCL: nothing the layer
// says can make Apply write outside dir or through a symlink (the layer's
// own symlinks are never followed; CVE-2018-15664 and the containerd
// breakout tests are the model). Hard links are resolved beneath dir with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS).
//
// Apply sets the metadata of dir itself (owner, mode, mtime) from nothing:
// the layer has no root entry, and the caller decides.
//
// With opts.Plain the tar is a plain tree's (a volume's) and is applied as
// it is: ".wh.NAME" is a file of that name, a character device 0:0 a
// device, trusted.overlay.* an attribute like any other. Its first entry
// "./", if there is one, gives dir its owner, mode, xattrs and mtime; the
// mode and mtime are set last, as every directory's are.
func Apply(ctx context.Context, dir string, r io.Reader, opts Options) (st Stats, err error) {
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, fmt.Errorf("open staging dir %s: %w", dir, err)
	}
	a := &applier{root: root, opts: opts, buf: make([]byte, copyBuffer)}
	a.v.Plain = opts.Plain
	a.stack = []*openDir{{fd: root}}
	defer func() {
		if cerr := a.closeAll(err == nil); err == nil {
			err = cerr
		}
	}()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("layer entry %d: %w", a.v.Count()+1, err)
		}
		if opts.MaxEntries != 0 && a.v.Count() >= max(opts.MaxEntries, 0) {
			return st, fmt.Errorf("layer entry %d: more than the %d entries declared: %w", a.v.Count()+1, max(opts.MaxEntries, 0), ErrLimit)
		}
		if err := a.v.Entry(hdr); err != nil {
			return st, fmt.Errorf("layer entry %d: %w", a.v.Count(), err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
		st.add(hdr, opts.Plain)
		if opts.Applied != nil {
			opts.Applied(hdr)
		}
	}
}

// openDir is a directory created by Apply whose entries may still come.
type openDir struct {
	comps    []string
	fd       int
	parentFd int
	name     string
	hdr      *tar.Header
}

type applier struct {
	root  int
	stack []*openDir
	v     Validator
	opts  Options
	buf   []byte
	// rootHdr is a plain tree's "./" entry, whose mode and mtime are set
	// on the root after every other entry.
	rootHdr *tar.Header
}

// entry writes one validated entry.
func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	if a.opts.Plain && hdr.Name == rootName {
		// The Validator lets it through only as the first entry.
		return a.rootEntry(hdr)
	}
	comps := strings.Split(strings.TrimSuffix(hdr.Name, "/"), "/")
	parent, base := comps[:len(comps)-1], comps[len(comps)-1]
	for !equal(a.stack[len(a.stack)-1].comps, parent) {
		if len(a.stack) == 1 {
			// The Validator guarantees the parent is open; this is a bug.
			return fmt.Errorf("parent directory not open: %w", ErrOrder)
		}
		if err := a.pop(); err != nil {
			return err
		}
	}
	pfd := a.stack[len(a.stack)-1].fd
	mode := uint32(hdr.Mode & 07777)
	switch classify(hdr, a.opts.Plain) {
	case KindOpaque:
		return setXattr(pfd, "", a.opaqueAttr(), []byte("y"))
	case KindWhiteout:
		base = strings.TrimPrefix(base, WhiteoutPrefix)
		if err := unix.Mknodat(pfd, base, unix.S_IFCHR|mode, 0); err != nil {
			return fmt.Errorf("make whiteout: %w", err)
		}
		return a.meta(pfd, base, hdr, false)
	case KindDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return fmt.Errorf("make dir: %w", err)
		}
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open dir: %w", err)
		}
		a.stack = append(a.stack, &openDir{comps: comps, fd: fd, parentFd: pfd, name: base, hdr: hdr})
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
		return a.xattrs(fd, "", hdr)
	case KindFile:
		return a.file(pfd, base, hdr, r)
	case KindSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("make symlink: %w", err)
		}
		return a.meta(pfd, base, hdr, true)
	case KindHardlink:
		return a.link(pfd, base, hdr)
	case KindDevice, KindFifo:
		kind := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			kind = unix.S_IFCHR
		case tar.TypeBlock:
			kind = unix.S_IFBLK
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, kind|mode, int(dev)); err != nil {
			return fmt.Errorf("make node: %w", err)
		}
		return a.meta(pfd, base, hdr, false)
	}
	return fmt.Errorf("type %q: %w", hdr.Typeflag, ErrBadEntry)
}

// file writes a regular file and its metadata through one descriptor.
func (a *applier) file(pfd int, base string, hdr *tar.Header, r io.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer unix.Close(fd)
	if err := a.contents(fd, hdr.Size, r); err != nil {
		return err
	}
	// chown before chmod: chown clears setuid and setgid. xattrs after
	// both: chown drops security.capability.
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&07777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := a.xattrs(fd, "", hdr); err != nil {
		return err
	}
	return times(pfd, base, hdr)
}

// link makes a hard link to an earlier entry, resolved beneath the root
// without following any symlink, so that a link can never reach a file
// outside the layer.
func (a *applier) link(pfd int, base string, hdr *tar.Header) error {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	tfd, err := unix.Openat2(a.root, hdr.Linkname, how)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstat(tfd, &st); err != nil {
		return fmt.Errorf("stat hard link target %q: %w", hdr.Linkname, err)
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return fmt.Errorf("hard link to directory %q: %w", hdr.Linkname, ErrBadEntry)
	case !a.opts.Plain && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0:
		return fmt.Errorf("hard link to whiteout %q: %w", hdr.Linkname, ErrBadEntry)
	}
	if err := unix.Linkat(tfd, "", pfd, base, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// meta sets owner, mode, xattrs and mtime of a non-directory named base in
// pfd, never following it.
func (a *applier) meta(pfd int, base string, hdr *tar.Header, symlink bool) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if !symlink {
		// fchmodat cannot take AT_SYMLINK_NOFOLLOW on Linux; base is a node
		// this call just made in a directory only it writes to.
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&07777), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if err := a.xattrs(pfd, base, hdr); err != nil {
		return err
	}
	return times(pfd, base, hdr)
}

// rootEntry gives the staging dir the owner and xattrs of a plain tree's
// root. Its mode and mtime wait for the end, as a directory's do: a later
// entry would change the mtime.
func (a *applier) rootEntry(hdr *tar.Header) error {
	if err := unix.Fchown(a.root, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	a.rootHdr = hdr
	return a.xattrs(a.root, "", hdr)
}

// finishRoot sets the mode and mtime of a plain tree's root, through the
// descriptor Apply opened it by (utimensat on "." of it names the
// directory itself).
func (a *applier) finishRoot() error {
	if err := unix.Fchmod(a.root, uint32(a.rootHdr.Mode&07777)); err != nil {
		return fmt.Errorf("chmod %q: %w", rootName, err)
	}
	if err := times(a.root, ".", a.rootHdr); err != nil {
		return fmt.Errorf("%q: %w", rootName, err)
	}
	return nil
}

// pop finishes the innermost open directory: its mode and mtime are set
// only now, after its entries, which would have changed the mtime.
func (a *applier) pop() error {
	d := a.stack[len(a.stack)-1]
	a.stack = a.stack[:len(a.stack)-1]
	defer unix.Close(d.fd)
	if err := unix.Fchmod(d.fd, uint32(d.hdr.Mode&07777)); err != nil {
		return fmt.Errorf("chmod %q: %w", d.hdr.Name, err)
	}
	if err := times(d.parentFd, d.name, d.hdr); err != nil {
		return fmt.Errorf("%q: %w", d.hdr.Name, err)
	}
	return nil
}

// closeAll finishes (or, after a failure, just closes) every open directory,
// and last the root if a plain tree gave it metadata.
func (a *applier) closeAll(finish bool) error {
	var first error
	for len(a.stack) > 1 {
		if finish {
			if err := a.pop(); err != nil && first == nil {
				first = err
			}
			continue
		}
		unix.Close(a.stack[len(a.stack)-1].fd)
		a.stack = a.stack[:len(a.stack)-1]
	}
	if finish && first == nil && a.rootHdr != nil {
		first = a.finishRoot()
	}
	unix.Close(a.root)
	return first
}

func (a *applier) opaqueAttr() string {
	if a.opts.UserXattr {
		return userOverlayPrefix + attrOpaque
	}
	return trustedOverlayPrefix + attrOpaque
}

// xattrs sets the entry's extended attributes on fd, or on base inside the
// directory fd when base is not empty.
func (a *applier) xattrs(fd int, base string, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, xattrRecord)
		if !ok {
			continue
		}
		if err := setXattr(fd, base, name, []byte(v)); err != nil {
			return err
		}
	}
	return nil
}

// setXattr sets an attribute on fd itself, or on base in the directory fd
// without following it (through the /proc/self/fd link of the directory,
// the only way to name a node relative to a descriptor for lsetxattr).
func setXattr(fd int, base, name string, value []byte) error {
	var err error
	if base == "" {
		err = unix.Fsetxattr(fd, name, value, 0)
	} else {
		err = unix.Lsetxattr("/proc/self/fd/"+strconv.Itoa(fd)+"/"+base, name, value, 0)
	}
	if err != nil {
		return fmt.Errorf("set xattr %s: %w", name, err)
	}
	return nil
}

func times(pfd int, base string, hdr *tar.Header) error {
	ts := unix.Timespec{Sec: hdr.ModTime.Unix(), Nsec: int64(hdr.ModTime.Nanosecond())}
	if err := unix.UtimesNanoAt(pfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	return nil
}

// holeBlock is the run of zeros that import leaves as a hole instead of
// writing it: long enough that a dense file with a few zero pages stays
// nearly as it was, short enough that the holes of a sparse file come back.
const holeBlock = 64 << 10

// contents writes size bytes of r into fd. Aligned runs of holeBlock zeros
// are skipped, so they become holes: a sparse file exported with its holes
// as zeros is sparse again (tar -x writes them densely).
func (a *applier) contents(fd int, size int64, r io.Reader) error {
	var off int64
	holes := false
	for off < size {
		chunk := a.buf[:min(int64(len(a.buf)), size-off)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("contents at byte %d of %d: %w", off, size, err)
		}
		// Write the chunk but its whole zero blocks, in as few calls as
		// possible.
		start := 0
		for i := 0; i < len(chunk); i += holeBlock {
			block := chunk[i:min(i+holeBlock, len(chunk))]
			if len(block) < holeBlock || !bytes.Equal(block, zeros[:holeBlock]) {
				continue
			}
			if err := pwriteAll(fd, chunk[start:i], off+int64(start)); err != nil {
				return err
			}
			start, holes = i+holeBlock, true
		}
		if err := pwriteAll(fd, chunk[start:], off+int64(start)); err != nil {
			return err
		}
		off += int64(len(chunk))
	}
	if holes {
		// A hole at the end has no write to set the size.
		if err := unix.Ftruncate(fd, size); err != nil {
			return fmt.Errorf("set size: %w", err)
		}
	}
	return nil
}

func pwriteAll(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := unix.Pwrite(fd, p, off)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// Root is a directory kept open to open files beneath it, one after
// another, without resolving its path each time.
type Root struct {
	fd  int
	dir string
}

// OpenRoot opens dir as a Root.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return &Root{fd: fd, dir: dir}, nil
}

// Open opens name beneath the root for reading, refusing any path that
// would leave it or pass through a symlink.
func (r *Root) Open(name string) (*os.File, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(r.fd, name, how)
	if err != nil {
		return nil, fmt.Errorf("open %q beneath %s: %w", name, r.dir, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Close closes the root.
func (r *Root) Close() error { return unix.Close(r.fd) }
