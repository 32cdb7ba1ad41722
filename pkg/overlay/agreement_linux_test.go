package overlay

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// acl encodes a POSIX ACL xattr from (tag, perm, id) entries, as given.
func acl(entries ...[3]uint32) string {
	b := make([]byte, 4+8*len(entries))
	binary.LittleEndian.PutUint32(b, 2)
	for i, e := range entries {
		binary.LittleEndian.PutUint16(b[4+8*i:], uint16(e[0]))
		binary.LittleEndian.PutUint16(b[6+8*i:], uint16(e[1]))
		binary.LittleEndian.PutUint32(b[8+8*i:], e[2])
	}
	return string(b)
}

// agree validates every header, as layer-check does, and Applies the same
// bytes, as layer-import does: both must take the tar, or both refuse it.
func agree(t *testing.T, plain bool, hdrs ...*tar.Header) {
	t.Helper()
	data := tarOf(t, hdrs...)
	var v Validator
	v.Plain = plain
	tr := tar.NewReader(bytes.NewReader(data))
	var verr error
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			verr = err
			break
		}
		if _, err := v.Entry(h); err != nil {
			verr = err
			break
		}
	}
	dir := filepath.Join(t.TempDir(), "stage")
	os.Mkdir(dir, 0o755)
	_, aerr := Apply(context.Background(), dir, bytes.NewReader(data), Options{Plain: plain})
	t.Logf("validator: %v", verr)
	t.Logf("apply:     %v", aerr)
	if (verr == nil) != (aerr == nil) {
		t.Errorf("DISAGREE: validator %v, apply %v", verr, aerr)
	}
}

// A plain tree's root with a default ACL: set after the entries, so none
// of them inherits it.
func TestAgreePlainRootDefaultACL(t *testing.T) {
	def := acl([3]uint32{aclUserObj, 7, aclNoID}, [3]uint32{aclGroupObj, 5, aclNoID}, [3]uint32{aclOther, 5, aclNoID})
	agree(t, true,
		&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, PAXRecords: map[string]string{xattrRecord + aclDefault: def}},
		&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o600, Size: 1},
		&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o700},
	)
}

// A named ACL entry with id -1, which the kernel refuses: refused by both.
func TestAgreeACLUndefinedNamedID(t *testing.T) {
	a := acl([3]uint32{aclUserObj, 6, 0}, [3]uint32{aclUser, 6, 0xffffffff}, [3]uint32{aclGroupObj, 4, 0}, [3]uint32{aclMask, 6, 0}, [3]uint32{aclOther, 4, 0})
	agree(t, false, &tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o664, PAXRecords: map[string]string{xattrRecord + aclAccess: a}})
}

// A symlink target of 4096 bytes, which symlinkat refuses (PATH_MAX
// counts the NUL): refused by both.
func TestAgreeSymlinkTarget4096(t *testing.T) {
	agree(t, false, &tar.Header{Name: "s", Typeflag: tar.TypeSymlink, Linkname: strings.Repeat("a", 4096)})
}

// A hard link to a 4096-byte name, which the file itself may have (Apply
// makes it a component at a time) but openat2 cannot resolve whole:
// refused by both.
func TestAgreeHardlinkTarget4096(t *testing.T) {
	var comps []string
	for i := 0; i < 17; i++ {
		comps = append(comps, strings.Repeat(string(rune('a'+i)), 240))
	}
	long := strings.Join(comps, "/")
	if len(long) != 4096 {
		t.Fatal(len(long))
	}
	agree(t, false,
		&tar.Header{Name: long, Typeflag: tar.TypeReg, Mode: 0o644},
		&tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: long},
	)
}

var _ = time.Now
