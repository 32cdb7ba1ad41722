package overlay

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// bigXattr is a user xattr value larger than ext4 (or tmpfs) keeps for
// one inode: the validator takes it, the file system refuses it when a
// finisher sets it.
var bigXattr = strings.Repeat("v", 8<<10)

// A small file's failure in a finisher fails Apply, naming its entry, and
// is the error Apply returns even when a later entry fails in order too:
// the earliest failing entry is reported, as if each were written before
// the next is read.
func TestFinisherErrorsInOrder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bad := at(&tar.Header{Typeflag: tar.TypeReg, Name: "big", Size: 10, Mode: 0o644,
		PAXRecords: map[string]string{xattrRecord + "user.big": bigXattr}})
	probe := t.TempDir()
	if err := os.WriteFile(probe+"/f", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(probe+"/f", "user.big", []byte(bigXattr), 0); err == nil {
		t.Skip("this file system keeps an 8 KiB xattr")
	}
	for _, tc := range []struct {
		name  string
		hdrs  []*tar.Header
		check func(error) bool
	}{
		{"alone", []*tar.Header{bad}, nil},
		{"before many", append([]*tar.Header{bad}, manyFiles(100)...), nil},
		{"before a refused entry", append([]*tar.Header{bad}, manyFiles(20)...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdrs := tc.hdrs
			if tc.name == "before a refused entry" {
				hdrs = append(hdrs, at(&tar.Header{Typeflag: tar.TypeReg, Name: "../out", Mode: 0o644}))
			}
			_, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(tarOf(t, hdrs...)), Options{})
			if err == nil {
				t.Fatal("Apply took a file whose xattr the file system refuses")
			}
			if !strings.HasPrefix(err.Error(), `layer entry "big": set xattr user.big: `) {
				t.Fatalf("Apply: %v; want the error of entry \"big\"", err)
			}
			if !errors.Is(err, unix.ENOSPC) && !errors.Is(err, unix.E2BIG) {
				t.Fatalf("Apply: %v; want ENOSPC or E2BIG", err)
			}
		})
	}
}

func manyFiles(n int) []*tar.Header {
	var hdrs []*tar.Header
	for i := range n {
		hdrs = append(hdrs, at(&tar.Header{Typeflag: tar.TypeReg, Name: "f" + string(rune('a'+i%26)) + strings.Repeat("z", i/26), Size: int64(i), Mode: 0o640, Uid: i, Gid: 2 * i}))
	}
	return hdrs
}

// Files finished in parallel land exactly as the tar says, also when a
// later entry replaces one or links to one that may still be on its way.
func TestFinisherOrderHazards(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	hdrs := manyFiles(200)
	hdrs = append(hdrs,
		at(&tar.Header{Typeflag: tar.TypeLink, Name: "link", Linkname: "fa"}),
		at(&tar.Header{Typeflag: tar.TypeReg, Name: "fb", Size: 3, Mode: 0o600, Uid: 7}),        // replaces fb
		at(&tar.Header{Typeflag: tar.TypeDir, Name: "fc", Mode: 0o700}),                         // a directory replaces fc
		at(&tar.Header{Typeflag: tar.TypeReg, Name: "fc/in", Size: finishMax + 1, Mode: 0o644}), // written in order
	)
	got := canonicalOf(t, tarOf(t, hdrs...), Options{})
	want := map[string]string{
		"fa":    "fa 0 640 0:0",
		"fb":    "fb 0 600 7:0",
		"fc/":   "fc/ 5 700 0:0",
		"fc/in": "fc/in 0 644 0:0",
		"link":  "link 1 640 0:0 -> fa",
	}
	seen := 0
	for _, line := range got {
		name := strings.Fields(line)[0]
		if w, ok := want[name]; ok {
			seen++
			if line != w {
				t.Errorf("%s: got %q, want %q", name, line, w)
			}
		}
	}
	if seen != len(want) || len(got) != 200+2 {
		t.Fatalf("staged tree has %d entries (%d of those checked): %q", len(got), seen, got)
	}
}

// Directories are finished by the finishers once left; a layer out of
// order that enters one again must find it finished (its default ACL
// set, which what it makes then inherits and Apply removes), and each
// directory ends with the tar's mode and mtime.
func TestFinisherDirEnteredAgain(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	def := acl([3]uint32{aclUserObj, 7, aclNoID}, [3]uint32{aclGroupObj, 5, aclNoID}, [3]uint32{aclOther, 5, aclNoID})
	var hdrs []*tar.Header
	const n = 40
	for i := range n {
		// Left for a file at the root, entered again at once.
		d := fmt.Sprintf("d%02d/", i)
		hdrs = append(hdrs,
			at(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o750, PAXRecords: map[string]string{xattrRecord + aclDefault: def}}),
			at(&tar.Header{Typeflag: tar.TypeReg, Name: d + "a", Size: 5, Mode: 0o640}),
			at(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("x%02d", i), Size: 1, Mode: 0o644}),
			at(&tar.Header{Typeflag: tar.TypeReg, Name: d + "b", Size: 7, Mode: 0o600}))
	}
	dir := t.TempDir()
	if _, err := Apply(context.Background(), dir, bytes.NewReader(tarOf(t, hdrs...)), Options{}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for i := range n {
		var st unix.Stat_t
		p := fmt.Sprintf("%s/d%02d", dir, i)
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o7777 != 0o750 || st.Mtim.Sec != stamp.Unix() || st.Mtim.Nsec != int64(stamp.Nanosecond()) {
			t.Fatalf("%s: mode %#o mtime %d.%09d, want 0750 and the tar's", p, st.Mode&0o7777, st.Mtim.Sec, st.Mtim.Nsec)
		}
	}
}
