package overlay

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// landed proves that the node Apply just finished is what hdr says: the
// node fd, or base in the directory pfd when fd < 0. extra names one more
// attribute it must have, with the value "y" (an opaque directory's).
// Symlinks have no mode of their own; nothing else is let off.
func landed(fd, pfd int, base string, hdr *tar.Header, kind Kind, extra string) error {
	var st unix.Stat_t
	var err error
	if fd >= 0 {
		err = unix.Fstat(fd, &st)
	} else {
		err = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	differ := func(field string, got, want any) error {
		return fmt.Errorf("landed with %s %v, the tar says %v: %w", field, got, want, ErrMismatch)
	}
	if got, want := st.Mode&unix.S_IFMT, fileType(hdr, kind); got != want {
		return differ("file type", fmt.Sprintf("%#o", got), fmt.Sprintf("%#o", want))
	}
	if kind != KindSymlink && int64(st.Mode&0o7777) != hdr.Mode&0o7777 {
		return differ("mode", fmt.Sprintf("%#o", st.Mode&0o7777), fmt.Sprintf("%#o", hdr.Mode&0o7777))
	}
	if int(st.Uid) != hdr.Uid || int(st.Gid) != hdr.Gid {
		return differ("owner", fmt.Sprintf("%d:%d", st.Uid, st.Gid), fmt.Sprintf("%d:%d", hdr.Uid, hdr.Gid))
	}
	if st.Mtim.Sec != hdr.ModTime.Unix() || st.Mtim.Nsec != int64(hdr.ModTime.Nanosecond()) {
		return differ("mtime", fmt.Sprintf("%d.%09d", st.Mtim.Sec, st.Mtim.Nsec), fmt.Sprintf("%d.%09d", hdr.ModTime.Unix(), hdr.ModTime.Nanosecond()))
	}
	switch kind {
	case KindFile:
		if st.Size != hdr.Size {
			return differ("size", st.Size, hdr.Size)
		}
	case KindDevice:
		if got, want := st.Rdev, unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)); got != want {
			return differ("device", fmt.Sprintf("%d:%d", unix.Major(got), unix.Minor(got)), fmt.Sprintf("%d:%d", hdr.Devmajor, hdr.Devminor))
		}
	case KindWhiteout:
		if st.Rdev != 0 {
			return differ("device", fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)), "0:0 (a whiteout)")
		}
	case KindSymlink:
		buf := make([]byte, MaxPathLen+1)
		n, err := unix.Readlinkat(pfd, base, buf)
		if err != nil {
			return fmt.Errorf("read link: %w", err)
		}
		if got := string(buf[:n]); got != hdr.Linkname {
			return differ("link target", fmt.Sprintf("%q", got), fmt.Sprintf("%q", hdr.Linkname))
		}
	}
	return landedXattrs(fd, pfd, base, hdr, extra)
}

// landedXattrs proves the node has exactly hdr's attributes (and extra).
func landedXattrs(fd, pfd int, base string, hdr *tar.Header, extra string) error {
	want := map[string]string{}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrRecord); ok {
			want[name] = v
		}
	}
	if extra != "" {
		want[extra] = "y"
	}
	var names []string
	var err error
	if fd >= 0 {
		names, err = listXattrsFd(fd)
	} else {
		names, err = listXattrsPath(procPath(pfd, base))
	}
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, ok := want[name]; !ok {
			return fmt.Errorf("landed with xattr %s, which the tar does not have: %w", name, ErrMismatch)
		}
	}
	if len(names) != len(want) {
		for name := range want {
			if !slices.Contains(names, name) {
				return fmt.Errorf("landed without xattr %s: %w", name, ErrMismatch)
			}
		}
	}
	for _, name := range names {
		var v []byte
		if fd >= 0 {
			v, err = getXattrFd(fd, name)
		} else {
			v, err = getXattrPath(procPath(pfd, base), name)
		}
		if err != nil {
			return err
		}
		if string(v) != want[name] {
			return fmt.Errorf("landed with another value of xattr %s (%d bytes, the tar's %d): %w", name, len(v), len(want[name]), ErrMismatch)
		}
	}
	return nil
}

// fileType is the S_IFMT a node of kind must have.
func fileType(hdr *tar.Header, kind Kind) uint32 {
	switch kind {
	case KindDir:
		return unix.S_IFDIR
	case KindSymlink:
		return unix.S_IFLNK
	case KindWhiteout:
		return unix.S_IFCHR
	case KindDevice:
		if hdr.Typeflag == tar.TypeBlock {
			return unix.S_IFBLK
		}
		return unix.S_IFCHR
	case KindFifo:
		return unix.S_IFIFO
	}
	return unix.S_IFREG
}

// hasDefaultACL tells whether the directory fd has a default ACL, which
// the nodes made in it inherit.
func hasDefaultACL(fd int) bool {
	_, err := unix.Fgetxattr(fd, aclDefault, nil)
	return err == nil
}

// dropInherited removes the ACLs a node just made inherited from its
// directory's default ACL (the node fd, or base in the directory fd):
// its access ACL, and for a directory its default ACL too. The caller
// then sets the mode, which the inherited ACL had masked.
func dropInherited(fd int, base string, dir bool) error {
	names := []string{aclAccess}
	if dir {
		names = append(names, aclDefault)
	}
	for _, name := range names {
		var err error
		if base == "" {
			err = unix.Fremovexattr(fd, name)
		} else {
			err = unix.Lremovexattr(procPath(fd, base), name)
		}
		if err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("remove inherited %s: %w", name, err)
		}
	}
	return nil
}

// listXattrsFd lists the attributes of fd; listXattrsPath of a path,
// without following it.
func listXattrsFd(fd int) ([]string, error) {
	return listX(func(b []byte) (int, error) { return unix.Flistxattr(fd, b) })
}

func listXattrsPath(p string) ([]string, error) {
	return listX(func(b []byte) (int, error) { return unix.Llistxattr(p, b) })
}

func listX(list func([]byte) (int, error)) ([]string, error) {
	size, err := list(nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs: %w", err)
	}
	if size == 0 {
		return nil, nil
	}
	for {
		buf := make([]byte, size+64)
		n, err := list(buf)
		if errors.Is(err, unix.ERANGE) {
			if size, err = list(nil); err != nil {
				return nil, fmt.Errorf("list xattrs: %w", err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs: %w", err)
		}
		var names []string
		for _, s := range bytes.Split(buf[:n], []byte{0}) {
			if len(s) > 0 {
				names = append(names, string(s))
			}
		}
		return names, nil
	}
}

func getXattrFd(fd int, name string) ([]byte, error) {
	return getX(name, func(b []byte) (int, error) { return unix.Fgetxattr(fd, name, b) })
}

func getXattrPath(p, name string) ([]byte, error) {
	return getX(name, func(b []byte) (int, error) { return unix.Lgetxattr(p, name, b) })
}

func getX(name string, get func([]byte) (int, error)) ([]byte, error) {
	for {
		size, err := get(nil)
		if err != nil {
			return nil, fmt.Errorf("get xattr %s: %w", name, err)
		}
		buf := make([]byte, size)
		n, err := get(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get xattr %s: %w", name, err)
		}
		return buf[:n], nil
	}
}

// countNames counts the names below the directory fd, recursively.
func countNames(fd int, depth int) (int64, error) {
	if depth > MaxDepth {
		return 0, fmt.Errorf("staged tree deeper than %d: %w", MaxDepth, ErrMismatch)
	}
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("count staged names: %w", err)
	}
	defer unix.Close(dfd)
	var n int64
	var dirs []string
	buf := make([]byte, 32<<10)
	for {
		k, err := unix.Getdents(dfd, buf)
		if err != nil {
			return 0, fmt.Errorf("count staged names: %w", err)
		}
		if k == 0 {
			break
		}
		for b := buf[:k]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return 0, fmt.Errorf("count staged names: bad dirent")
			}
			typ := b[18]
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if s := string(name); s != "." && s != ".." {
				n++
				if typ == unix.DT_DIR || typ == unix.DT_UNKNOWN {
					dirs = append(dirs, s)
				}
			}
		}
	}
	for _, name := range dirs {
		sub, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("count staged names: %w", err)
		}
		m, err := countNames(sub, depth+1)
		unix.Close(sub)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}
