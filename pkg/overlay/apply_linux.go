package overlay

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Apply extracts a layer tar, read from r, into the empty directory dir,
// turning it into an overlay upper directory: ".wh.NAME" becomes a
// character device 0:0 named NAME, and "DIR/.wh..wh..opq" the opaque
// attribute of DIR. Any valid OCI layer is taken, in any order: a
// [Validator] decides what each entry does (see there for the rules), and
// Apply does it.
//
// Every entry is checked before anything is written. Files are made with
// *at calls relative to their directory's descriptor, under a single
// validated name component, with O_NOFOLLOW and O_EXCL; a directory made
// earlier is entered again by name, one component at a time, with
// O_NOFOLLOW|O_DIRECTORY: nothing the layer says can make Apply write
// outside dir or through a symlink (the layer's own symlinks are never
// followed; CVE-2018-15664 and the containerd breakout tests are the
// model). Hard links are resolved beneath dir with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS).
//
// Apply proves what it wrote as it goes: each node, once its contents and
// metadata are set, is read back through its descriptor (type, mode and
// special bits, owner, mtime, size, device numbers, link target, every
// xattr and its value; a hard link's inode is its target's), and a
// directory once its last entry is written; a difference fails the whole
// Apply with [ErrMismatch], naming the entry and the field. At the end the
// names in dir are counted: exactly those the layer makes, nothing else.
// File contents are the bytes read from r, whose digest the caller checks.
//
// What the kernel adds by itself is taken away: a directory's default ACL
// is set only after its entries are made (as tar does with directory
// metadata), and an ACL a new node inherits anyway (from a directory made
// earlier and entered again) is removed before its mode is set. Owners
// and modes are set explicitly on every node, so neither a setgid parent
// nor the umask leaves a trace.
//
// Apply sets the metadata of dir itself (owner, mode, mtime) from nothing:
// a layer's root entry, if it has one, is skipped, and the caller decides.
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
	a := &applier{root: root, opts: opts, buf: make([]byte, copyBuffer), fin: newFinisher()}
	a.v.Plain = opts.Plain
	a.v.Reserve(opts.MaxEntries)
	a.stack = []*openDir{{fd: root, inherits: hasDefaultACL(root), reopened: true}}
	defer func() {
		// The open directories are finished (handed to the finishers)
		// if all went well so far; then every job is waited for. A
		// finisher's error is of an entry before any Apply met.
		a.cur = ""
		cerr := a.closeAll(err == nil && a.fin.failed() == nil)
		if ferr := a.fin.close(); ferr != nil {
			err = ferr
		} else if err == nil {
			err = cerr
		}
		if err == nil {
			err = a.count()
		}
		unix.Close(root)
	}()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := a.fin.failed(); err != nil {
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
		act, err := a.v.Entry(hdr)
		if err != nil {
			return st, fmt.Errorf("layer entry %d: %w", a.v.Count(), err)
		}
		a.cur = hdr.Name
		if err := a.entry(act, hdr, tr); err != nil {
			return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
		if act.Note != "" && opts.Warn != nil {
			opts.Warn(fmt.Sprintf("layer entry %d %q skipped: %s", a.v.Count(), hdr.Name, act.Note))
		}
		st.add(hdr, opts.Plain)
		if opts.Applied != nil {
			opts.Applied(hdr)
		}
	}
}

// openDir is a directory on the path of the entry being written.
type openDir struct {
	path     string // "" for the root
	fd       int
	parentFd int
	name     string
	// hdr is the directory's entry while its metadata is pending (a
	// directory made or merged by this Apply and not yet left). Leaving
	// it sets mode, default ACL and mtime, and proves them.
	hdr *tar.Header
	// defaultACL is the directory's default ACL, set when it is left.
	defaultACL string
	opaque     bool
	// reopened: a directory finished earlier and entered again; leaving
	// it puts back the mtime it had (mtime) when it was entered.
	reopened bool
	mtime    unix.Timespec
	// inherits: the directory has a default ACL now, which new nodes
	// inherit.
	inherits bool
}

type applier struct {
	root  int
	stack []*openDir
	v     Validator
	opts  Options
	buf   []byte
	fin   *finisher
	cur   string // the entry being written, for the errors of finishers
	// rootHdr is a plain tree's "./" entry, whose mode, default ACL and
	// mtime are set on the root after every other entry.
	rootHdr        *tar.Header
	rootDefaultACL string
}

// entry does what the Validator decided for one entry.
func (a *applier) entry(act Action, hdr *tar.Header, r io.Reader) error {
	if act.Op == OpRoot {
		return a.rootEntry(hdr)
	}
	for _, p := range act.Implied {
		if err := a.implied(p, hdr); err != nil {
			return err
		}
	}
	switch act.Op {
	case OpSkip:
		return nil
	case OpOpaque:
		d, err := a.enter(act.Path)
		if err != nil {
			return err
		}
		return a.setOpaque(d)
	case OpMerge:
		d, err := a.enter(act.Path)
		if err != nil {
			return err
		}
		return a.merge(d, hdr, act.Opaque)
	}
	parent, base := parentOf(act.Path), act.Path[strings.LastIndexByte(act.Path, '/')+1:]
	d, err := a.enter(parent)
	if err != nil {
		return err
	}
	pfd := d.fd
	if act.Replace {
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return fmt.Errorf("replace the earlier entry: %w", err)
		}
	}
	mode := uint32(hdr.Mode & 07777)
	switch act.Kind {
	case KindDir:
		return a.dir(d, act.Path, base, hdr, act.Opaque)
	case KindFile:
		return a.file(d, base, hdr, r)
	case KindHardlink:
		return a.link(pfd, base, hdr)
	case KindSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("make symlink: %w", err)
		}
	case KindWhiteout:
		if err := unix.Mknodat(pfd, base, unix.S_IFCHR|mode, 0); err != nil {
			return fmt.Errorf("make whiteout: %w", err)
		}
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
	default:
		return fmt.Errorf("type %q: %w", hdr.Typeflag, ErrBadEntry)
	}
	if err := a.meta(d, base, hdr, act.Kind); err != nil {
		return err
	}
	return landed(-1, pfd, base, hdr, act.Kind, "")
}

// enter makes the directory p the innermost open one: it leaves the open
// directories that do not hold p, and enters the rest of p's components
// one by one, never following a symlink. A directory entered again keeps
// the mtime it had.
func (a *applier) enter(p string) (*openDir, error) {
	for {
		top := a.stack[len(a.stack)-1]
		if top.path == "" || p == top.path || strings.HasPrefix(p, top.path+"/") {
			break
		}
		if err := a.pop(); err != nil {
			return nil, err
		}
	}
	for {
		top := a.stack[len(a.stack)-1]
		if top.path == p {
			return top, nil
		}
		rest := p
		if top.path != "" {
			rest = p[len(top.path)+1:]
		}
		name, _, _ := strings.Cut(rest, "/")
		// A directory left earlier may still be being finished (its mode,
		// default ACL and mtime): wait, so that it is entered as it is
		// meant to be. Rare: only a layer out of order enters one again.
		if err := a.fin.drain(); err != nil {
			return nil, err
		}
		fd, err := unix.Openat(top.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("enter directory %q again: %w", strings.TrimPrefix(top.path+"/"+name, "/"), err)
		}
		d := &openDir{path: strings.TrimPrefix(top.path+"/"+name, "/"), fd: fd, parentFd: top.fd, name: name, reopened: true}
		a.stack = append(a.stack, d)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, fmt.Errorf("stat directory %q: %w", d.path, err)
		}
		d.mtime, d.inherits = st.Mtim, hasDefaultACL(fd)
	}
}

// implied makes a parent directory the layer does not list: root's,
// 0755, with the mtime of the entry that implies it (as Docker's applier
// makes them, but reproducible).
func (a *applier) implied(p string, hdr *tar.Header) error {
	d, err := a.enter(parentOf(p))
	if err != nil {
		return err
	}
	h := &tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: hdr.ModTime}
	return a.dir(d, p, p[strings.LastIndexByte(p, '/')+1:], h, false)
}

// dir makes a directory and enters it. Its mode, default ACL and mtime
// wait until it is left: its entries would change the mtime, and a
// default ACL would give them ACLs of their own.
func (a *applier) dir(parent *openDir, p, base string, hdr *tar.Header, opaque bool) error {
	if err := unix.Mkdirat(parent.fd, base, 0o700); err != nil {
		return fmt.Errorf("make dir: %w", err)
	}
	fd, err := unix.Openat(parent.fd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	d := &openDir{path: p, fd: fd, parentFd: parent.fd, name: base}
	a.stack = append(a.stack, d)
	if parent.inherits {
		if err := dropInherited(fd, "", true); err != nil {
			return err
		}
	}
	return a.merge(d, hdr, opaque)
}

// merge gives the open directory d the metadata of hdr, replacing what an
// earlier entry (or an implied parent) gave it; the rest waits until it
// is left.
func (a *applier) merge(d *openDir, hdr *tar.Header, opaque bool) error {
	if err := unix.Fchown(d.fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if d.hdr != nil || d.reopened {
		// Merged: the earlier entry's attributes go, but the overlay's.
		kept, err := a.clearXattrs(d.fd)
		if err != nil {
			return err
		}
		d.inherits, d.opaque = false, d.opaque || kept
	}
	d.hdr, d.reopened = hdr, false
	var err error
	if d.defaultACL, err = dirXattrs(d.fd, hdr); err != nil {
		return err
	}
	if opaque {
		return a.setOpaque(d)
	}
	return nil
}

// clearXattrs removes the attributes of fd but the overlay's opaque one,
// and tells whether that one is there.
func (a *applier) clearXattrs(fd int) (opaque bool, err error) {
	names, err := listXattrsFd(fd)
	if err != nil {
		return false, err
	}
	for _, name := range names {
		if !a.opts.Plain && name == a.opaqueAttr() {
			opaque = true
			continue
		}
		if err := unix.Fremovexattr(fd, name); err != nil {
			return false, fmt.Errorf("remove xattr %s: %w", name, err)
		}
	}
	return opaque, nil
}

// setOpaque marks d opaque; a directory finished earlier is proved at
// once, one still open when it is left.
func (a *applier) setOpaque(d *openDir) error {
	d.opaque = !a.opts.Plain
	if err := setXattr(d.fd, "", a.opaqueAttr(), []byte("y")); err != nil {
		return err
	}
	if d.hdr != nil {
		return nil
	}
	v, err := getXattrFd(d.fd, a.opaqueAttr())
	if err != nil || string(v) != "y" {
		return fmt.Errorf("opaque attribute of %q does not read back: %v: %w", d.path, err, ErrMismatch)
	}
	return nil
}

// file writes a regular file and its metadata through one descriptor,
// and proves them; a small one is only created and read here, and handed
// to the finishers.
func (a *applier) file(d *openDir, base string, hdr *tar.Header, r io.Reader) error {
	fd, err := unix.Openat(d.fd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if hdr.Size <= finishMax {
		data := a.fin.buffer(hdr.Size)
		if err := readContents(r, data, 0, hdr.Size); err != nil {
			a.fin.free <- data[:cap(data)]
			unix.Close(fd)
			return err
		}
		a.fin.hand(&fileJob{fd: fd, data: data, hdr: hdr, inherits: d.inherits})
		return nil
	}
	defer unix.Close(fd)
	if err := a.contents(fd, hdr.Size, r); err != nil {
		return err
	}
	return fileMeta(fd, hdr, d.inherits)
}

// link makes a hard link to an earlier entry, resolved beneath the root
// without following any symlink, so that a link can never reach a file
// outside the layer, and proves that both names are one inode.
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
	var got unix.Stat_t
	if err := unix.Fstatat(pfd, base, &got, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if got.Dev != st.Dev || got.Ino != st.Ino {
		return fmt.Errorf("landed as another inode than %q: %w", hdr.Linkname, ErrMismatch)
	}
	return nil
}

// meta sets owner, mode, xattrs and mtime of a non-directory named base in
// d, never following it.
func (a *applier) meta(d *openDir, base string, hdr *tar.Header, kind Kind) error {
	if d.inherits && kind != KindSymlink {
		if err := dropInherited(d.fd, base, false); err != nil {
			return err
		}
	}
	if err := unix.Fchownat(d.fd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if kind != KindSymlink {
		// fchmodat cannot take AT_SYMLINK_NOFOLLOW on Linux; base is a node
		// this call just made in a directory only it writes to.
		if err := unix.Fchmodat(d.fd, base, uint32(hdr.Mode&07777), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if err := setXattrs(d.fd, base, hdr); err != nil {
		return err
	}
	return times(d.fd, base, hdr)
}

// rootEntry gives the staging dir the owner and xattrs of a plain tree's
// root. Its mode and mtime wait for the end, as a directory's do: a later
// entry would change the mtime.
func (a *applier) rootEntry(hdr *tar.Header) error {
	if err := unix.Fchown(a.root, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	a.rootHdr = hdr
	if a.stack[0].inherits {
		// Inherited from where the staging dir was made.
		if err := dropInherited(a.root, "", true); err != nil {
			return err
		}
		a.stack[0].inherits = false
	}
	var err error
	a.rootDefaultACL, err = dirXattrs(a.root, hdr)
	return err
}

// dirXattrs sets a directory's attributes from its entry, all but its
// default ACL, which it returns: that is set when the directory is left,
// after its entries, so that none of them inherits it.
func dirXattrs(fd int, hdr *tar.Header) (defaultACL string, err error) {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, xattrRecord)
		switch {
		case !ok:
		case name == aclDefault:
			defaultACL = v
		default:
			if err := setXattr(fd, "", name, []byte(v)); err != nil {
				return "", err
			}
		}
	}
	return defaultACL, nil
}

// finishRoot sets the mode and mtime of a plain tree's root, through the
// descriptor Apply opened it by (utimensat on "." of it names the
// directory itself), and proves them.
func (a *applier) finishRoot() error {
	if err := unix.Fchmod(a.root, uint32(a.rootHdr.Mode&07777)); err != nil {
		return fmt.Errorf("chmod %q: %w", rootName, err)
	}
	if a.rootDefaultACL != "" {
		if err := setXattr(a.root, "", aclDefault, []byte(a.rootDefaultACL)); err != nil {
			return fmt.Errorf("%q: %w", rootName, err)
		}
	}
	if err := times(a.root, ".", a.rootHdr); err != nil {
		return fmt.Errorf("%q: %w", rootName, err)
	}
	return landed(a.root, -1, "", a.rootHdr, KindDir, "")
}

// pop leaves the innermost open directory: a pending one gets its mode,
// default ACL and mtime only now, after its entries, and is proved, by a
// finisher (nothing it does changes another directory); one entered
// again gets its mtime back.
func (a *applier) pop() error {
	d := a.stack[len(a.stack)-1]
	a.stack = a.stack[:len(a.stack)-1]
	if d.hdr == nil {
		defer unix.Close(d.fd)
		if err := unix.UtimesNanoAt(d.parentFd, d.name, []unix.Timespec{d.mtime, d.mtime}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%q: set mtime: %w", d.path, err)
		}
		return nil
	}
	extra := ""
	if d.opaque {
		extra = a.opaqueAttr()
	}
	a.fin.hand(&fileJob{fd: d.fd, hdr: d.hdr, dir: true, defaultACL: d.defaultACL, extra: extra, entry: a.cur})
	return nil
}

// finishDir sets a directory's mode, default ACL and mtime through its
// descriptor, after its entries, and proves them.
func finishDir(fd int, hdr *tar.Header, defaultACL, extra string) error {
	if err := unix.Fchmod(fd, uint32(hdr.Mode&07777)); err != nil {
		return fmt.Errorf("chmod %q: %w", hdr.Name, err)
	}
	if defaultACL != "" {
		if err := setXattr(fd, "", aclDefault, []byte(defaultACL)); err != nil {
			return fmt.Errorf("%q: %w", hdr.Name, err)
		}
	}
	if err := futimes(fd, hdr); err != nil {
		return fmt.Errorf("%q: %w", hdr.Name, err)
	}
	if err := landed(fd, -1, "", hdr, KindDir, extra); err != nil {
		return fmt.Errorf("%q: %w", hdr.Name, err)
	}
	return nil
}

// closeAll finishes (or, after a failure, just closes) every open directory,
// and last the root if a plain tree gave it metadata.
func (a *applier) closeAll(finish bool) error {
	var first error
	for len(a.stack) > 1 {
		if finish && first == nil {
			first = a.pop()
			continue
		}
		unix.Close(a.stack[len(a.stack)-1].fd)
		a.stack = a.stack[:len(a.stack)-1]
	}
	if finish && first == nil && a.rootHdr != nil {
		first = a.finishRoot()
	}
	return first
}

// count proves that the tree holds exactly the names the layer makes.
func (a *applier) count() error {
	n, err := countNames(a.root, 0)
	if err != nil {
		return err
	}
	if n != a.v.Live() {
		return fmt.Errorf("%d names in the staged tree, the tar makes %d: %w", n, a.v.Live(), ErrMismatch)
	}
	return nil
}

func (a *applier) opaqueAttr() string {
	if a.opts.UserXattr {
		return userOverlayPrefix + attrOpaque
	}
	return trustedOverlayPrefix + attrOpaque
}

// setXattrs sets the entry's extended attributes on fd, or on base inside
// the directory fd when base is not empty.
func setXattrs(fd int, base string, hdr *tar.Header) error {
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
		err = unix.Lsetxattr(procPath(fd, base), name, value, 0)
	}
	if err != nil {
		return fmt.Errorf("set xattr %s: %w", name, err)
	}
	return nil
}

func procPath(fd int, base string) string { return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + base }

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
		if err := readContents(r, chunk, off, size); err != nil {
			return err
		}
		h, err := writeChunk(fd, chunk, off)
		if err != nil {
			return err
		}
		holes = holes || h
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

// readContents fills chunk, the bytes at off of a file of size bytes,
// from r.
func readContents(r io.Reader, chunk []byte, off, size int64) error {
	if n, err := io.ReadFull(r, chunk); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		// Worded as check words it, at the same byte.
		return fmt.Errorf("contents end at byte %d of %d: %w", off+int64(n), size, err)
	}
	return nil
}

// writeChunk writes chunk at off into fd but its whole zero blocks, in as
// few calls as possible, and tells whether it skipped any.
func writeChunk(fd int, chunk []byte, off int64) (holes bool, err error) {
	start := 0
	for i := 0; i < len(chunk); i += holeBlock {
		block := chunk[i:min(i+holeBlock, len(chunk))]
		if len(block) < holeBlock || !bytes.Equal(block, zeros[:holeBlock]) {
			continue
		}
		if err := pwriteAll(fd, chunk[start:i], off+int64(start)); err != nil {
			return holes, err
		}
		start, holes = i+holeBlock, true
	}
	return holes, pwriteAll(fd, chunk[start:], off+int64(start))
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
