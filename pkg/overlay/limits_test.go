package overlay

import (
	"archive/tar"
	"errors"
	"fmt"
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
