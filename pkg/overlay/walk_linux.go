package overlay

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

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

type walker struct {
	ctx   context.Context
	opts  Options
	fn    func(*entry) error
	links map[devIno]string
}

// walk calls fn for every entry below root in canonical order.
func walk(ctx context.Context, root string, opts Options, fn func(*entry) error) error {
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return fmt.Errorf("stat upper dir %s: %w", root, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("upper dir %s: not a directory", root)
	}
	w := &walker{ctx: ctx, opts: opts, fn: fn, links: map[devIno]string{}}
	if opts.Plain {
		if err := w.root(root, &st); err != nil {
			return err
		}
	}
	return w.dir(root, "")
}

// root writes the "./" entry of a plain tree. An upper dir's own owner and
// mode are the engine's, but a volume's are its data's: postgres refuses a
// data directory that is not 0700 and its own.
func (w *walker) root(abs string, st *unix.Stat_t) error {
	hdr := header(st, "./")
	hdr.Typeflag = tar.TypeDir
	if _, err := w.xattrs(abs, hdr); err != nil {
		return err
	}
	return w.fn(&entry{hdr: hdr})
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

// dir visits the entries of the directory abs, whose layer name is rel
// ("" for the root, else ending in "/").
func (w *walker) dir(abs, rel string) error {
	names, err := readNames(abs)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if err := w.one(abs+"/"+name, rel, name); err != nil {
			return err
		}
	}
	return nil
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

func (w *walker) one(abs, dir, name string) error {
	if !w.opts.Plain && strings.HasPrefix(name, WhiteoutPrefix) {
		return fmt.Errorf("%s: a file named %q would read as a whiteout: %w", abs, name, ErrUnsupportedLayer)
	}
	var st unix.Stat_t
	if err := unix.Lstat(abs, &st); err != nil {
		return fmt.Errorf("stat %s: %w", abs, err)
	}
	hdr := header(&st, dir+name)
	kind := st.Mode & unix.S_IFMT
	if !w.opts.Plain && kind == unix.S_IFCHR && st.Rdev == 0 {
		// A whiteout. Its xattrs, if any, are the overlay's business.
		hdr.Name = dir + WhiteoutPrefix + name
		hdr.Typeflag = tar.TypeReg
		return w.fn(&entry{hdr: hdr})
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
	opaque, err := w.xattrs(abs, hdr)
	if err != nil {
		return err
	}
	if kind != unix.S_IFDIR && st.Nlink > 1 {
		key := devIno{st.Dev, st.Ino}
		if first, ok := w.links[key]; ok {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			return w.fn(&entry{hdr: hdr})
		}
		w.links[key] = hdr.Name
	}
	switch kind {
	case unix.S_IFDIR:
		if strings.Count(hdr.Name, "/") >= MaxDepth-1 {
			return fmt.Errorf("%s: deeper than %d directories: %w", abs, MaxDepth, ErrUnsupportedLayer)
		}
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if err := w.fn(&entry{hdr: hdr}); err != nil {
			return err
		}
		if opaque {
			marker := &tar.Header{
				Name:     hdr.Name + WhiteoutOpaque,
				Typeflag: tar.TypeReg,
				Mode:     hdr.Mode & 0777,
				Uid:      hdr.Uid,
				Gid:      hdr.Gid,
				ModTime:  hdr.ModTime,
			}
			if err := w.fn(&entry{hdr: marker}); err != nil {
				return err
			}
		}
		return w.dir(abs, hdr.Name)
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		// Fewer blocks than the size needs: the file has holes.
		return w.fn(&entry{hdr: hdr, path: abs, sparse: st.Blocks*512 < st.Size})
	case unix.S_IFLNK:
		target, err := os.Readlink(abs)
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
	return w.fn(&entry{hdr: hdr})
}

// xattrs copies the extended attributes of abs into hdr's PAX records,
// leaving out the overlay's own (in a layer), and reports whether abs is an opaque
// directory. Attributes for redirect_dir and metacopy make the layer
// unexportable: the file's data or name lives in a lower layer, which a
// standalone layer cannot point to.
func (w *walker) xattrs(abs string, hdr *tar.Header) (opaque bool, err error) {
	names, err := listXattrs(abs)
	if err != nil {
		return false, err
	}
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
				v, err := getXattr(abs, name)
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
		v, err := getXattr(abs, name)
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

func listXattrs(abs string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(abs, buf)
		if errors.Is(err, unix.ERANGE) {
			size, err := unix.Llistxattr(abs, nil)
			if err != nil {
				return nil, fmt.Errorf("list xattrs %s: %w", abs, err)
			}
			buf = make([]byte, size+64)
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs %s: %w", abs, err)
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

func getXattr(abs, name string) ([]byte, error) {
	buf := make([]byte, 128)
	for {
		n, err := unix.Lgetxattr(abs, name, buf)
		if errors.Is(err, unix.ERANGE) {
			size, err := unix.Lgetxattr(abs, name, nil)
			if err != nil {
				return nil, fmt.Errorf("get xattr %s of %s: %w", name, abs, err)
			}
			buf = make([]byte, size+64)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get xattr %s of %s: %w", name, abs, err)
		}
		return buf[:n], nil
	}
}
