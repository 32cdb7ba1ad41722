package crc64iso

import "golang.org/x/sys/cpu"

// useCLMUL: the CPU has carry-less multiplication (PCLMULQDQ) and the
// SSE4.1 the folding loop uses.
var useCLMUL = cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41

// foldCLMUL folds p, whose length is a positive multiple of 64, with r,
// the raw register, xored into its first 8 bytes, into 128 bits that are
// congruent to it: lo and hi are the bytes of a 16-byte message whose
// raw CRC from zero is that of r followed by p. k holds the folding
// constants, see foldConsts.
//
//go:noescape
func foldCLMUL(r uint64, p []byte, k *[4]uint64) (lo, hi uint64)
