package overlay

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Overlay attributes (Documentation/filesystems/overlayfs.rst).
const (
	trustedOverlay = trustedOverlayPrefix
	userOverlay    = userOverlayPrefix
	attrOpaque     = "opaque"
	attrRedirect   = "redirect"
	attrMetacopy   = "metacopy"
)

type devIno struct{ dev, ino uint64 }

// maxHeld bounds the directory descriptors a walk holds open, one for each
// level above the entry it is at: deeper directories are read and closed,
// and their entries looked up by path (MaxDepth is 1024, and a process may
// be allowed as few descriptors).
const maxHeld = 256

type walker struct {
	ctx  context.Context
	opts Options
	// read: open each regular file with contents, for fn to read through
	// entry.fd. A measuring pass reads none.
	read  bool
	fn    func(*entry) error
	links map[devIno]string
	held  int    // directory descriptors open
	dents []byte // getdents buffer
	xbuf  []byte // listxattr buffer
}

// dirRef is a directory whose entries the walk looks up: by name relative
// to its descriptor (fd >= 0), the one path lookup each, or else by path.
type dirRef struct {
	fd  int
	abs string
}

// at is what an *at call takes for the entry name of d.
func (d dirRef) at(name string) (int, string) {
	if d.fd >= 0 {
		return d.fd, name
	}
	return unix.AT_FDCWD, d.abs + "/" + name
}

// walk calls fn for every entry below root in canonical order. It makes
// one pass of *at calls on directory descriptors: getdents, fstatat by
// name, the xattr list through the descriptor it holds (a directory's, or
// with read a regular file's) or else listxattrat by name, and xattr
// values only when the list has any. With read, the descriptor of a
// regular file with contents is entry.fd while fn runs.
func walk(ctx context.Context, root string, opts Options, read bool, fn func(*entry) error) error {
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return fmt.Errorf("stat upper dir %s: %w", root, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("upper dir %s: not a directory", root)
	}
	fd, err := openDirAt(unix.AT_FDCWD, root)
	if err != nil {
		return fmt.Errorf("open upper dir %s: %w", root, err)
	}
	w := &walker{ctx: ctx, opts: opts, read: read, fn: fn, links: map[devIno]string{}, dents: make([]byte, 64<<10), xbuf: make([]byte, 256)}
	if opts.Plain {
		if err := w.root(fd, root, &st); err != nil {
			unix.Close(fd)
			return err
		}
	}
	return w.dir(fd, root, "")
}

func openDirAt(dfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// root writes the "./" entry of a plain tree. An upper dir's own owner and
// mode are the engine's, but a volume's are its data's: postgres refuses a
// data directory that is not 0700 and its own.
func (w *walker) root(fd int, abs string, st *unix.Stat_t) error {
	hdr := header(st, "./")
	hdr.Typeflag = tar.TypeDir
	if _, err := w.xattrs(xattrSource{fd: fd, abs: abs}, hdr); err != nil {
		return err
	}
	return w.fn(&entry{hdr: hdr, fd: -1, id: idOf(st)})
}

func idOf(st *unix.Stat_t) nodeID {
	return nodeID{ino: st.Ino, sec: st.Ctim.Sec, nsec: st.Ctim.Nsec, size: st.Size, msec: st.Mtim.Sec, mnsec: st.Mtim.Nsec}
}

// header is the part of an entry's header that every kind has.
func header(st *unix.Stat_t, name string) *tar.Header {
	return &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 07777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
	}
}

// dir visits the entries of the directory open as fd, at abs, whose layer
// name is rel ("" for the root, else ending in "/"), and closes fd.
func (w *walker) dir(fd int, abs, rel string) error {
	names, err := w.readDir(fd, abs)
	d := dirRef{fd: fd, abs: abs}
	if err != nil || w.held >= maxHeld {
		unix.Close(fd)
		d.fd = -1
	} else {
		w.held++
		defer func() {
			w.held--
			unix.Close(fd)
		}()
	}
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if err := w.one(d, rel, name); err != nil {
			return err
		}
	}
	return nil
}

// readDir lists the directory open as fd, sorted bytewise, as
// filepath.WalkDir does; raw getdents, without os.File's poller
// registration (an fcntl and an epoll_ctl for each directory).
func (w *walker) readDir(fd int, abs string) ([]string, error) {
	var names []string
	for {
		n, err := unix.ReadDirent(fd, w.dents)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read dir %s: %w", abs, err)
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(w.dents[:n], -1, names)
	}
	sort.Strings(names)
	return names, nil
}

// readNames lists a directory sorted bytewise, as filepath.WalkDir does.
func readNames(abs string) ([]string, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("open dir %s: %w", abs, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read dir %s: %w", abs, err)
	}
	sort.Strings(names)
	return names, nil
}

func (w *walker) one(d dirRef, dir, name string) error {
	abs := d.abs + "/" + name
	if !w.opts.Plain && strings.HasPrefix(name, WhiteoutPrefix) {
		return fmt.Errorf("%s: a file named %q would read as a whiteout: %w", abs, name, ErrUnsupportedLayer)
	}
	dfd, p := d.at(name)
	var st unix.Stat_t
	if err := fstatat(dfd, p, &st); err != nil {
		return fmt.Errorf("stat %s: %w", abs, err)
	}
	hdr := header(&st, dir+name)
	kind := st.Mode & unix.S_IFMT
	if !w.opts.Plain && kind == unix.S_IFCHR && st.Rdev == 0 {
		// A whiteout. Its xattrs, if any, are the overlay's business.
		hdr.Name = dir + WhiteoutPrefix + name
		hdr.Typeflag = tar.TypeReg
		return w.fn(&entry{hdr: hdr, fd: -1})
	}
	if kind == unix.S_IFSOCK {
		if w.opts.Warn != nil {
			w.opts.Warn(fmt.Sprintf("skipping socket %s: a tar cannot hold one", hdr.Name))
		}
		if w.opts.Skipped != nil {
			w.opts.Skipped(hdr.Name)
		}
		return nil
	}
	// A later name of a file with several links is a hard link entry: its
	// contents are not read, so it is not opened.
	link := ""
	if kind != unix.S_IFDIR && st.Nlink > 1 {
		key := devIno{st.Dev, st.Ino}
		if first, ok := w.links[key]; ok {
			link = first
		} else {
			w.links[key] = hdr.Name
		}
	}
	src := xattrSource{fd: -1, dfd: dfd, at: p, abs: abs}
	switch {
	case kind == unix.S_IFDIR:
		fd, err := openDirAt(dfd, p)
		if err != nil {
			return fmt.Errorf("open dir %s: %w", abs, err)
		}
		src.fd = fd
		return w.subdir(fd, abs, hdr, src, idOf(&st))
	case kind == unix.S_IFREG && link == "" && w.read && st.Size > 0:
		fd, err := openFile(dfd, p)
		if err != nil {
			return fmt.Errorf("open %s: %w", abs, err)
		}
		defer unix.Close(fd)
		src.fd = fd
		if _, err := w.xattrs(src, hdr); err != nil {
			return err
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		// Fewer blocks than the size needs: the file has holes.
		return w.fn(&entry{hdr: hdr, fd: fd, path: abs, sparse: st.Blocks*512 < st.Size, id: idOf(&st)})
	}
	if _, err := w.xattrs(src, hdr); err != nil {
		return err
	}
	if link != "" {
		hdr.Typeflag = tar.TypeLink
		hdr.Linkname = link
		return w.fn(&entry{hdr: hdr, fd: -1})
	}
	switch kind {
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		return w.fn(&entry{hdr: hdr, fd: -1, path: abs, sparse: st.Blocks*512 < st.Size, id: idOf(&st)})
	case unix.S_IFLNK:
		target, err := readlinkat(dfd, p)
		if err != nil {
			return fmt.Errorf("read link %s: %w", abs, err)
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if kind == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return fmt.Errorf("%s: unknown file type %#o: %w", abs, kind, ErrUnsupportedLayer)
	}
	return w.fn(&entry{hdr: hdr, fd: -1})
}

// subdir writes the entry of the directory open as fd (and its opaque
// marker), then its entries; it closes fd.
func (w *walker) subdir(fd int, abs string, hdr *tar.Header, src xattrSource, id nodeID) error {
	opaque, err := w.xattrs(src, hdr)
	if err == nil && strings.Count(hdr.Name, "/") >= MaxDepth-1 {
		err = fmt.Errorf("%s: deeper than %d directories: %w", abs, MaxDepth, ErrUnsupportedLayer)
	}
	if err == nil {
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		err = w.fn(&entry{hdr: hdr, fd: -1, id: id})
	}
	if err == nil && opaque {
		marker := &tar.Header{
			Name:     hdr.Name + WhiteoutOpaque,
			Typeflag: tar.TypeReg,
			Mode:     hdr.Mode & 0777,
			Uid:      hdr.Uid,
			Gid:      hdr.Gid,
			ModTime:  hdr.ModTime,
		}
		err = w.fn(&entry{hdr: marker, fd: -1})
	}
	if err != nil {
		unix.Close(fd)
		return err
	}
	return w.dir(fd, abs, hdr.Name)
}

func fstatat(dfd int, name string, st *unix.Stat_t) error {
	for {
		err := unix.Fstatat(dfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			return err
		}
	}
}

// openFile opens a regular file for reading. O_NONBLOCK: should it have
// become a fifo since it was stat'ed, the open must not wait for a writer
// (reads of a regular file ignore the flag).
func openFile(dfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func readlinkat(dfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dfd, name, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// xattrSource is where an entry's extended attributes are read: through
// fd if it is open (>= 0), else by name relative to dfd; abs is its path,
// for messages and for the calls that have no *at form.
type xattrSource struct {
	fd, dfd int
	at, abs string
}

// xattrs copies the extended attributes of src into hdr's PAX records,
// leaving out the overlay's own (in a layer), and reports whether it is an
// opaque directory. Attributes for redirect_dir and metacopy make the layer
// unexportable: the file's data or name lives in a lower layer, which a
// standalone layer cannot point to.
func (w *walker) xattrs(src xattrSource, hdr *tar.Header) (opaque bool, err error) {
	names, err := w.listXattrs(src)
	if err != nil || len(names) == 0 {
		return false, err
	}
	abs := src.abs
	for _, name := range names {
		own, isOverlay := w.overlayAttr(name)
		if !isOverlay && !w.opts.Plain && strings.HasPrefix(name, userOverlayPrefix) {
			// Kept, a daemon that mounts with userxattr would read it as
			// overlay metadata; no layer may carry one.
			return false, fmt.Errorf("%s: has %s, which a userxattr overlay would take for its own: %w", abs, name, ErrUnsupportedLayer)
		}
		if isOverlay {
			switch own {
			case attrOpaque:
				v, err := getXattr(src, name)
				if err != nil {
					return false, err
				}
				if string(v) != "y" {
					return false, fmt.Errorf("%s: %s=%q: %w", abs, name, v, ErrUnsupportedLayer)
				}
				opaque = true
			case attrRedirect, attrMetacopy:
				return false, fmt.Errorf("%s: has %s (overlay redirect_dir or metacopy; mount without them): %w", abs, name, ErrUnsupportedLayer)
			}
			continue
		}
		v, err := getXattr(src, name)
		if err != nil {
			return false, err
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[xattrRecord+name] = string(v)
	}
	return opaque, nil
}

// overlayAttr reports whether name is one of the overlay's own attributes,
// and which one. A plain tree has none: it is not an overlay, and an
// attribute named trusted.overlay.* is its data like any other.
func (w *walker) overlayAttr(name string) (string, bool) {
	if w.opts.Plain {
		return "", false
	}
	if s, ok := strings.CutPrefix(name, trustedOverlay); ok {
		return s, true
	}
	if w.opts.UserXattr {
		if s, ok := strings.CutPrefix(name, userOverlay); ok {
			return s, true
		}
	}
	return "", false
}

// noListxattrat is set once listxattrat (Linux 6.13) turned out to be
// missing, or refused by a seccomp filter: llistxattr by path from then on.
var noListxattrat atomic.Bool

// listxattr is one list call into buf: flistxattr, listxattrat or
// llistxattr, whichever src allows.
func listxattr(src xattrSource, buf []byte) (int, error) {
	if src.fd >= 0 {
		return unix.Flistxattr(src.fd, buf)
	}
	if !noListxattrat.Load() {
		n, err := listxattrat(src.dfd, src.at, buf)
		if err != unix.ENOSYS && err != unix.EPERM {
			return n, err
		}
		noListxattrat.Store(true)
	}
	return unix.Llistxattr(src.abs, buf)
}

func listxattrat(dfd int, name string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	var b unsafe.Pointer
	if len(buf) > 0 {
		b = unsafe.Pointer(&buf[0])
	}
	n, _, errno := unix.Syscall6(unix.SYS_LISTXATTRAT, uintptr(dfd), uintptr(unsafe.Pointer(p)), unix.AT_SYMLINK_NOFOLLOW, uintptr(b), uintptr(len(buf)), 0)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

// listXattrs returns the names of src's extended attributes; nil, without
// allocating, for the many entries that have none.
func (w *walker) listXattrs(src xattrSource) ([]string, error) {
	for {
		n, err := listxattr(src, w.xbuf)
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.ERANGE):
			size, err := listxattr(src, nil)
			if err != nil {
				return nil, fmt.Errorf("list xattrs %s: %w", src.abs, err)
			}
			w.xbuf = make([]byte, size+64)
			continue
		case errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("list xattrs %s: %w", src.abs, err)
		case n == 0:
			return nil, nil
		}
		var names []string
		for _, s := range strings.Split(string(w.xbuf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

// getXattr reads one value, through src's descriptor if it has one; there
// is no call to read one by name relative to a directory short of
// getxattrat's argument struct, and values are read only for the few
// entries that have any.
func getXattr(src xattrSource, name string) ([]byte, error) {
	get := func(buf []byte) (int, error) {
		if src.fd >= 0 {
			return unix.Fgetxattr(src.fd, name, buf)
		}
		return unix.Lgetxattr(src.abs, name, buf)
	}
	buf := make([]byte, 128)
	for {
		n, err := get(buf)
		if errors.Is(err, unix.ERANGE) {
			size, err := get(nil)
			if err != nil {
				return nil, fmt.Errorf("get xattr %s of %s: %w", name, src.abs, err)
			}
			buf = make([]byte, size+64)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get xattr %s of %s: %w", name, src.abs, err)
		}
		return buf[:n], nil
	}
}
