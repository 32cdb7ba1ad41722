package overlay

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// xattrTree makes a tree whose entries of every kind that can carry a
// user.* attribute have one: a directory, a file with contents (read
// through its descriptor), an empty file (not opened: by name), a hard
// link's second name; and the trusted.overlay.opaque of a directory, if
// the file system allows it. It skips the test where user.* is refused.
func xattrTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "d/e"), 0o755))
	must(os.WriteFile(filepath.Join(root, "d/full"), []byte("contents"), 0o644))
	must(os.WriteFile(filepath.Join(root, "d/empty"), nil, 0o644))
	must(os.Link(filepath.Join(root, "d/full"), filepath.Join(root, "d/link")))
	must(os.Symlink("full", filepath.Join(root, "d/sym")))
	if err := unix.Lsetxattr(filepath.Join(root, "d"), "user.a", []byte("dir"), 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
			t.Skipf("no user xattrs here: %v", err)
		}
		t.Fatal(err)
	}
	must(unix.Lsetxattr(filepath.Join(root, "d/full"), "user.b", []byte("file"), 0))
	must(unix.Lsetxattr(filepath.Join(root, "d/empty"), "user.c", []byte(strings.Repeat("v", 300)), 0))
	_ = unix.Lsetxattr(filepath.Join(root, "d/e"), trustedOverlay+attrOpaque, []byte("y"), 0)
	return root
}

func writeTar(t *testing.T, root string) ([]byte, Plan) {
	t.Helper()
	var buf bytes.Buffer
	plan, err := Write(context.Background(), root, &buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	measured, err := Measure(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !measured.Same(plan) {
		t.Fatalf("Measure and Write disagree: %+v, %+v", measured, plan)
	}
	return buf.Bytes(), plan
}

// The walk lists attributes through descriptors, with listxattrat by name
// (Linux 6.13) or, where that is missing, llistxattr by path: the same tar
// either way, every attribute in it.
func TestWalkWithoutListxattrat(t *testing.T) {
	root := xattrTree(t)
	before := noListxattrat.Load()
	defer noListxattrat.Store(before)
	withAt, _ := writeTar(t, root)
	noListxattrat.Store(true)
	without, _ := writeTar(t, root)
	if !bytes.Equal(withAt, without) {
		t.Fatal("the tar differs without listxattrat")
	}
	want := map[string]string{"d/": "dir", "d/full": "file", "d/empty": strings.Repeat("v", 300), "d/link": "file"}
	tr := tar.NewReader(bytes.NewReader(withAt))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr.PAXRecords {
			if strings.HasPrefix(k, xattrRecord+"user.") && want[hdr.Name] == v {
				delete(want, hdr.Name)
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("attributes missing from the tar: %v", want)
	}
}

// Past maxHeld levels the walk stops holding directory descriptors and
// looks entries up by path: a tree deeper than that comes out whole.
func TestWalkDeeperThanHeld(t *testing.T) {
	root := t.TempDir()
	depth := maxHeld + 20
	dir := root
	for i := range depth {
		dir = filepath.Join(dir, "d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, plan := writeTar(t, root)
	if plan.Stats.Files != int64(depth) || plan.Stats.Dirs != int64(depth) {
		t.Fatalf("stats %+v, want %d files and %d dirs", plan.Stats, depth, depth)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	files := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		// "d" sorts before "f": the deepest file comes first.
		level := depth - 1 - files
		if want := strings.Repeat("d/", level+1) + "f"; hdr.Name != want || len(b) != 1 || b[0] != byte(level) {
			t.Fatalf("file %d: %q %v, want %q", files, hdr.Name, b, want)
		}
		files++
	}
	if files != depth {
		t.Fatalf("%d files, want %d", files, depth)
	}
}
