package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/envelope"
)

// BenchmarkCheck is layer-check's work on an envelope in memory (Verify),
// beside its floor: one sha256 over the same bytes, as sha256sum makes.
// The target is check at most 1.5x sha256sum.
func BenchmarkCheck(b *testing.B) {
	for _, tc := range []struct {
		name         string
		nfiles, size int
	}{
		{"large", 4, 64 << 20},
		{"small", 5000, 8 << 10},
	} {
		root := benchTree(b, tc.nfiles, tc.size)
		var env bytes.Buffer
		exportTo(b, root, &env, envelope.None)
		b.Run(tc.name+"/verify", func(b *testing.B) {
			b.SetBytes(int64(env.Len()))
			for i := 0; i < b.N; i++ {
				rep, err := envelope.Verify(context.Background(), bytes.NewReader(env.Bytes()))
				if err != nil || !rep.Valid {
					b.Fatalf("Verify: %v %+v", err, rep)
				}
			}
		})
		b.Run(tc.name+"/sha256", func(b *testing.B) {
			b.SetBytes(int64(env.Len()))
			buf := make([]byte, 1<<20)
			for i := 0; i < b.N; i++ {
				h := sha256.New()
				if _, err := io.CopyBuffer(h, bytes.NewReader(env.Bytes()), buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
