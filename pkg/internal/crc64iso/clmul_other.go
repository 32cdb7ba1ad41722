//go:build !amd64

package crc64iso

var useCLMUL = false

func foldCLMUL(r uint64, p []byte, k *[4]uint64) (lo, hi uint64) {
	panic("crc64iso: no carry-less multiplication on this architecture")
}
