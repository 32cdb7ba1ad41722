package overlay

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Errors that validation of layer entries returns.
var (
	// ErrUnsafePath: a name or link target that could reach outside the
	// layer, or that no file system can hold.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrBadEntry: an entry whose type or metadata a layer may not have,
	// or that Linux would not keep as the header says.
	ErrBadEntry = errors.New("invalid layer entry")
	// ErrOrder: an entry that refers to, or lands on, what the entries
	// before it made in a way the OCI layer rules leave ambiguous or
	// unsafe: a hard link to nothing earlier, an entry below a symlink,
	// a directory replaced by a file.
	ErrOrder = errors.New("entry conflicts with an earlier entry")
	// ErrMismatch: a node Apply wrote is not what its entry says, or the
	// tree holds names no entry made.
	ErrMismatch = errors.New("staged tree does not match its tar")
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

// The mtimes ext4 keeps (34 bits of seconds from 1901-12-13): a time
// outside would be clamped, and the tree would not be what the tar says.
var (
	minMtime = time.Unix(-1<<31, 0)
	maxMtime = time.Unix(1<<34-1<<31-1, 999999999)
)

// Op is what applying one entry does to the tree.
type Op int

// The operations of a layer's entries.
const (
	// OpSkip: nothing; Action.Note says why.
	OpSkip Op = iota
	// OpCreate: make the entry at Action.Path, removing first the
	// earlier non-directory there if Action.Replace.
	OpCreate
	// OpMerge: Action.Path is a directory already (an earlier entry or
	// an implied parent); it takes this entry's metadata.
	OpMerge
	// OpOpaque: mark the directory Action.Path opaque.
	OpOpaque
	// OpRoot: a plain tree's root entry "./", which gives the root its
	// metadata.
	OpRoot
)

// Action is what a [Validator] decided one entry does.
type Action struct {
	Op Op
	// Kind is the entry's kind (see [Classify]).
	Kind Kind
	// Path is where the entry lands, without a trailing slash: for a
	// whiteout the name it deletes, for an opaque marker its directory.
	Path string
	// Replace: an earlier entry made a non-directory at Path, which goes.
	Replace bool
	// Opaque: the directory made or merged at Path is opaque too (a
	// whiteout of its name in the same layer hides the lower layers').
	Opaque bool
	// Implied are directories to make before the entry, outermost first:
	// parents the layer never lists.
	Implied []string
	// Note says why an entry is skipped.
	Note string
}

// Validator reads the headers of a layer tar in stream order and decides,
// by the OCI image spec's rules, what each does to the tree: the one
// place that decides what a layer means, for import (Apply) and check
// alike, so that an entry check calls valid is one Apply can write.
//
// Any valid OCI layer is accepted, not only the canonical tar package
// overlay writes: USTAR, GNU or PAX headers, names with a "./" prefix,
// directories without a trailing "/", file-type bits in the mode, any
// order, parents implied rather than listed, a path repeated (the later
// entry wins; a directory merges into a directory), a whiteout and an
// entry of the same name (the whiteout deletes only the lower layers'
// copy, so a directory becomes opaque). What stays ambiguous or unsafe is
// refused, naming the entry and the rule: names that leave the layer, an
// entry below a symlink or file of the layer, a hard link to anything but
// an earlier file, a directory replaced by a non-directory, metadata
// Linux would not keep as given.
//
// To decide this it keeps a set of the names made so far (8 to 16 bytes
// each, see nameSet), bounded by the entries the layer declares and the
// parents they imply (at most as many again, plus [MaxDepth]).
//
// The zero Validator checks a layer. With Plain set before the first entry
// it checks the tar of a plain tree instead (see [Options] Plain): its
// root entry "./" may come only first; names beginning ".wh." are
// ordinary names; a character device 0:0 is a device; any xattr,
// trusted.overlay.* too, may be carried.
type Validator struct {
	// Plain: the entries are a plain tree's, not a layer's.
	Plain bool
	n     int64
	names nameSet
	order orderCheck
	// notCanonical is the first reason the layer is not the tar Write
	// would produce for the tree it makes.
	notCanonical string
	implied      int64
	live         int64
	repeats      int64
}

// Count is the number of entries seen.
func (v *Validator) Count() int64 { return v.n }

// Repeats is the number of entries seen that name a path an earlier entry
// named (a whiteout counts as naming what it deletes).
func (v *Validator) Repeats() int64 { return v.repeats }

// Reserve sizes the Validator's set of names for a layer that declares n
// entries (at most [MaxNames]), before the first entry.
func (v *Validator) Reserve(n int64) { v.names.reserve(n) }

// Live is the number of names the tree holds once every entry seen is
// applied: its entries and implied parents, less the names replaced, the
// whiteouts and markers that became attributes, and the skipped entries.
func (v *Validator) Live() int64 { return v.live }

// Canonical tells whether the entries seen so far are in the form and
// order [Write] gives, and if not, the first reason why. Header bytes
// (PAX header names, number encodings) are not looked at: see
// [HeaderDigest] for that.
func (v *Validator) Canonical() (bool, string) { return v.notCanonical == "", v.notCanonical }

func (v *Validator) noncanonical(format string, args ...any) {
	if v.notCanonical == "" {
		v.notCanonical = fmt.Sprintf("entry %d: ", v.n) + fmt.Sprintf(format, args...)
	}
}

// maxImplied bounds the parents a layer may imply: as many as it has
// entries, plus one full-depth path. An import's free-space check counts
// an inode and a block for each declared entry; implied parents can at
// most double that (empty directories: an inode and a block each).
func maxImplied(entries int64) int64 { return entries + MaxDepth }

// Entry checks the next header and returns what it does. It normalizes
// hdr in place: its name as Write spells it (no "./" prefix, a trailing
// "/" on directories), its mode without file-type bits, no link name on
// entries that are no links, xattr values as Linux reads them back.
func (v *Validator) Entry(hdr *tar.Header) (Action, error) {
	v.n++
	if skip, err := v.normalize(hdr); err != nil || skip != "" {
		return Action{Op: OpSkip, Note: skip}, err
	}
	if v.Plain && hdr.Name == rootName {
		return v.root(hdr)
	}
	if err := checkEntry(hdr, v.Plain); err != nil {
		return Action{}, err
	}
	if why := v.order.next(hdr, v.Plain); why != "" {
		v.noncanonical("%s", why)
	}
	return v.place(hdr)
}

// rootName is the name of the root entry of a plain tree.
const rootName = "./"

// typeBits are the file-type bits of st_mode that some tar writers (Go's
// FileInfoHeader, and so Docker's) leave in the mode field.
var typeBits = map[byte]int64{
	tar.TypeReg: 0o100000, tar.TypeDir: 0o040000, tar.TypeSymlink: 0o120000,
	tar.TypeChar: 0o020000, tar.TypeBlock: 0o060000, tar.TypeFifo: 0o010000,
	tar.TypeCont: 0o100000,
}

// normalize makes hdr's spelling canonical where two spellings mean the
// same entry, noting each change as a reason the layer is not canonical,
// and returns why the entry is skipped, if it is.
func (v *Validator) normalize(hdr *tar.Header) (skip string, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%q: %s: %w", hdr.Name, fmt.Sprintf(format, args...), ErrBadEntry)
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		// Docker's applier ignores them too; archive/tar applies none.
		v.noncanonical("PAX global header")
		return "a PAX global header: its records are not applied", nil
	case tar.TypeGNUSparse:
		return "", bad("sparse entries are not allowed in a layer")
	case tar.TypeRegA, tar.TypeCont:
		// V7's regular file ('\x00'; a trailing "/" made it a directory)
		// and the contiguous file, which Linux has no notion of.
		v.noncanonical("%q: typeflag %q", hdr.Name, hdr.Typeflag)
		hdr.Typeflag = tar.TypeReg
		if strings.HasSuffix(hdr.Name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
	default:
		return "", bad("type %q is not allowed in a layer", hdr.Typeflag)
	}
	if t := hdr.Mode &^ 0o7777; t != 0 {
		want, known := typeBits[hdr.Typeflag]
		if hdr.Typeflag == tar.TypeLink {
			// A hard link's own metadata is ignored; its type bits are
			// its target's.
			want, known = t, t&^0o170000 == 0
		}
		if !known || t != want {
			return "", bad("mode %#o has bits beyond 07777 that do not name its type %q", hdr.Mode, hdr.Typeflag)
		}
		v.noncanonical("%q: mode %#o carries file-type bits", hdr.Name, hdr.Mode)
		hdr.Mode &= 0o7777
	}
	if hdr.Linkname != "" && hdr.Typeflag != tar.TypeLink && hdr.Typeflag != tar.TypeSymlink {
		// Docker writes a whiteout it found hard-linked to an earlier
		// one with the earlier one's name still here.
		v.noncanonical("%q: link name on a %q entry", hdr.Name, hdr.Typeflag)
		hdr.Linkname = ""
	}
	if hdr.Uname != "" || hdr.Gname != "" {
		v.noncanonical("%q: owner names", hdr.Name)
	}
	name, dotted := trimDot(hdr.Name)
	if dotted {
		v.noncanonical("%q: name with a \"./\" prefix", hdr.Name)
	}
	if name == "" && v.Plain && hdr.Name != rootName {
		// A plain tree's root comes only from layer-export, spelled so.
		return "", fmt.Errorf("%q: root entry spelled other than %q: %w", hdr.Name, rootName, ErrUnsafePath)
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir {
			return "", fmt.Errorf("%q: root entry of type %q, not a directory: %w", hdr.Name, hdr.Typeflag, ErrBadEntry)
		}
		if !v.Plain {
			v.noncanonical("root entry %q", hdr.Name)
			return "the root directory: a layer's root belongs to the engine, its metadata is not applied", nil
		}
		hdr.Name = rootName
		return "", nil
	}
	if hdr.Typeflag == tar.TypeDir && !strings.HasSuffix(name, "/") {
		v.noncanonical("%q: directory name without a trailing /", hdr.Name)
		name += "/"
	}
	hdr.Name = name
	if hdr.Typeflag == tar.TypeLink {
		target, dotted := trimDot(hdr.Linkname)
		if dotted {
			v.noncanonical("%q: link target with a \"./\" prefix", hdr.Name)
		}
		hdr.Linkname = target
	}
	return "", nil
}

// trimDot strips the "./" prefixes some tar writers put on every name
// ("tar -C dir -c ."), and a lone ".", the root.
func trimDot(name string) (string, bool) {
	trimmed := name
	for strings.HasPrefix(trimmed, "./") {
		trimmed = strings.TrimLeft(trimmed[2:], "/")
	}
	if trimmed == "." {
		trimmed = ""
	}
	return trimmed, trimmed != name
}

// root checks the root entry of a plain tree. It may only come first, so
// that Apply sets the staging dir's owner and attributes once, before
// anything is made in it, and it must be a directory: the root is one.
func (v *Validator) root(hdr *tar.Header) (Action, error) {
	if v.n != 1 {
		return Action{}, fmt.Errorf("%q: root entry after other entries: %w", hdr.Name, ErrOrder)
	}
	if hdr.Typeflag != tar.TypeDir {
		return Action{}, fmt.Errorf("%q: root entry of type %q, not a directory: %w", hdr.Name, hdr.Typeflag, ErrBadEntry)
	}
	if err := checkMeta(hdr, KindDir, true); err != nil {
		return Action{}, err
	}
	return Action{Op: OpRoot, Kind: KindDir}, nil
}

// place decides, from what the entries before made, what a checked entry
// does, and records what it makes.
func (v *Validator) place(hdr *tar.Header) (Action, error) {
	kind := classify(hdr, v.Plain)
	name := strings.TrimSuffix(hdr.Name, "/")
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	a := Action{Op: OpCreate, Kind: kind, Path: name}
	conflict := func(format string, args ...any) (Action, error) {
		return Action{}, fmt.Errorf("%q: %s: %w", hdr.Name, fmt.Sprintf(format, args...), ErrOrder)
	}
	switch kind {
	case KindOpaque:
		a.Op, a.Path = OpOpaque, dir
		implied, err := v.dirs(hdr.Name, dir)
		a.Implied = implied
		return a, err
	case KindWhiteout:
		a.Path = path.Join(dir, strings.TrimPrefix(base, WhiteoutPrefix))
	}
	implied, err := v.dirs(hdr.Name, dir)
	if err != nil {
		return Action{}, err
	}
	a.Implied = implied
	made := nameFile
	if kind == KindHardlink {
		if hdr.Linkname == a.Path {
			return conflict("hard link to itself")
		}
		switch target := v.names.get(hdr.Linkname); target {
		case nameSymlink:
			made = nameSymlink
		case nameNone:
			return conflict("hard link to %q, which no earlier entry made", hdr.Linkname)
		case nameDir:
			return conflict("hard link to the directory %q", hdr.Linkname)
		case nameWhiteout:
			return conflict("hard link to %q, which this layer deletes", hdr.Linkname)
		}
	}
	prev := v.names.get(a.Path)
	switch kind {
	case KindDir:
		made = nameDir
	case KindSymlink:
		made = nameSymlink
	case KindWhiteout:
		made = nameWhiteout
	}
	if prev != nameNone {
		v.repeats++
	}
	switch {
	case prev == nameNone:
		v.live++
	case kind == KindWhiteout && prev == nameDir:
		// Same layer: the whiteout deletes the lower layers' directory,
		// whose place this layer's directory takes, opaque.
		v.noncanonical("%q: whiteout of a directory the layer makes", hdr.Name)
		return Action{Op: OpOpaque, Kind: kind, Path: a.Path, Implied: a.Implied}, nil
	case kind == KindWhiteout && prev != nameWhiteout:
		// The layer's own entry hides the lower layers' already.
		v.noncanonical("%q: whiteout of a name the layer makes", hdr.Name)
		return Action{Op: OpSkip, Note: "a whiteout of a name the layer itself makes", Implied: a.Implied}, nil
	case prev == nameDir && kind == KindDir:
		v.noncanonical("%q: directory listed twice", hdr.Name)
		a.Op = OpMerge
		return a, nil
	case prev == nameDir:
		return conflict("replaces the directory an earlier entry made with a non-directory, which would drop what it holds")
	default:
		v.noncanonical("%q: replaces an earlier entry", hdr.Name)
		a.Replace = true
		a.Opaque = prev == nameWhiteout && kind == KindDir
	}
	if err := v.names.put(a.Path, made); err != nil {
		return Action{}, err
	}
	return a, nil
}

// dirs checks that dir (the parent of the entry named name) is a
// directory of the tree, or can be made one: every missing component is
// an implied parent, made and returned outermost first. A component that
// is a symlink, a file or a whiteout of this layer is refused: the layer
// would be written through its own symlink, or would have to drop what it
// made.
func (v *Validator) dirs(name, dir string) ([]string, error) {
	var missing []string
	for p := dir; p != ""; p = parentOf(p) {
		k := v.names.get(p)
		if k == nameDir {
			break
		}
		if k != nameNone {
			return nil, fmt.Errorf("%q: its directory %q is a %s this layer made: %w", name, p+"/", k, ErrOrder)
		}
		missing = append(missing, p)
	}
	if len(missing) == 0 {
		return nil, nil
	}
	v.implied += int64(len(missing))
	if v.implied > maxImplied(v.n) {
		return nil, fmt.Errorf("%q: the layer implies %d parent directories it does not list, more than its %d entries allow: %w", name, v.implied, v.n, ErrLimit)
	}
	v.noncanonical("%q: its directory %q is not an earlier entry", name, missing[0]+"/")
	out := make([]string, len(missing))
	for i, p := range missing {
		out[len(missing)-1-i] = p
		if err := v.names.put(p, nameDir); err != nil {
			return nil, err
		}
	}
	v.live += int64(len(missing))
	return out, nil
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// orderCheck follows whether entries come in the order Write gives: the
// sort key of the last entry.
type orderCheck struct {
	last     []string
	lastName string
}

// next notes hdr (normalized and checked) and says why it breaks
// canonical order, or "".
func (o *orderCheck) next(hdr *tar.Header, plain bool) string {
	comps := strings.Split(strings.TrimSuffix(hdr.Name, "/"), "/")
	key := sortKey(comps, plain)
	why := ""
	if o.last != nil && compareKeys(o.last, key) >= 0 {
		why = fmt.Sprintf("%q comes after %q", hdr.Name, o.lastName)
	}
	o.last, o.lastName = key, hdr.Name
	return why
}

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

// checkEntry checks one normalized header on its own.
func checkEntry(hdr *tar.Header, plain bool) error {
	if err := checkName(hdr.Name, hdr.Typeflag == tar.TypeDir, plain); err != nil {
		return err
	}
	return checkMeta(hdr, classify(hdr, plain), plain)
}

// checkMeta checks everything of one header but its name.
func checkMeta(hdr *tar.Header, kind Kind, plain bool) error {
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
	if !plain && hdr.Typeflag != tar.TypeReg && strings.HasPrefix(path.Base(strings.TrimSuffix(hdr.Name, "/")), WhiteoutPrefix) {
		// Other layer readers decide what is a whiteout by name alone.
		return bad("only an empty regular file may have a whiteout name")
	}
	if hdr.Typeflag == tar.TypeLink {
		// A hard link is its target: tar extractors ignore its own
		// owner, mode, mtime and xattrs, and so does Apply.
		if err := checkName(hdr.Linkname, false, plain); err != nil {
			return fmt.Errorf("%q: hard link target: %w", hdr.Name, err)
		}
		if len(hdr.Linkname) >= MaxPathLen {
			// Resolved whole (openat2), where PATH_MAX counts the NUL.
			return fmt.Errorf("%q: hard link target longer than 4095 bytes: %w", hdr.Name, ErrUnsafePath)
		}
		if classify(&tar.Header{Name: hdr.Linkname, Typeflag: tar.TypeReg}, plain) != KindFile {
			return bad("hard link to a whiteout")
		}
		return nil
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid > 1<<32-2 || hdr.Gid > 1<<32-2 {
		return bad("owner %d:%d out of range", hdr.Uid, hdr.Gid)
	}
	if hdr.Mode < 0 || hdr.Mode&^0o7777 != 0 {
		return bad("mode %#o has bits beyond 07777", hdr.Mode)
	}
	if hdr.ModTime.Before(minMtime) || hdr.ModTime.After(maxMtime) {
		return bad("mtime %s is outside what Linux file systems keep (1901 to 2446)", hdr.ModTime.UTC().Format(time.RFC3339))
	}
	switch kind {
	case KindWhiteout, KindOpaque:
		if hdr.Size != 0 {
			return bad("whiteout with contents")
		}
	}
	// PATH_MAX counts the terminating NUL: symlinkat takes 4095 bytes.
	if hdr.Typeflag == tar.TypeSymlink && (hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 || len(hdr.Linkname) >= MaxPathLen) {
		return bad("symlink target empty, longer than 4095 bytes or with a NUL byte")
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return bad("sparse entries are not allowed in a layer")
		}
	}
	return checkXattrs(hdr, kind, plain)
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
