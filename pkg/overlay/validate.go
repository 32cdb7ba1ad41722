package overlay

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Errors that validation of layer entries returns.
var (
	// ErrUnsafePath: a name or link target that could reach outside the
	// layer, or is not in its one canonical spelling.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrBadEntry: an entry whose type or metadata a layer may not have.
	ErrBadEntry = errors.New("invalid layer entry")
	// ErrOrder: an entry out of canonical order, a duplicate, or one whose
	// parent directory did not come before it.
	ErrOrder = errors.New("entry out of canonical order")
)

// Limits on names, from Linux: NAME_MAX and PATH_MAX; and on how deep a
// layer may nest, which bounds the directories Apply holds open.
const (
	MaxNameLen = 255
	MaxPathLen = 4096
	MaxDepth   = 1024
)

// Limits on extended attributes, from Linux: XATTR_NAME_MAX, XATTR_SIZE_MAX.
const (
	maxXattrName  = 255
	maxXattrValue = 65536
)

// Linux device numbers: 12 bits of major, 20 of minor.
const (
	maxMajor = 1<<12 - 1
	maxMinor = 1<<20 - 1
)

// Validator checks that a stream of layer tar headers is a canonical layer:
// every name safe, every entry of an allowed kind, each entry's parent
// directory earlier in the stream, and the entries in the order package
// overlay writes them, so that no name can come twice. It keeps only the
// chain of open directories, never the whole list of names.
//
// The zero Validator checks a layer. With Plain set before the first entry
// it checks the tar of a plain tree instead (see [Options] Plain): a first
// entry "./" for the root directory, and only there; names beginning ".wh."
// are ordinary names that sort as they are; a character device 0:0 is a
// device; any xattr, trusted.overlay.* too, may be carried. Every other
// rule is the layer's.
type Validator struct {
	// Plain: the entries are a plain tree's, not a layer's.
	Plain bool
	// open is the chain of directories that enclose the last entry, as
	// their component lists; last is the sort key of the last entry.
	open [][]string
	last []string
	n    int64
}

// Entry checks the next header of the layer.
func (v *Validator) Entry(hdr *tar.Header) error {
	v.n++
	if v.Plain && hdr.Name == rootName {
		return v.root(hdr)
	}
	if err := checkEntry(hdr, v.Plain); err != nil {
		return err
	}
	name := strings.TrimSuffix(hdr.Name, "/")
	comps := strings.Split(name, "/")
	key := sortKey(comps, v.Plain)
	if v.last != nil && compareKeys(v.last, key) >= 0 {
		if compareKeys(v.last, key) == 0 {
			return fmt.Errorf("%q: duplicate of an earlier entry: %w", hdr.Name, ErrOrder)
		}
		return fmt.Errorf("%q: comes after %q: %w", hdr.Name, strings.Join(v.last, "/"), ErrOrder)
	}
	v.last = key
	parent := comps[:len(comps)-1]
	for len(v.open) > 0 && !equal(v.open[len(v.open)-1], parent) {
		v.open = v.open[:len(v.open)-1]
	}
	if len(parent) > 0 && len(v.open) == 0 {
		return fmt.Errorf("%q: its directory %q is not an earlier entry of the layer: %w", hdr.Name, strings.Join(parent, "/")+"/", ErrOrder)
	}
	if hdr.Typeflag == tar.TypeDir {
		v.open = append(v.open, comps)
	}
	if hdr.Typeflag == tar.TypeLink {
		target := strings.Split(hdr.Linkname, "/")
		if compareKeys(sortKey(target, v.Plain), key) >= 0 {
			return fmt.Errorf("%q: hard link to %q, which is not an earlier entry: %w", hdr.Name, hdr.Linkname, ErrOrder)
		}
	}
	return nil
}

// rootName is the name of the root entry of a plain tree.
const rootName = "./"

// root checks the root entry of a plain tree. It may only come first, so
// that Apply sets the staging dir's owner and attributes once, before
// anything is made in it, and it must be a directory: the root is one.
func (v *Validator) root(hdr *tar.Header) error {
	if v.n != 1 {
		return fmt.Errorf("%q: root entry after other entries: %w", hdr.Name, ErrOrder)
	}
	if hdr.Typeflag != tar.TypeDir {
		return fmt.Errorf("%q: root entry of type %q, not a directory: %w", hdr.Name, hdr.Typeflag, ErrBadEntry)
	}
	return checkMeta(hdr, true)
}

// Count is the number of entries seen.
func (v *Validator) Count() int64 { return v.n }

// sortKey is the name a layer entry sorts by: the whiteout ".wh.NAME"
// stands where NAME would, and an opaque marker comes first in its
// directory. In a plain tree every entry sorts by its own name.
func sortKey(comps []string, plain bool) []string {
	last := comps[len(comps)-1]
	switch {
	case plain:
		return comps
	case last == WhiteoutOpaque:
		last = ""
	case strings.HasPrefix(last, WhiteoutPrefix):
		last = strings.TrimPrefix(last, WhiteoutPrefix)
	default:
		return comps
	}
	key := append([]string(nil), comps[:len(comps)-1]...)
	return append(key, last)
}

// compareKeys orders names component by component, bytewise, a directory
// before what it holds: the order of a depth-first walk with sorted
// directory listings.
func compareKeys(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

func equal(a, b []string) bool { return compareKeys(a, b) == 0 }

// checkEntry checks one header on its own.
func checkEntry(hdr *tar.Header, plain bool) error {
	if err := checkName(hdr.Name, hdr.Typeflag == tar.TypeDir, plain); err != nil {
		return err
	}
	return checkMeta(hdr, plain)
}

// checkMeta checks everything of one header but its name.
func checkMeta(hdr *tar.Header, plain bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%q: %s: %w", hdr.Name, fmt.Sprintf(format, args...), ErrBadEntry)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Devmajor < 0 || hdr.Devmajor > maxMajor || hdr.Devminor < 0 || hdr.Devminor > maxMinor {
			return bad("device %d:%d out of range", hdr.Devmajor, hdr.Devminor)
		}
		if !plain && hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0 {
			return bad("character device 0:0 is an overlay whiteout, which a layer writes as %sNAME", WhiteoutPrefix)
		}
	default:
		return bad("type %q is not allowed in a layer", hdr.Typeflag)
	}
	if hdr.Typeflag != tar.TypeReg && hdr.Size != 0 {
		return bad("size %d on an entry without contents", hdr.Size)
	}
	if hdr.Size < 0 {
		return bad("negative size")
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid > 1<<32-2 || hdr.Gid > 1<<32-2 {
		return bad("owner %d:%d out of range", hdr.Uid, hdr.Gid)
	}
	if hdr.Mode&^07777 != 0 {
		return bad("mode %#o has bits beyond 07777", hdr.Mode)
	}
	switch classify(hdr, plain) {
	case KindWhiteout, KindOpaque:
		if hdr.Size != 0 {
			return bad("whiteout with contents")
		}
	}
	if !plain && hdr.Typeflag != tar.TypeReg && strings.HasPrefix(path.Base(strings.TrimSuffix(hdr.Name, "/")), WhiteoutPrefix) {
		// Other layer readers decide what is a whiteout by name alone.
		return bad("only an empty regular file may have a whiteout name")
	}
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 || len(hdr.Linkname) > MaxPathLen {
			return bad("symlink target empty, too long or with a NUL byte")
		}
	case tar.TypeLink:
		if err := checkName(hdr.Linkname, false, plain); err != nil {
			return fmt.Errorf("%q: hard link target: %w", hdr.Name, err)
		}
		if classify(&tar.Header{Name: hdr.Linkname, Typeflag: tar.TypeReg}, plain) != KindFile {
			return bad("hard link to a whiteout")
		}
	}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrRecord); ok && (len(name) > maxXattrName || len(v) > maxXattrValue) {
			return bad("xattr %.40q longer than Linux allows", name)
		}
		if strings.HasPrefix(k, "GNU.sparse.") {
			return bad("sparse entries are not allowed in a layer")
		}
		// A plain tree is no overlay: its trusted.overlay.* are data.
		if !plain && (strings.HasPrefix(k, xattrRecord+trustedOverlayPrefix) || strings.HasPrefix(k, xattrRecord+userOverlayPrefix)) {
			return bad("carries the overlay's own attribute %s", strings.TrimPrefix(k, xattrRecord))
		}
	}
	return nil
}

// The overlay's attribute namespaces (Documentation/filesystems/overlayfs.rst).
const (
	trustedOverlayPrefix = "trusted.overlay."
	userOverlayPrefix    = "user.overlay."
)

// CheckName checks that a layer entry name is relative, canonical and stays
// inside the layer: no "..", ".", empty or overlong components, no NUL, a
// trailing "/" exactly on directories, and whiteouts of a real name only.
func CheckName(name string, isDir bool) error { return checkName(name, isDir, false) }

// checkName is CheckName, or with plain the same checks but none about
// whiteouts: in a plain tree ".wh.x" is a name like any other.
func checkName(name string, isDir, plain bool) error {
	unsafe := func(why string) error {
		return fmt.Errorf("%q: %s: %w", name, why, ErrUnsafePath)
	}
	if name == "" {
		return unsafe("empty name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return unsafe("NUL byte in name")
	}
	if len(name) > MaxPathLen {
		return unsafe("longer than PATH_MAX")
	}
	if strings.HasPrefix(name, "/") {
		return unsafe("absolute")
	}
	trimmed, slash := strings.CutSuffix(name, "/")
	if slash != isDir {
		if isDir {
			return unsafe("directory name without a trailing /")
		}
		return unsafe("trailing / on a non-directory")
	}
	comps := strings.Split(trimmed, "/")
	if len(comps) > MaxDepth {
		return unsafe(fmt.Sprintf("deeper than %d directories", MaxDepth))
	}
	for i, c := range comps {
		switch {
		case c == "":
			return unsafe("empty path component")
		case c == "." || c == "..":
			return unsafe("\".\" or \"..\" component")
		case plain && len(c) > MaxNameLen:
			return unsafe("component longer than NAME_MAX")
		case len(strings.TrimPrefix(c, WhiteoutPrefix)) > MaxNameLen:
			// A whiteout of a 255-byte name is a 259-byte tar name, but
			// only the name it deletes is ever made on disk.
			return unsafe("component longer than NAME_MAX")
		}
		if plain || !strings.HasPrefix(c, WhiteoutPrefix) {
			continue
		}
		if i != len(comps)-1 || isDir {
			return unsafe("whiteout name used as a directory")
		}
		if c == WhiteoutOpaque {
			if i == 0 {
				return unsafe("opaque marker at the layer root")
			}
			continue
		}
		target := strings.TrimPrefix(c, WhiteoutPrefix)
		if target == "" || target == "." || target == ".." || strings.HasPrefix(target, WhiteoutPrefix) {
			return unsafe("whiteout of no real name")
		}
	}
	return nil
}
