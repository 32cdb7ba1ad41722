package overlay

// Hostile layer tars against Apply, in the style of containerd's
// pkg/archive TestBreakouts: every case is applied into parent/staging,
// beside a victim file and a victim directory, and whatever Apply says,
// nothing outside staging may change, nothing inside staging may be a hard
// link to a file outside it, and no symlink may have been followed (a
// chown, chmod, utimes, xattr or link through one would change the
// victim's ctime).

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Expectations of a breakout case besides a sentinel error.
var (
	// boAnyErr: Apply must fail, with whatever error.
	boAnyErr = errors.New("some error")
	// boEither: Apply may succeed or fail; only the invariants count.
	boEither = errors.New("success or failure")
)

// boCase is one hostile (or, for controls, legal) layer.
type boCase struct {
	name string
	tar  []byte
	opts Options
	// want is nil when Apply must succeed, boAnyErr or boEither, or the
	// sentinels of which the error must match one.
	want []error
	// check, if set, looks at the staging dir after Apply.
	check func(t *testing.T, staging string)
	// bounded: the layer declares far more than it holds (a 1 TiB sparse
	// file, a 2^62-byte file, a 1 TiB PAX header) or piles up headers and
	// records; Apply's work must follow the bytes it was given, not the
	// sizes it was told: the regular files it leaves in staging add up to
	// no more than the tar itself.
	bounded bool
}

// boHang guards against an Apply that never returns: a case that runs
// this long fails alone instead of the whole binary timing out. It is not
// a speed limit; every case needs a tiny fraction of it on any machine,
// and what is asserted is the result and the work (bounded), not the time.
const boHang = 2 * time.Minute

func boOK() []error                { return nil }
func boRefused(e ...error) []error { return e }
func boFails() []error             { return []error{boAnyErr} }
func boMay() []error               { return []error{boEither} }

// Header shorthands. Every header is written as PAX by tarOf.
func boReg(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}
}
func boDir(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}
}
func boSym(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}
}
func boLink(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o644}
}
func boNode(name string, typ byte, major, minor int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: typ, Devmajor: major, Devminor: minor, Mode: 0o600}
}
func boPAXRec(h *tar.Header, kv ...string) *tar.Header {
	if h.PAXRecords == nil {
		h.PAXRecords = map[string]string{}
	}
	for i := 0; i < len(kv); i += 2 {
		h.PAXRecords[kv[i]] = kv[i+1]
	}
	return h
}
func boWith(h *tar.Header, f func(*tar.Header)) *tar.Header { f(h); return h }

// Raw tar surgery, for what archive/tar refuses to write.

// boHdr is one 512-byte tar header block.
type boHdr [512]byte

// Field offsets and lengths (POSIX ustar, GNU where noted).
const (
	boName, boNameLen         = 0, 100
	boMode, boModeLen         = 100, 8
	boUID, boUIDLen           = 108, 8
	boGID, boGIDLen           = 116, 8
	boSize, boSizeLen         = 124, 12
	boMtime, boMtimeLen       = 136, 12
	boChksum                  = 148
	boType                    = 156
	boLinkname, boLinknameLen = 157, 100
	boMagic                   = 257
	boDevmajor, boDevLen      = 329, 8
	boDevminor                = 337
	boGNURealsize             = 483 // GNU: 12 bytes
)

// boUstar is a ustar header for name, of type typ, with size bytes of data.
func boUstar(name string, typ byte, size int64) *boHdr {
	h := &boHdr{}
	copy(h[boName:boName+boNameLen], name)
	h.octal(boMode, boModeLen, 0o644)
	h.octal(boUID, boUIDLen, 0)
	h.octal(boGID, boGIDLen, 0)
	h.octal(boSize, boSizeLen, size)
	h.octal(boMtime, boMtimeLen, 1700000000)
	h[boType] = typ
	copy(h[boMagic:], "ustar\x0000")
	h.octal(boDevmajor, boDevLen, 0)
	h.octal(boDevminor, boDevLen, 0)
	return h
}

// gnu switches the header to the GNU magic.
func (h *boHdr) gnu() *boHdr { copy(h[boMagic:], "ustar  \x00"); return h }

func (h *boHdr) octal(off, n int, v int64) *boHdr {
	copy(h[off:off+n], fmt.Sprintf("%0*o\x00", n-1, v))
	return h
}

// b256 stores v in GNU base-256 (two's complement, high bit set), which
// archive/tar reads in any format, negative numbers included.
func (h *boHdr) b256(off, n int, v int64) *boHdr {
	for i := off + n - 1; i >= off; i-- {
		h[i] = byte(v)
		v >>= 8
	}
	h[off] |= 0x80
	return h
}

// raw stores bytes as they are.
func (h *boHdr) raw(off int, b string) *boHdr { copy(h[off:], b); return h }

// block returns the header with its checksum.
func (h *boHdr) block() []byte {
	b := *h
	copy(b[boChksum:boChksum+8], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[boChksum:], fmt.Sprintf("%06o\x00 ", sum))
	return b[:]
}

// boTar assembles a tar stream from raw pieces.
type boTar struct{ bytes.Buffer }

// hdr appends a header block.
func (r *boTar) hdr(h *boHdr) *boTar { r.Write(h.block()); return r }

// data appends contents padded to a block.
func (r *boTar) data(p []byte) *boTar {
	r.Write(p)
	r.Write(make([]byte, (512-len(p)%512)%512))
	return r
}

// pax appends a PAX header of type typ ('x' or 'g') holding the records
// kv, in order, byte for byte as given (NUL bytes included).
func (r *boTar) pax(typ byte, kv ...string) *boTar {
	var recs []byte
	for i := 0; i < len(kv); i += 2 {
		recs = append(recs, boRecord(kv[i], kv[i+1])...)
	}
	r.hdr(boUstar("PaxHeaders.0/x", typ, int64(len(recs))))
	return r.data(recs)
}

// end appends the two zero blocks and returns the stream.
func (r *boTar) end() []byte {
	r.Write(make([]byte, 1024))
	return r.Bytes()
}

// boRecord is one PAX record "LEN KEY=VALUE\n".
func boRecord(k, v string) []byte {
	body := " " + k + "=" + v + "\n"
	n := len(body)
	for {
		s := fmt.Sprint(n) + body
		if len(s) == n {
			return []byte(s)
		}
		n = len(s)
	}
}

// boRaw is a tar of one raw header and its data.
func boRaw(h *boHdr, data []byte) []byte {
	var r boTar
	r.hdr(h)
	if len(data) > 0 {
		r.data(data)
	}
	return r.end()
}

// The world around the staging dir.

type boFile struct {
	path    string
	st      unix.Stat_t
	content string
	link    string
	xattrs  string
	names   []string
}

// boSnap records what a path is: its full lstat (ctime catches any change
// of metadata or link count), contents or target, xattrs, and for a
// directory its names.
func boSnap(t *testing.T, path string, withContent bool) boFile {
	t.Helper()
	f := boFile{path: path}
	if err := unix.Lstat(path, &f.st); err != nil {
		t.Fatalf("lstat %s: %v", path, err)
	}
	switch f.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if withContent {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f.content = string(b)
		}
	case unix.S_IFLNK:
		f.link, _ = os.Readlink(path)
	case unix.S_IFDIR:
		f.names = boNames(t, path)
	}
	buf := make([]byte, 64<<10)
	if n, err := unix.Llistxattr(path, buf); err == nil {
		names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
		slices.Sort(names)
		for _, name := range names {
			if name == "" {
				continue
			}
			v := make([]byte, 64<<10)
			m, _ := unix.Lgetxattr(path, name, v)
			f.xattrs += fmt.Sprintf("%s=%q;", name, v[:max(m, 0)])
		}
	}
	return f
}

func (f boFile) String() string {
	return fmt.Sprintf("%s: mode %o owner %d:%d nlink %d size %d ino %d mtime %v ctime %v content %q link %q xattrs %s names %q",
		f.path, f.st.Mode, f.st.Uid, f.st.Gid, f.st.Nlink, f.st.Size, f.st.Ino, f.st.Mtim, f.st.Ctim, f.content, f.link, f.xattrs, f.names)
}

func boNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// boWorld is a parent dir with a victim file, a victim dir, and the
// staging dir Apply writes into.
type boWorld struct {
	parent, staging string
	// outside is everything whose change would be a breakout.
	outside []boFile
	// stagingRoot is the staging dir's own metadata, which no entry may set.
	stagingRoot boFile
}

// boSystemFiles are absolute targets a hostile layer names; they are
// checked by lstat only.
var boSystemFiles = []string{"/etc/passwd", "/etc/shadow"}

func newBoWorld(t *testing.T) *boWorld {
	t.Helper()
	w := &boWorld{parent: t.TempDir()}
	p := func(n string) string { return filepath.Join(w.parent, n) }
	stamp := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	if err := os.WriteFile(p("victim"), []byte("victim"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p("victimdir"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("victimdir/file"), []byte("inner"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"victim", "victimdir/file", "victimdir"} {
		if err := os.Chown(p(n), 4242, 4243); err != nil {
			t.Fatal(err)
		}
		// An xattr that a set or remove through a symlink would change;
		// not every file system has user xattrs, and then ctime still
		// tells.
		unix.Lsetxattr(p(n), "user.victim", []byte("v"), 0)
		if err := os.Chtimes(p(n), stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	w.staging = p("staging")
	if err := os.Mkdir(w.staging, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"victim", "victimdir", "victimdir/file"} {
		w.outside = append(w.outside, boSnap(t, p(n), true))
	}
	// The parent last: its mtime and ctime change if anything is made or
	// removed in it.
	w.outside = append(w.outside, boSnap(t, w.parent, false))
	for _, n := range boSystemFiles {
		if _, err := os.Lstat(n); err == nil {
			w.outside = append(w.outside, boSnap(t, n, false))
		}
	}
	w.stagingRoot = boSnap(t, w.staging, false)
	return w
}

// verify checks the invariants that hold whatever Apply returned. With
// rootEntry (a plain tree whose first entry is "./") the staging dir's own
// metadata may change, but it must stay the same directory.
func (w *boWorld) verify(t *testing.T, rootEntry bool) {
	t.Helper()
	// (b) Nothing outside staging changed.
	for _, before := range w.outside {
		after := boSnap(t, before.path, before.content != "")
		if after.String() != before.String() {
			t.Errorf("BREAKOUT: %s changed:\n before %s\n after  %s", before.path, before, after)
		}
		if before.path == filepath.Join(w.parent, "victim") && after.st.Mode&unix.S_IFMT != unix.S_IFREG {
			t.Errorf("BREAKOUT: the victim is no longer a regular file")
		}
	}
	if got, want := boNames(t, w.parent), []string{"staging", "victim", "victimdir"}; !slices.Equal(got, want) {
		t.Errorf("BREAKOUT: parent holds %q, want %q", got, want)
	}
	// The staging dir itself: same inode, same owner, mode and xattrs (no
	// entry addresses the root, not even an opaque marker).
	root := boSnap(t, w.staging, false)
	sameMeta := root.st.Mode == w.stagingRoot.st.Mode && root.st.Uid == w.stagingRoot.st.Uid &&
		root.st.Gid == w.stagingRoot.st.Gid && root.xattrs == w.stagingRoot.xattrs
	if root.st.Ino != w.stagingRoot.st.Ino || root.st.Mode&unix.S_IFMT != unix.S_IFDIR || !sameMeta && !rootEntry {
		t.Errorf("staging root changed:\n before %s\n after  %s", w.stagingRoot, root)
	}
	// (c) No name under staging is an outside inode, and every inode with
	// several links has all of them under staging.
	outside := map[[2]uint64]string{}
	for _, f := range w.outside {
		outside[[2]uint64{f.st.Dev, f.st.Ino}] = f.path
	}
	type seen struct {
		nlink uint64
		names []string
	}
	inodes := map[[2]uint64]*seen{}
	// Names under staging can be longer than PATH_MAX from /: walk it
	// with *at calls.
	err := boWalk(w.staging, func(rel string, st *unix.Stat_t) {
		key := [2]uint64{st.Dev, st.Ino}
		if o, ok := outside[key]; ok {
			t.Errorf("BREAKOUT: %s is the inode of %s", rel, o)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return
		}
		s := inodes[key]
		if s == nil {
			s = &seen{nlink: uint64(st.Nlink)}
			inodes[key] = s
		}
		s.names = append(s.names, rel)
	})
	if err != nil {
		t.Errorf("walk staging: %v", err)
	}
	for _, s := range inodes {
		if uint64(len(s.names)) != s.nlink {
			t.Errorf("BREAKOUT: %q: %d links, only %d under staging", s.names, s.nlink, len(s.names))
		}
	}
}

// boWalk calls fn for everything below dir, without following symlinks.
func boWalk(dir string, fn func(rel string, st *unix.Stat_t)) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var walk func(fd int, rel string) error
	walk = func(fd int, rel string) error {
		f := os.NewFile(uintptr(fd), rel)
		defer f.Close()
		names, err := f.Readdirnames(-1)
		if err != nil {
			return err
		}
		for _, n := range names {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
			fn(rel+"/"+n, &st)
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			cfd, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			if err := walk(cfd, rel+"/"+n); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(fd, ".")
}

// run applies the case and checks its expectation and the invariants.
func (c boCase) run(t *testing.T) {
	w := newBoWorld(t)
	st, err := c.apply(t, w.staging)
	msg := fmt.Sprint(err)
	if len(msg) > 300 {
		msg = msg[:150] + "..." + msg[len(msg)-150:]
	}
	t.Logf("Apply: %d entries, err %s", st.Entries, msg)
	switch {
	case c.want == nil:
		if err != nil {
			t.Errorf("Apply refused a legal layer: %v", err)
		}
	case c.want[0] == boEither:
	case c.want[0] == boAnyErr:
		if err == nil {
			t.Errorf("Apply accepted it; want an error")
		}
	default:
		match := false
		for _, e := range c.want {
			match = match || errors.Is(err, e)
		}
		if !match {
			t.Errorf("Apply: error %v, want one of %v", err, c.want)
		}
	}
	if c.bounded {
		if n := boFileBytes(t, w.staging); n > int64(len(c.tar)) {
			t.Errorf("Apply left %d bytes of files from a tar of %d: it wrote what headers only declared", n, len(c.tar))
		}
	}
	w.verify(t, c.opts.Plain && boRootEntry(c.tar))
	if c.check != nil && err == nil {
		c.check(t, w.staging)
	}
}

// apply runs Apply on the case's tar, turning a panic into an error, and
// fails the test if it has not returned after boHang.
func (c boCase) apply(t *testing.T, staging string) (Stats, error) {
	t.Helper()
	type result struct {
		st  Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("PANIC: %v", p)
			}
			done <- r
		}()
		r.st, r.err = Apply(context.Background(), staging, bytes.NewReader(c.tar), c.opts)
	}()
	select {
	case r := <-done:
		if strings.HasPrefix(fmt.Sprint(r.err), "PANIC: ") {
			t.Errorf("Apply panicked: %v", r.err)
		}
		return r.st, r.err
	case <-time.After(boHang):
		t.Fatalf("Apply has not returned after %v: it loops, or works through what the headers declare", boHang)
		return Stats{}, nil
	}
}

// boFileBytes adds up the sizes of the regular files below dir.
func boFileBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := boWalk(dir, func(rel string, st *unix.Stat_t) {
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			n += st.Size
		}
	})
	if err != nil {
		t.Errorf("walk staging: %v", err)
	}
	return n
}

// Checks on the staging dir after a successful Apply.

func boNamesAre(want ...string) func(*testing.T, string) {
	return func(t *testing.T, staging string) {
		t.Helper()
		if got := boNames(t, staging); !slices.Equal(got, want) {
			t.Errorf("staging holds %q, want %q", got, want)
		}
	}
}

func boLstat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatalf("lstat: %v", err)
	}
	return st
}

// boSameSymlink: link is a hard link to the symlink sym itself, which
// still points at target.
func boSameSymlink(link, sym, target string) func(*testing.T, string) {
	return func(t *testing.T, staging string) {
		t.Helper()
		a, b := boLstat(t, filepath.Join(staging, link)), boLstat(t, filepath.Join(staging, sym))
		if a.Ino != b.Ino || a.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("%s (ino %d, mode %o) is not a hard link to the symlink %s (ino %d)", link, a.Ino, a.Mode, sym, b.Ino)
		}
		if got, _ := os.Readlink(filepath.Join(staging, link)); got != target {
			t.Errorf("%s points at %q, want %q", link, got, target)
		}
	}
}

func boSymlinkTo(name, target string, uid int) func(*testing.T, string) {
	return func(t *testing.T, staging string) {
		t.Helper()
		st := boLstat(t, filepath.Join(staging, name))
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Fatalf("%s is not a symlink: mode %o", name, st.Mode)
		}
		if got, _ := os.Readlink(filepath.Join(staging, name)); got != target {
			t.Errorf("%s points at %q, want %q", name, got, target)
		}
		if int(st.Uid) != uid {
			t.Errorf("%s is owned by %d, want %d (set on the link itself)", name, st.Uid, uid)
		}
	}
}

// boDistinct: the names are distinct regular files with their own inodes.
func boDistinct(names ...string) func(*testing.T, string) {
	return func(t *testing.T, staging string) {
		t.Helper()
		inos := map[uint64]string{}
		for _, n := range names {
			st := boLstat(t, filepath.Join(staging, n))
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				t.Errorf("%q is not a regular file", n)
			}
			if o, ok := inos[st.Ino]; ok {
				t.Errorf("%q and %q are one file", n, o)
			}
			inos[st.Ino] = n
		}
	}
}

// boPath is a relative path of exactly n bytes, components of at most 200
// bytes, and the directory headers that must come before it.
func boPath(n int) (dirs []*tar.Header, name string) {
	var b strings.Builder
	for i := 0; n-b.Len() > 201; i++ {
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), 200))
		b.WriteString("/")
		dirs = append(dirs, boDir(b.String()))
	}
	b.WriteString(strings.Repeat("z", n-b.Len()))
	return dirs, b.String()
}

// boClass is a class of breakout cases.
type boClass struct {
	name  string
	cases []boCase
}

// TestBreakouts applies every case as a layer, and again as a plain tree
// (a volume), where the same hostile names and links must be as harmless.
func TestBreakouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: Apply makes devices and sets owners")
	}
	for _, mode := range []struct {
		name    string
		classes []boClass
	}{{"layer", breakoutClasses(t)}, {"plain", plainBreakoutClasses(t)}} {
		t.Run(mode.name, func(t *testing.T) {
			for _, class := range mode.classes {
				t.Run(class.name, func(t *testing.T) {
					t.Logf("%d cases", len(class.cases))
					for _, c := range class.cases {
						t.Run(c.name, c.run)
					}
				})
			}
		})
	}
}

// breakoutClasses builds the table; FuzzApply seeds its corpus with it.
func breakoutClasses(t testing.TB) []boClass {
	tr := func(hdrs ...*tar.Header) []byte { return tarOf(t, hdrs...) }
	long := strings.Repeat("n", 256)
	dirs4097, path4097 := boPath(4097)
	dirs4096, path4096 := boPath(4096)
	deep := []*tar.Header{}
	for i, p := 1, "d/"; i <= 2000; i, p = i+1, p+"d/" {
		deep = append(deep, boDir(p))
	}
	nfc, nfd := "\u00e9", "e\u0301"

	names := []boCase{
		{name: "absolute", tar: tr(boReg("/victim", 1)), want: boRefused(ErrUnsafePath)},
		{name: "absolute dir", tar: tr(boDir("/tmp/")), want: boRefused(ErrUnsafePath)},
		{name: "dotdot", tar: tr(boReg("../victim", 1)), want: boRefused(ErrUnsafePath)},
		{name: "dotdot inside", tar: tr(boDir("a/"), boReg("a/../../victim", 1)), want: boRefused(ErrUnsafePath)},
		{name: "dotdot dir", tar: tr(boDir("../")), want: boRefused(ErrUnsafePath)},
		{name: "dot prefix", tar: tr(boReg("./a", 1)), want: boOK()},
		{name: "dot inside", tar: tr(boDir("a/"), boReg("a/./b", 1)), want: boRefused(ErrUnsafePath)},
		{name: "double slash", tar: tr(boDir("a/"), boReg("a//b", 1)), want: boRefused(ErrUnsafePath)},
		{name: "empty name", tar: boRaw(boUstar("", tar.TypeReg, 0), nil), want: boRefused(ErrBadEntry)},
		{name: "empty dir name", tar: boRaw(boUstar("", tar.TypeDir, 0), nil), want: boOK()},
		{name: "dot file", tar: boRaw(boUstar(".", tar.TypeReg, 0), nil), want: boRefused(ErrBadEntry)},
		{name: "dot dir", tar: tr(boDir("./")), want: boOK()},
		{name: "slash dir", tar: tr(boDir("/")), want: boRefused(ErrUnsafePath)},
		{name: "root as file", tar: boRaw(boUstar("./", tar.TypeReg, 0), nil), want: boRefused(ErrBadEntry)},
		{name: "root as symlink", tar: boRaw(boUstar("./", tar.TypeSymlink, 0).raw(boLinkname, ".."), nil), want: boRefused(ErrBadEntry)},
		{name: "trailing slash on file", tar: boRaw(boUstar("f/", tar.TypeReg, 0), nil), want: boRefused(ErrUnsafePath)},
		{name: "dir without slash", tar: boRaw(boUstar("d", tar.TypeDir, 0), nil), want: boOK()},
		// Old-style regular file ('\x00'): archive/tar reads it as TypeReg.
		{name: "typeflag NUL dotdot", tar: boRaw(boUstar("../victim", 0, 0), nil), want: boRefused(ErrUnsafePath)},
		{name: "NUL in PAX path", tar: new(boTar).pax('x', "path", "a\x00/../../victim").hdr(boUstar("a", tar.TypeReg, 0)).end(), want: boRefused(tar.ErrHeader)},
		// A NUL ends a ustar name: this is the file "a", nothing else.
		{name: "NUL in ustar name", tar: boRaw(boUstar("a\x00/../../victim", tar.TypeReg, 0), nil), want: boOK(), check: boNamesAre("a")},
		{name: "PAX path overrides ustar", tar: new(boTar).pax('x', "path", "../victim").hdr(boUstar("harmless", tar.TypeReg, 0)).end(), want: boRefused(ErrUnsafePath)},
		{name: "GNU long name", tar: new(boTar).hdr(boUstar("././@LongLink", 'L', 10).gnu()).data([]byte("../victim\x00")).hdr(boUstar("harmless", tar.TypeReg, 0).gnu()).end(), want: boRefused(ErrUnsafePath)},
		{name: "GNU long name without entry", tar: new(boTar).hdr(boUstar("././@LongLink", 'L', 10).gnu()).data([]byte("../victim\x00")).end(), want: boMay()},
		{name: "component of 256 bytes", tar: tr(boReg(long, 1)), want: boRefused(ErrUnsafePath)},
		{name: "component of 255 bytes", tar: tr(boReg(long[1:], 1)), want: boOK(), check: boNamesAre(long[1:])},
		{name: "path of 4097 bytes", tar: tr(append(dirs4097, boReg(path4097, 1))...), want: boRefused(ErrUnsafePath)},
		{name: "path of 4096 bytes", tar: tr(append(dirs4096, boReg(path4096, 1))...), want: boOK()},
		{name: "file twice", tar: tr(boReg("f", 1), boReg("f", 2)), want: boOK()},
		{name: "dir then file", tar: tr(boDir("d/"), boReg("d", 1)), want: boRefused(ErrOrder)},
		{name: "file then dir", tar: tr(boReg("d", 1), boDir("d/")), want: boOK()},
		{name: "dir twice", tar: tr(boDir("d/"), boReg("d/x", 1), boDir("d/")), want: boOK()},
		{name: "symlink then file", tar: tr(boSym("f", "../victim"), boReg("f", 1)), want: boOK()},
		{name: "case differs", tar: tr(boReg("A", 1), boReg("a", 2)), want: boOK(), check: boDistinct("A", "a")},
		{name: "NFD and NFC", tar: tr(boReg(nfd, 1), boReg(nfc, 2)), want: boOK(), check: boDistinct(nfd, nfc)},
		// Distinct names, but a layer lists them in byte order.
		{name: "NFC before NFD", tar: tr(boReg(nfc, 1), boReg(nfd, 2)), want: boOK()},
		{name: "backslashes", tar: tr(boReg(`..\..\victim`, 1)), want: boOK(), check: boNamesAre(`..\..\victim`)},
		{name: "three dots", tar: tr(boReg("...", 1)), want: boOK(), check: boNamesAre("...")},
		{name: "newline", tar: tr(boReg("line\nbreak", 1)), want: boOK(), check: boNamesAre("line\nbreak")},
		{name: "the victim's own name", tar: tr(boReg("victim", 3)), want: boOK(), check: boNamesAre("victim")},
		{name: "below symlink to parent", tar: tr(boSym("l", ".."), boReg("l/victim", 1)), want: boRefused(ErrOrder)},
		{name: "below symlink to root", tar: tr(boSym("l", "/"), boReg("l/tmp/x", 1)), want: boRefused(ErrOrder)},
		{name: "dir below symlink", tar: tr(boSym("l", "../victimdir"), boDir("l/")), want: boOK()},
		{name: "below symlink to victimdir", tar: tr(boSym("l", "../victimdir"), boReg("l/file", 1)), want: boRefused(ErrOrder)},
		{name: "symlink replaces dir", tar: tr(boDir("d/"), boSym("d", "..")), want: boRefused(ErrOrder)},
		{name: "symlink replaces dir after its files", tar: tr(boDir("d/"), boReg("d/x", 1), boSym("d", "..")), want: boRefused(ErrOrder)},
		{name: "dir replaces symlink", tar: tr(boSym("d", ".."), boDir("d/"), boReg("d/victim", 1)), want: boOK()},
		{name: "parent missing", tar: tr(boReg("missing/x", 1)), want: boOK()},
		{name: "child before parent", tar: tr(boReg("d/x", 1), boDir("d/")), want: boOK()},
		{name: "parent closed", tar: tr(boDir("d/"), boReg("e", 1), boReg("d/x", 1)), want: boOK()},
	}

	symChain := []*tar.Header{boSym("a", "b"), boSym("b", "../victim")}
	links := []boCase{
		{name: "to dotdot victim", tar: tr(boLink("h", "../victim")), want: boRefused(ErrUnsafePath)},
		{name: "to absolute", tar: tr(boLink("h", "/etc/passwd")), want: boRefused(ErrUnsafePath)},
		{name: "to proc", tar: tr(boLink("h", "/proc/self/root/etc/passwd")), want: boRefused(ErrUnsafePath)},
		{name: "to dot", tar: tr(boLink("h", ".")), want: boRefused(ErrUnsafePath)},
		{name: "to empty", tar: boRaw(boUstar("h", tar.TypeLink, 0), nil), want: boRefused(ErrUnsafePath)},
		{name: "to missing entry", tar: tr(boLink("z", "victim")), want: boFails()},
		{name: "to later entry", tar: tr(boLink("a", "b"), boReg("b", 1)), want: boRefused(ErrOrder)},
		{name: "to itself", tar: tr(boLink("a", "a")), want: boRefused(ErrOrder)},
		{name: "to directory", tar: tr(boDir("d/"), boLink("e", "d")), want: boRefused(ErrOrder)},
		{name: "to enclosing directory", tar: tr(boDir("d/"), boLink("d/x", "d")), want: boRefused(ErrOrder)},
		{name: "to directory with slash", tar: tr(boDir("d/"), boLink("e", "d/")), want: boRefused(ErrUnsafePath)},
		{name: "to symlink out", tar: tr(boSym("l", "../victim"), boLink("m", "l")), want: boOK(), check: boSameSymlink("m", "l", "../victim")},
		{name: "to absolute symlink", tar: tr(boSym("l", "/etc/passwd"), boLink("m", "l")), want: boOK(), check: boSameSymlink("m", "l", "/etc/passwd")},
		{name: "to dangling symlink", tar: tr(boSym("l", "nowhere"), boLink("m", "l")), want: boOK(), check: boSameSymlink("m", "l", "nowhere")},
		{name: "through symlink to parent", tar: tr(boSym("a", ".."), boLink("b", "a/victim")), want: boFails()},
		{name: "through symlink to victimdir", tar: tr(boSym("a", "../victimdir"), boLink("b", "a/file")), want: boFails()},
		{name: "through symlink to root", tar: tr(boSym("a", "/"), boLink("b", "a/etc/passwd")), want: boFails()},
		{name: "through symlink in a dir", tar: tr(boDir("d/"), boSym("d/up", "../.."), boLink("e", "d/up/victim")), want: boFails()},
		{name: "to whiteout target", tar: tr(boReg(".wh.x", 0), boLink("y", "x")), want: boRefused(ErrOrder)},
		{name: "to whiteout name", tar: tr(boReg(".wh.x", 0), boLink("y", ".wh.x")), want: boRefused(ErrBadEntry)},
		{name: "to opaque marker", tar: tr(boDir("d/"), boReg("d/.wh..wh..opq", 0), boLink("e", "d/.wh..wh..opq")), want: boRefused(ErrBadEntry)},
		{name: "symlink chain then file", tar: tr(append(symChain, boReg("a", 1))...), want: boOK()},
		{name: "symlink chain then below", tar: tr(append(symChain, boReg("b/x", 1))...), want: boRefused(ErrOrder)},
		{name: "to symlink chain", tar: tr(append(symChain, boLink("c", "a"))...), want: boOK(), check: boSameSymlink("c", "a", "b")},
		{name: "to symlink chain end", tar: tr(append(symChain, boLink("c", "b"))...), want: boOK(), check: boSameSymlink("c", "b", "../victim")},
		{name: "link then file same name", tar: tr(boReg("a", 1), boLink("b", "a"), boReg("b", 1)), want: boOK()},
		{name: "to fifo", tar: tr(&tar.Header{Name: "f", Typeflag: tar.TypeFifo, Mode: 0o600}, boLink("g", "f")), want: boOK()},
		{name: "to device", tar: tr(boNode("c", tar.TypeChar, 1, 3), boLink("d", "c")), want: boOK()},
		{name: "PAX linkpath overrides", tar: new(boTar).hdr(boUstar("a", tar.TypeReg, 0)).pax('x', "linkpath", "../victim").hdr(boUstar("b", tar.TypeLink, 0).raw(boLinkname, "a")).end(), want: boRefused(ErrUnsafePath)},
		{name: "GNU long link", tar: new(boTar).hdr(boUstar("././@LongLink", 'K', 12).gnu()).data([]byte("/etc/passwd\x00")).hdr(boUstar("h", tar.TypeLink, 0).gnu().raw(boLinkname, "x")).end(), want: boRefused(ErrUnsafePath)},
		{name: "NUL in PAX linkpath", tar: new(boTar).pax('x', "linkpath", "a\x00../victim").hdr(boUstar("l", tar.TypeSymlink, 0)).end(), want: boRefused(tar.ErrHeader)},
		{name: "absolute symlink", tar: tr(boPAXRec(boWith(boSym("abs", "/etc/shadow"), func(h *tar.Header) {
			h.Uid, h.Gid, h.ModTime = 1234, 1234, time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
		}), "SCHILY.xattr.trusted.test", "x")), want: boOK(), check: boSymlinkTo("abs", "/etc/shadow", 1234)},
		{name: "symlink to victim with metadata", tar: tr(boWith(boSym("l", "../victim"), func(h *tar.Header) {
			h.Uid, h.Gid, h.Mode, h.ModTime = 4321, 4321, 0o7777, time.Unix(1, 0)
		})), want: boOK(), check: boSymlinkTo("l", "../victim", 4321)},
		{name: "symlink to victimdir with trusted xattr", tar: tr(boPAXRec(boSym("l", "../victimdir"), "SCHILY.xattr.trusted.test", "x")), want: boOK(), check: boSymlinkTo("l", "../victimdir", 0)},
		// Linux refuses user.* xattrs on symlinks; set through the link,
		// it would land on the victim.
		{name: "symlink to victim with user xattr", tar: tr(boPAXRec(boSym("l", "../victim"), "SCHILY.xattr.user.victim", "changed")), want: boMay()},
		{name: "symlink to victim removing nothing", tar: tr(boPAXRec(boSym("l", "/proc/self/cwd/../victim"), "SCHILY.xattr.trusted.x", "")), want: boMay()},
		{name: "empty symlink target", tar: boRaw(boUstar("l", tar.TypeSymlink, 0), nil), want: boRefused(ErrBadEntry)},
		{name: "symlink target of 4097 bytes", tar: tr(boSym("l", strings.Repeat("../", 1365)+"ab")), want: boRefused(ErrBadEntry)},
	}

	sparseOld := boUstar("s", tar.TypeGNUSparse, 0).gnu().b256(boGNURealsize, 12, 1<<40)
	longTarget := append(bytes.Repeat([]byte("a/"), 2500), 'b', 0)
	types := []boCase{
		{name: "GNU sparse S", tar: boRaw(sparseOld, nil), want: boRefused(ErrBadEntry), bounded: true},
		{name: "PAX sparse 1.0", tar: new(boTar).pax('x', "GNU.sparse.major", "1", "GNU.sparse.minor", "0", "GNU.sparse.name", "s", "GNU.sparse.realsize", fmt.Sprint(int64(1)<<40)).hdr(boUstar("GNUSparseFile.0/s", tar.TypeReg, 512)).data([]byte("0\n")).end(), want: boRefused(ErrBadEntry), bounded: true},
		{name: "PAX sparse 0.1", tar: new(boTar).pax('x', "GNU.sparse.major", "0", "GNU.sparse.minor", "1", "GNU.sparse.name", "s", "GNU.sparse.size", fmt.Sprint(int64(1)<<40), "GNU.sparse.numblocks", "1", "GNU.sparse.map", "0,1").hdr(boUstar("s", tar.TypeReg, 1)).data([]byte("x")).end(), want: boRefused(ErrBadEntry), bounded: true},
		{name: "PAX sparse named dotdot", tar: new(boTar).pax('x', "GNU.sparse.major", "1", "GNU.sparse.minor", "0", "GNU.sparse.name", "../victim", "GNU.sparse.realsize", "6").hdr(boUstar("GNUSparseFile.0/s", tar.TypeReg, 512)).data([]byte("0\n")).end(), want: boRefused(ErrUnsafePath, ErrBadEntry), bounded: true},
		{name: "typeflag X", tar: boRaw(boUstar("x", 'X', 0), nil), want: boRefused(ErrBadEntry)},
		{name: "typeflag 7", tar: boRaw(boUstar("x", tar.TypeCont, 1), []byte("x")), want: boOK()},
		{name: "typeflag V", tar: boRaw(boUstar("x", 'V', 0).gnu(), nil), want: boRefused(ErrBadEntry)},
		{name: "typeflag M", tar: boRaw(boUstar("x", 'M', 0).gnu(), nil), want: boRefused(ErrBadEntry)},
		{name: "typeflag N", tar: boRaw(boUstar("x", 'N', 0).gnu(), nil), want: boRefused(ErrBadEntry)},
		{name: "typeflag 0xff", tar: boRaw(boUstar("x", 0xff, 0), nil), want: boRefused(ErrBadEntry)},
		{name: "global header", tar: new(boTar).pax('g', "uid", "0", "SCHILY.xattr.trusted.overlay.opaque", "y").hdr(boUstar("a", tar.TypeReg, 0)).end(), want: boOK()},
		// archive/tar returns a global header as an entry named by its
		// records.
		{name: "global header with path", tar: new(boTar).pax('g', "path", "../victim").hdr(boUstar("a", tar.TypeReg, 0)).end(), want: boOK()},
		{name: "long symlink target via K", tar: new(boTar).hdr(boUstar("././@LongLink", 'K', int64(len(longTarget))).gnu()).data(longTarget).hdr(boUstar("l", tar.TypeSymlink, 0).gnu().raw(boLinkname, "x")).end(), want: boRefused(ErrBadEntry)},
		{name: "char 0:0", tar: tr(boNode("c", tar.TypeChar, 0, 0)), want: boRefused(ErrBadEntry)},
		{name: "char major 4096", tar: boRaw(boUstar("c", tar.TypeChar, 0).octal(boDevmajor, boDevLen, 4096), nil), want: boRefused(ErrBadEntry)},
		{name: "char minor 2^20", tar: boRaw(boUstar("c", tar.TypeChar, 0).octal(boDevminor, boDevLen, 1<<20), nil), want: boRefused(ErrBadEntry)},
		{name: "block major 2^40", tar: boRaw(boUstar("b", tar.TypeBlock, 0).gnu().b256(boDevmajor, boDevLen, 1<<40), nil), want: boRefused(ErrBadEntry)},
		{name: "block minor 2^32", tar: boRaw(boUstar("b", tar.TypeBlock, 0).gnu().b256(boDevminor, boDevLen, 1<<32), nil), want: boRefused(ErrBadEntry)},
		{name: "char major -1", tar: boRaw(boUstar("c", tar.TypeChar, 0).gnu().b256(boDevmajor, boDevLen, -1), nil), want: boRefused(ErrBadEntry)},
		{name: "device at the limits", tar: tr(boNode("c", tar.TypeChar, 4095, 1<<20-1)), want: boOK()},
		{name: "whiteout .wh.", tar: tr(boReg(".wh.", 0)), want: boRefused(ErrUnsafePath)},
		{name: "whiteout .wh..", tar: tr(boReg(".wh..", 0)), want: boRefused(ErrUnsafePath)},
		{name: "whiteout .wh...", tar: tr(boReg(".wh...", 0)), want: boRefused(ErrUnsafePath)},
		{name: "whiteout .wh..wh.plnk", tar: tr(boReg(".wh..wh.plnk", 0)), want: boRefused(ErrUnsafePath)},
		{name: "whiteout .wh..wh.aufs in dir", tar: tr(boDir("d/"), boReg("d/.wh..wh.aufs", 0)), want: boRefused(ErrUnsafePath)},
		{name: "opaque marker at root", tar: tr(boReg(".wh..wh..opq", 0)), want: boRefused(ErrUnsafePath)},
		{name: "opaque marker with contents", tar: tr(boDir("d/"), boReg("d/.wh..wh..opq", 5)), want: boRefused(ErrBadEntry)},
		{name: "whiteout with contents", tar: tr(boReg(".wh.x", 5)), want: boRefused(ErrBadEntry)},
		{name: "whiteout then name", tar: tr(boReg(".wh.a", 0), boReg("a", 1)), want: boOK()},
		{name: "name then whiteout", tar: tr(boReg("a", 1), boReg(".wh.a", 0)), want: boOK()},
		{name: "whiteout then dir", tar: tr(boReg(".wh.d", 0), boDir("d/")), want: boOK()},
		{name: "whiteout as dir", tar: tr(boDir(".wh.d/")), want: boRefused(ErrUnsafePath)},
		{name: "whiteout below whiteout", tar: tr(boReg(".wh.d", 0), boReg(".wh.d/x", 0)), want: boRefused(ErrUnsafePath)},
		{name: "whiteout in missing dir", tar: tr(boReg("d/.wh.x", 0)), want: boOK()},
		// Only a regular file is a whiteout here, but other readers of
		// OCI layers (containerd, Docker) take any entry named .wh.* for
		// one, and Write never produces such a name: the Validator must
		// refuse them, or a verified layer means two things.
		{name: "whiteout name as symlink", tar: tr(boSym(".wh.x", "../victim")), want: boRefused(ErrBadEntry, ErrUnsafePath)},
		{name: "whiteout name as hard link", tar: tr(boReg("a", 1), boLink(".wh.b", "a")), want: boRefused(ErrBadEntry)},
		{name: "whiteout name as device", tar: tr(boNode(".wh.c", tar.TypeChar, 1, 3)), want: boRefused(ErrBadEntry, ErrUnsafePath)},
		{name: "opaque name as fifo", tar: tr(boDir("d/"), &tar.Header{Name: "d/.wh..wh..opq", Typeflag: tar.TypeFifo, Mode: 0o600}), want: boRefused(ErrBadEntry, ErrUnsafePath)},
		{name: "xattr trusted.overlay.opaque", tar: tr(boPAXRec(boDir("d/"), "SCHILY.xattr.trusted.overlay.opaque", "y")), want: boRefused(ErrBadEntry)},
		{name: "xattr trusted.overlay.redirect", tar: tr(boPAXRec(boDir("d/"), "SCHILY.xattr.trusted.overlay.redirect", "/victimdir")), want: boRefused(ErrBadEntry)},
		{name: "xattr trusted.overlay.metacopy", tar: tr(boPAXRec(boReg("f", 0), "SCHILY.xattr.trusted.overlay.metacopy", "")), want: boRefused(ErrBadEntry)},
		{name: "xattr user.overlay.foo", tar: tr(boPAXRec(boReg("f", 1), "SCHILY.xattr.user.overlay.foo", "y")), want: boRefused(ErrBadEntry)},
		{name: "xattr overlay on opaque marker", tar: tr(boDir("d/"), boPAXRec(boReg("d/.wh..wh..opq", 0), "SCHILY.xattr.trusted.overlay.opaque", "y")), want: boRefused(ErrBadEntry)},
		{name: "xattr overlay on whiteout", tar: tr(boPAXRec(boReg(".wh.x", 0), "SCHILY.xattr.trusted.overlay.origin", "x")), want: boRefused(ErrBadEntry)},
		{name: "xattr overlay on symlink", tar: tr(boPAXRec(boSym("l", "../victimdir"), "SCHILY.xattr.trusted.overlay.opaque", "y")), want: boRefused(ErrBadEntry)},
		{name: "xattr with empty name", tar: tr(boPAXRec(boReg("f", 1), "SCHILY.xattr.", "y")), want: boMay()},
		{name: "xattr of 70 KiB", tar: tr(boPAXRec(boReg("f", 1), "SCHILY.xattr.user.big", strings.Repeat("v", 70<<10))), want: boMay()},
		{name: "uid 2^32-1", tar: tr(boWith(boReg("f", 1), func(h *tar.Header) { h.Uid = 1<<32 - 1 })), want: boRefused(ErrBadEntry)},
		{name: "gid 2^32-1", tar: tr(boWith(boReg("f", 1), func(h *tar.Header) { h.Gid = 1<<32 - 1 })), want: boRefused(ErrBadEntry)},
		{name: "uid 2^40", tar: tr(boWith(boReg("f", 1), func(h *tar.Header) { h.Uid = 1 << 40 })), want: boRefused(ErrBadEntry)},
		{name: "uid 2^32-2", tar: tr(boWith(boReg("f", 1), func(h *tar.Header) { h.Uid = 1<<32 - 2 })), want: boMay()},
		{name: "uid -1 PAX", tar: new(boTar).pax('x', "uid", "-1").hdr(boUstar("f", tar.TypeReg, 0)).end(), want: boRefused(ErrBadEntry)},
		{name: "gid -2 base-256", tar: boRaw(boUstar("f", tar.TypeReg, 0).gnu().b256(boGID, boGIDLen, -2), nil), want: boRefused(ErrBadEntry)},
		{name: "uid 2^32 on dir", tar: tr(boWith(boDir("d/"), func(h *tar.Header) { h.Uid = 1 << 32 })), want: boRefused(ErrBadEntry)},
		{name: "size -1 base-256", tar: boRaw(boUstar("f", tar.TypeReg, 0).gnu().b256(boSize, boSizeLen, -1), nil), want: boFails(), bounded: true},
		{name: "size -5 PAX", tar: new(boTar).pax('x', "size", "-5").hdr(boUstar("f", tar.TypeReg, 0)).end(), want: boFails(), bounded: true},
		{name: "size 2^62", tar: boRaw(boUstar("f", tar.TypeReg, 0).gnu().b256(boSize, boSizeLen, 1<<62), []byte("abc")), want: boFails(), bounded: true},
		{name: "size 2^62 PAX", tar: new(boTar).pax('x', "size", fmt.Sprint(int64(1)<<62)).hdr(boUstar("f", tar.TypeReg, 0)).data([]byte("abc")).end(), want: boFails(), bounded: true},
		{name: "size on dir", tar: new(boTar).pax('x', "size", "100").hdr(boUstar("d/", tar.TypeDir, 0)).end(), want: boRefused(ErrBadEntry)},
		{name: "size on symlink", tar: boRaw(boUstar("l", tar.TypeSymlink, 3).raw(boLinkname, "../victim"), []byte("abc")), want: boRefused(ErrBadEntry)},
		{name: "size on hard link", tar: new(boTar).hdr(boUstar("a", tar.TypeReg, 0)).hdr(boUstar("b", tar.TypeLink, 3).raw(boLinkname, "a")).data([]byte("abc")).end(), want: boRefused(ErrBadEntry)},
		{name: "mtime year 1e9", tar: tr(boWith(boReg("f", 1), func(h *tar.Header) { h.ModTime = time.Date(1e9, 1, 1, 0, 0, 0, 0, time.UTC) })), want: boMay()},
		{name: "mtime 1901", tar: tr(boWith(boReg("f", 1), func(h *tar.Header) { h.ModTime = time.Date(1901, 1, 1, 0, 0, 0, 0, time.UTC) })), want: boMay()},
		{name: "mtime before 1970 on dir", tar: tr(boWith(boDir("d/"), func(h *tar.Header) { h.ModTime = time.Unix(-1e9, 0) }), boReg("d/f", 1)), want: boMay()},
		{name: "mtime min int64", tar: new(boTar).pax('x', "mtime", "-9223372036854775808").hdr(boUstar("f", tar.TypeReg, 0)).end(), want: boMay()},
		{name: "mtime max int64 on symlink", tar: new(boTar).pax('x', "mtime", "9223372036854775807.999999999").hdr(boUstar("l", tar.TypeSymlink, 0).raw(boLinkname, "../victim")).end(), want: boMay()},
		{name: "mtime overflow", tar: new(boTar).pax('x', "mtime", "99999999999999999999").hdr(boUstar("f", tar.TypeReg, 0)).end(), want: boRefused(tar.ErrHeader)},
		{name: "mtime garbage", tar: new(boTar).pax('x', "mtime", "1e9").hdr(boUstar("f", tar.TypeReg, 0)).end(), want: boRefused(tar.ErrHeader)},
		{name: "mtime -1 base-256", tar: boRaw(boUstar("f", tar.TypeReg, 0).gnu().b256(boMtime, boMtimeLen, -1), nil), want: boMay()},
		{name: "mode with file type bits", tar: tr(boWith(boReg("f", 1), func(h *tar.Header) { h.Mode = 0o100644 })), want: boOK()},
		{name: "mode 1<<31", tar: boRaw(boUstar("f", tar.TypeReg, 0).gnu().b256(boMode, boModeLen, 1<<31), nil), want: boRefused(ErrBadEntry)},
		{name: "mode -1", tar: boRaw(boUstar("f", tar.TypeReg, 0).gnu().b256(boMode, boModeLen, -1), nil), want: boRefused(ErrBadEntry)},
		{name: "mode 07777", tar: tr(boWith(boReg("f", 1), func(h *tar.Header) { h.Mode = 0o7777 })), want: boOK()},
	}

	entries3 := tr(boReg("a", 1), boReg("b", 1), boReg("c", 1))
	bigPAX := func(n int) []byte {
		// A PAX header of exactly n bytes: one comment record.
		rec := boRecord("comment", "")
		return new(boTar).pax('x', "comment", strings.Repeat("c", n-len(rec)-2)).hdr(boUstar("f", tar.TypeReg, 0)).end()
	}
	manyXattrs := boReg("f", 1)
	for i := range 5000 {
		boPAXRec(manyXattrs, fmt.Sprintf("SCHILY.xattr.user.x%04d", i), "v")
	}
	var chained boTar
	for range 64 {
		chained.pax('x', "comment", strings.Repeat("c", 60<<10))
	}
	bounds := []boCase{
		{name: "more entries than MaxEntries", tar: entries3, opts: Options{MaxEntries: 2}, want: boRefused(ErrLimit)},
		{name: "MaxEntries negative", tar: entries3, opts: Options{MaxEntries: -1}, want: boRefused(ErrLimit)},
		{name: "MaxEntries exactly", tar: entries3, opts: Options{MaxEntries: 3}, want: boOK()},
		{name: "PAX header just under 1 MiB", tar: bigPAX(1<<20 - 512), want: boOK()},
		{name: "PAX header over 1 MiB", tar: bigPAX(1<<20 + 512), want: boRefused(tar.ErrFieldTooLong), bounded: true},
		{name: "PAX header declared 1 TiB", tar: new(boTar).hdr(boUstar("PaxHeaders.0/f", 'x', 0).gnu().b256(boSize, boSizeLen, 1<<40)).data([]byte("10 a=bcde\n")).end(), want: boFails(), bounded: true},
		{name: "GNU long name over 1 MiB", tar: new(boTar).hdr(boUstar("././@LongLink", 'L', 1<<20+1).gnu()).data(bytes.Repeat([]byte("n"), 1<<20+1)).hdr(boUstar("f", tar.TypeReg, 0).gnu()).end(), want: boRefused(tar.ErrFieldTooLong), bounded: true},
		{name: "64 chained PAX headers", tar: chained.hdr(boUstar("f", tar.TypeReg, 0)).end(), want: boMay(), bounded: true},
		{name: "5000 xattrs", tar: tr(manyXattrs), want: boMay(), bounded: true},
		{name: "2000 nested dirs", tar: tr(deep...), want: boMay()},
	}

	control := []boCase{
		{name: "every legal kind", tar: tr(
			boDir("etc/"),
			boPAXRec(boWith(boReg("etc/conf", 4), func(h *tar.Header) { h.Uid, h.Gid = 1000, 1001 }), "SCHILY.xattr.user.note", "hi"),
			boLink("etc/link", "etc/conf"),
			&tar.Header{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o600},
			boReg(".wh.gone", 0),
			boNode("null", tar.TypeChar, 1, 3),
			boDir("opq/"),
			boReg("opq/.wh..wh..opq", 0),
			boSym("sym", "/etc/shadow"),
			boSym("up", "../victim"),
		), want: boOK(), check: func(t *testing.T, staging string) {
			p := func(n string) string { return filepath.Join(staging, n) }
			if got := boNames(t, staging); !slices.Equal(got, []string{"etc", "fifo", "gone", "null", "opq", "sym", "up"}) {
				t.Errorf("staging holds %q", got)
			}
			conf, link := boLstat(t, p("etc/conf")), boLstat(t, p("etc/link"))
			if conf.Ino != link.Ino || conf.Nlink != 2 || conf.Uid != 1000 || conf.Gid != 1001 {
				t.Errorf("etc/conf: ino %d nlink %d owner %d:%d; etc/link ino %d", conf.Ino, conf.Nlink, conf.Uid, conf.Gid, link.Ino)
			}
			v := make([]byte, 16)
			if n, err := unix.Lgetxattr(p("etc/conf"), "user.note", v); err != nil || string(v[:n]) != "hi" {
				t.Errorf("etc/conf user.note: %q, %v", v[:max(n, 0)], err)
			}
			if st := boLstat(t, p("fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
				t.Errorf("fifo: mode %o", st.Mode)
			}
			if st := boLstat(t, p("gone")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				t.Errorf("whiteout: mode %o rdev %d", st.Mode, st.Rdev)
			}
			if st := boLstat(t, p("null")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
				t.Errorf("null: mode %o rdev %d", st.Mode, st.Rdev)
			}
			if n, err := unix.Lgetxattr(p("opq"), "trusted.overlay.opaque", v); err != nil || string(v[:n]) != "y" {
				t.Errorf("opq is not opaque: %q, %v", v[:max(n, 0)], err)
			}
			boSymlinkTo("sym", "/etc/shadow", 0)(t, staging)
			boSymlinkTo("up", "../victim", 0)(t, staging)
		}},
	}

	return []boClass{
		{"names", names}, {"links", links}, {"types", types}, {"bounds", bounds}, {"control", control},
	}
}

// The tars above are what they claim: the raw builder makes headers that
// archive/tar reads back as written.
func TestBreakoutsRawTar(t *testing.T) {
	h := boUstar("name", tar.TypeSymlink, 0).raw(boLinkname, "target").octal(boUID, boUIDLen, 7).gnu().b256(boGID, boGIDLen, 1<<33)
	r := tar.NewReader(bytes.NewReader(new(boTar).pax('x', "path", "long/name", "SCHILY.xattr.user.a", "b").hdr(h).end()))
	hdr, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Name != "long/name" || hdr.Linkname != "target" || hdr.Uid != 7 || hdr.Gid != 1<<33 || hdr.PAXRecords["SCHILY.xattr.user.a"] != "b" || hdr.Typeflag != tar.TypeSymlink {
		t.Errorf("read back %+v", hdr)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the entry: %v", err)
	}
}
