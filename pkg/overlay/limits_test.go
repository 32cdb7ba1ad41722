package overlay

import (
	"archive/tar"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	deep := strings.Repeat("d/", MaxDepth)
	for _, tc := range []struct {
		name string
		hdr  *tar.Header
		want error
	}{
		{"depth at the limit", &tar.Header{Name: strings.Repeat("d/", MaxDepth-1) + "f", Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}, nil},
		{"one deeper", &tar.Header{Name: deep + "f", Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}, ErrUnsafePath},
		{"xattr value at the limit", &tar.Header{Name: "f", Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0), PAXRecords: map[string]string{xattrRecord + "user.a": strings.Repeat("v", maxXattrValue)}}, nil},
		{"xattr value too long", &tar.Header{Name: "f", Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0), PAXRecords: map[string]string{xattrRecord + "user.a": strings.Repeat("v", maxXattrValue+1)}}, ErrBadEntry},
		{"xattr name too long", &tar.Header{Name: "f", Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0), PAXRecords: map[string]string{xattrRecord + "user." + strings.Repeat("n", maxXattrName): "v"}}, ErrBadEntry},
	} {
		// A plain tree has the same limits as a layer.
		for _, plain := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/plain=%v", tc.name, plain), func(t *testing.T) {
				err := checkEntry(tc.hdr, plain)
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("checkEntry = %v, want %v", err, tc.want)
				}
			})
		}
	}
}

// The set of names a layer makes stops at MaxNames, with ErrLimit: an
// envelope cannot make an import hold more than 64 MiB of them.
func TestNameSetLimit(t *testing.T) {
	var s nameSet
	s.reserve(MaxNames)
	for i := 0; i < MaxNames; i++ {
		if err := s.put(strconv.Itoa(i), nameFile); err != nil {
			t.Fatalf("name %d: %v", i, err)
		}
	}
	if err := s.put("one more", nameFile); !errors.Is(err, ErrLimit) {
		t.Fatalf("name %d: %v, want ErrLimit", MaxNames+1, err)
	}
	if err := s.put("0", nameDir); err != nil || s.get("0") != nameDir {
		t.Fatalf("a name already in the set: %v, %v", err, s.get("0"))
	}
	if len(s.slots)*8 > 64<<20 {
		t.Errorf("%d slots: more than 64 MiB", len(s.slots))
	}
}
