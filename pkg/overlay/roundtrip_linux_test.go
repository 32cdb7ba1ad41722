package overlay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestApplyRoundTrip writes a layer from a tree with every kind of entry,
// applies it into an empty dir, and writes that again: the two layer tars
// must be byte for byte the same, which is what import relies on.
func TestApplyRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for devices, owners and trusted.* xattrs")
	}
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "etc/sub"), 0o755))
	must(os.WriteFile(filepath.Join(src, "etc/passwd"), bytes.Repeat([]byte("x"), 3<<20), 0o644))
	must(os.WriteFile(filepath.Join(src, "etc/sub/suid"), []byte("s"), 0o4755))
	must(os.Chown(filepath.Join(src, "etc/sub/suid"), 65534, 65534))
	must(os.Link(filepath.Join(src, "etc/passwd"), filepath.Join(src, "etc/sub/link")))
	must(os.Symlink("/etc/shadow", filepath.Join(src, "abs")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	must(unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(src, "gone"), unix.S_IFCHR, 0))
	must(unix.Link(filepath.Join(src, "gone"), filepath.Join(src, "etc/gone2")))
	must(os.Mkdir(filepath.Join(src, "opq"), 0o1777))
	if err := unix.Setxattr(filepath.Join(src, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("no trusted xattrs here: %v", err)
	}
	must(unix.Setxattr(filepath.Join(src, "etc/passwd"), "user.note", []byte("hi\x00there"), 0))

	var first bytes.Buffer
	p1, err := Write(context.Background(), src, &first, Options{})
	must(err)
	dst := t.TempDir()
	st, err := Apply(context.Background(), dst, bytes.NewReader(first.Bytes()), Options{})
	must(err)
	if st.Entries != p1.Stats.Entries {
		t.Errorf("applied %d entries, wrote %d", st.Entries, p1.Stats.Entries)
	}
	var second bytes.Buffer
	if _, err := Write(context.Background(), dst, &second, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("layer of the applied tree differs: %d vs %d bytes", first.Len(), second.Len())
	}
}
