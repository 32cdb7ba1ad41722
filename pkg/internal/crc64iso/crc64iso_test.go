package crc64iso

import (
	"hash/crc64"
	"math/rand"
	"testing"
)

var isoTable = crc64.MakeTable(crc64.ISO)

// paths runs f once with each way of summing this CPU has: carry-less
// multiplication, if it has it, and the four table lanes.
func paths(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if useCLMUL {
		t.Run("clmul", f)
		useCLMUL = false
		defer func() { useCLMUL = true }()
	}
	t.Run("tables", f)
}

func TestMatchesHashCRC64(t *testing.T) { paths(t, testMatchesHashCRC64) }

func testMatchesHashCRC64(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, 5*lanes*maxUnits*laneUnit+123)
	rng.Read(buf)
	lengths := []int{0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 191, 192, 255, 256, minLaned - 1, minLaned, minLaned + 1, 4095, 4096, 12345,
		lanes * maxUnits * laneUnit, lanes*maxUnits*laneUnit + 1, len(buf)}
	for range 200 {
		lengths = append(lengths, rng.Intn(len(buf)+1))
	}
	for _, n := range lengths {
		for _, seed := range []uint64{0, 0xdeadbeefcafef00d} {
			want := crc64.Update(seed, isoTable, buf[:n])
			if got := Update(seed, buf[:n]); got != want {
				t.Fatalf("Update(%#x, %d bytes) = %#x, want %#x", seed, n, got, want)
			}
		}
	}
}

func TestHashInChunks(t *testing.T) { paths(t, testHashInChunks) }

func testHashInChunks(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	buf := make([]byte, 300000)
	rng.Read(buf)
	h, ref := New(), crc64.New(isoTable)
	for p := buf; len(p) > 0; {
		k := min(len(p), rng.Intn(40000))
		h.Write(p[:k])
		ref.Write(p[:k])
		p = p[k:]
	}
	if string(h.Sum(nil)) != string(ref.Sum(nil)) || h.Sum64() != ref.Sum64() {
		t.Fatalf("Sum %x, want %x", h.Sum(nil), ref.Sum(nil))
	}
}

func FuzzUpdate(f *testing.F) {
	f.Add(uint64(0), make([]byte, 3000))
	clmul := useCLMUL
	f.Fuzz(func(t *testing.T, seed uint64, p []byte) {
		want := crc64.Update(seed, isoTable, p)
		useCLMUL = false
		tables := Update(seed, p)
		useCLMUL = clmul
		if got := Update(seed, p); got != want || tables != want {
			t.Fatalf("Update(%#x, %d bytes) = %#x (tables %#x), want %#x", seed, len(p), got, tables, want)
		}
	})
}

func benchSizes(b *testing.B, f func(uint64, []byte) uint64) {
	for _, n := range []int{512, 4 << 10, 12 << 10, 1 << 20} {
		buf := make([]byte, n)
		b.Run(itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			var c uint64
			for b.Loop() {
				c = f(c, buf)
			}
		})
	}
}

func itoa(n int) string {
	switch {
	case n >= 1<<20:
		return string(rune('0'+n>>20)) + "MiB"
	case n >= 1<<10:
		s := ""
		for k := n >> 10; k > 0; k /= 10 {
			s = string(rune('0'+k%10)) + s
		}
		return s + "KiB"
	}
	return "512B"
}

func BenchmarkUpdate(b *testing.B) { benchSizes(b, Update) }

func BenchmarkHashCRC64(b *testing.B) {
	benchSizes(b, func(c uint64, p []byte) uint64 { return crc64.Update(c, isoTable, p) })
}
