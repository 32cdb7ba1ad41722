package overlay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSparseRoundTrip: a file with holes exports as a plain layer (holes as
// zeros) and comes back with holes, and the re-export is the same tar.
func TestSparseRoundTrip(t *testing.T) {
	src := t.TempDir()
	name := filepath.Join(src, "sparse")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	data := bytes.Repeat([]byte("data"), 1<<18) // 1 MiB
	for _, off := range []int64{0, 20 << 20, 40<<20 + 4096} {
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil { // a hole at the end too
		t.Fatal(err)
	}
	f.Close()
	var st unix.Stat_t
	if err := unix.Stat(name, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 >= size/2 {
		t.Skipf("this file system did not make a sparse file (%d blocks)", st.Blocks)
	}

	var first bytes.Buffer
	if _, err := Write(context.Background(), src, &first, Options{}); err != nil {
		t.Fatal(err)
	}
	if first.Len() < size {
		t.Fatalf("layer is %d bytes, less than the file's %d: holes must be written as zeros", first.Len(), size)
	}
	dst := t.TempDir()
	if _, err := Apply(context.Background(), dst, bytes.NewReader(first.Bytes()), Options{}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(filepath.Join(dst, "sparse"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Fatalf("applied size %d, want %d", st.Size, size)
	}
	if got := st.Blocks * 512; got > 8<<20 {
		t.Errorf("applied file has %d bytes allocated for 3 MiB of data: its holes were written", got)
	}
	var second bytes.Buffer
	if _, err := Write(context.Background(), dst, &second, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatal("re-export of the applied tree differs")
	}
}
