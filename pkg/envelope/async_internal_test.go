package envelope

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// logRecorder writes down every call, the contents of an entry joined.
type logRecorder struct{ log []string }

func (l *logRecorder) Entry(raw []byte, hdr *tar.Header) error {
	l.log = append(l.log, fmt.Sprintf("entry %s %q", hdr.Name, raw))
	return nil
}

func (l *logRecorder) Contents(p []byte) {
	if n := len(l.log); n > 0 && strings.HasPrefix(l.log[n-1], "data ") {
		l.log[n-1] += string(p)
		return
	}
	l.log = append(l.log, "data "+string(p))
}

func (l *logRecorder) End(raw []byte) error {
	l.log = append(l.log, fmt.Sprintf("end %q", raw))
	return nil
}

// TestAsyncOrder: the workers batch data and jobs, but the recorder and
// the hash must see exactly what direct calls would, in the same order,
// across chunk boundaries, with the caller reusing its buffer.
func TestAsyncOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	direct, async := &logRecorder{}, &logRecorder{}
	ar := newAsyncRecorder(async)
	ah := newAsyncHash(sha256.New())
	want := sha256.New()
	buf := make([]byte, 3*chunkSize)
	for i := 0; i < 3000; i++ {
		hdr := &tar.Header{Name: fmt.Sprintf("f%d", i)}
		raw := []byte(fmt.Sprintf("header %d", i))
		direct.Entry(raw, hdr)
		ar.Entry(raw, hdr)
		// Writes from a byte to more than a chunk, so that some cross
		// chunk boundaries and batches fill up with jobs.
		for range rng.Intn(4) {
			n := 1 + rng.Intn(1<<rng.Intn(19))
			for j := range n {
				buf[j] = byte('a' + rng.Intn(26))
			}
			direct.Contents(buf[:n])
			ar.Contents(buf[:n])
			want.Write(buf[:n])
			ah.Write(buf[:n])
		}
	}
	direct.End([]byte("end"))
	if err := ar.End([]byte("end")); err != nil {
		t.Fatal(err)
	}
	if len(async.log) != len(direct.log) {
		t.Fatalf("%d calls, want %d", len(async.log), len(direct.log))
	}
	for i := range direct.log {
		if async.log[i] != direct.log[i] {
			t.Fatalf("call %d differs: %.80q, want %.80q", i, async.log[i], direct.log[i])
		}
	}
	if got := ah.Sum(); !bytes.Equal(got, want.Sum(nil)) {
		t.Fatalf("async sha256 %x, want %x", got, want.Sum(nil))
	}
}
