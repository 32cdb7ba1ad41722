package envelope

import (
	"bytes"
	"crypto/sha256"
	"math/rand"
	"testing"
)

// TestAsyncOrder: the worker batches data, but the hash must see exactly
// what direct calls would, in the same order, across chunk boundaries,
// with the caller reusing its buffer.
func TestAsyncOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	ah := newAsyncHash(sha256.New())
	want := sha256.New()
	buf := make([]byte, 3*chunkSize)
	for i := 0; i < 3000; i++ {
		// Writes from a byte to more than a chunk, so that some cross
		// chunk boundaries.
		for range rng.Intn(4) {
			n := 1 + rng.Intn(1<<rng.Intn(19))
			for j := range n {
				buf[j] = byte('a' + rng.Intn(26))
			}
			want.Write(buf[:n])
			ah.Write(buf[:n])
		}
	}
	if got := ah.Sum(); !bytes.Equal(got, want.Sum(nil)) {
		t.Fatalf("async sha256 %x, want %x", got, want.Sum(nil))
	}
}
