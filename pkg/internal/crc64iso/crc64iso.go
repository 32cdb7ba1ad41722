// Package crc64iso computes the CRC-64 (ISO polynomial) that tar-split
// records for each file: the same values as hash/crc64 with
// crc64.MakeTable(crc64.ISO), 8 times as fast on amd64 and twice as fast
// elsewhere.
//
// hash/crc64's slicing-by-8 loop is bound by the latency of its one
// register: each 8 bytes wait for the previous 8 (1.5 GB/s here, as much
// CPU as an export's sha256). On amd64 with PCLMULQDQ, four 128-bit
// accumulators fold the input 64 bytes at a time by carry-less
// multiplication, the method of Intel's "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ Instruction" and of hash/crc32's
// ieeeCLMUL, and the last 16 bytes they leave are summed with the tables
// (about 12 GB/s). Elsewhere a long input is cut into four lanes that are
// summed in the same loop, independently, so that the CPU overlaps their
// table lookups, and the lanes' registers are joined with the CRC's
// linearity, as zlib's crc32_combine joins two CRCs: the CRC of A||B is
// the CRC of A shifted by len(B) bytes of zeros, xor the CRC of B from
// zero, and a shift by n bytes is a multiplication by x^(8n) modulo the
// polynomial (about 3 GB/s).
package crc64iso

import (
	"encoding/binary"
	"hash"
	"hash/crc64"
)

// Size is the size of a CRC-64 checksum in bytes.
const Size = 8

// poly is crc64.ISO, bit-reflected as hash/crc64 uses it.
const poly = crc64.ISO

const (
	laneUnit = 256 // lane lengths are multiples of this
	maxUnits = 64  // and at most this many units (16 KiB)
	lanes    = 4
	minLaned = lanes * laneUnit
)

var (
	tab [8][256]uint64
	// foldConsts are foldCLMUL's: x^(E-1) mod P for E = 576, 512, 192,
	// 128 (folds of 512 and 128 bits, each from the first and the second
	// half of 128).
	foldConsts [4]uint64
	// shift[k][j] multiplies by x^(8*k*laneUnit*(j+1)): a shift by j+1
	// lanes of k units.
	shift [maxUnits + 1][lanes - 1]uint64
)

func init() {
	for i := range 256 {
		crc := uint64(i)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ poly
			} else {
				crc >>= 1
			}
		}
		tab[0][i] = crc
	}
	for i := range 256 {
		crc := tab[0][i]
		for j := 1; j < 8; j++ {
			crc = tab[0][crc&0xff] ^ crc>>8
			tab[j][i] = crc
		}
	}
	// x^(8*laneUnit): x^0 is the top bit in the reflected form; each
	// multiplication by x is one step of the bitwise CRC.
	unit := uint64(1) << 63
	for range 8 * laneUnit {
		unit = timesX(unit)
	}
	one := uint64(1) << 63
	for i, e := range []int{576, 512, 192, 128} {
		k := one
		for range e - 1 {
			k = timesX(k)
		}
		foldConsts[i] = k
	}
	lane := one
	for k := 1; k <= maxUnits; k++ {
		lane = mulMod(lane, unit)
		m := one
		for j := range lanes - 1 {
			m = mulMod(m, lane)
			shift[k][j] = m
		}
	}
}

// timesX multiplies a (reflected) by x modulo the polynomial.
func timesX(a uint64) uint64 {
	return a>>1 ^ poly&-(a&1)
}

// mulMod multiplies a by b modulo the polynomial, both reflected. It has
// no branches on the bits of a: they are as good as random.
func mulMod(a, b uint64) uint64 {
	var p uint64
	for i := 63; i >= 0; i-- {
		p ^= b & -(a >> i & 1)
		b = timesX(b)
	}
	return p
}

// Update returns the result of adding the bytes in p to crc, as
// crc64.Update with the ISO table does.
func Update(crc uint64, p []byte) uint64 {
	return ^update(^crc, p)
}

// update adds p to the raw register r (no inversions).
func update(r uint64, p []byte) uint64 {
	if useCLMUL && len(p) >= 128 {
		n := len(p) &^ 63
		lo, hi := foldCLMUL(r, p[:n], &foldConsts)
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], lo)
		binary.LittleEndian.PutUint64(b[8:], hi)
		return slicing8(slicing8(0, b[:]), p[n:])
	}
	if len(p) >= minLaned {
		units := min(len(p)/minLaned, maxUnits)
		n := units * laneUnit
		m := &shift[units]
		for len(p) >= lanes*n {
			a, b, c, d := slicing8x4(r, p[:n], p[n:2*n], p[2*n:3*n], p[3*n:4*n])
			r = mulMod(a, m[2]) ^ mulMod(b, m[1]) ^ mulMod(c, m[0]) ^ d
			p = p[lanes*n:]
		}
	}
	return slicing8(r, p)
}

// slicing8x4 runs slicing8 on four lanes of the same length (a multiple
// of 8) at once, the first from r and the others from zero.
func slicing8x4(r uint64, p0, p1, p2, p3 []byte) (a, b, c, d uint64) {
	a = r
	n := len(p0) &^ 7
	p0, p1, p2, p3 = p0[:n], p1[:n], p2[:n], p3[:n]
	for i := 0; i < n; i += 8 {
		a = fold(a ^ binary.LittleEndian.Uint64(p0[i:i+8]))
		b = fold(b ^ binary.LittleEndian.Uint64(p1[i:i+8]))
		c = fold(c ^ binary.LittleEndian.Uint64(p2[i:i+8]))
		d = fold(d ^ binary.LittleEndian.Uint64(p3[i:i+8]))
	}
	return a, b, c, d
}

// fold is one step of slicing-by-8: the register after 8 more bytes
// (already xored into it).
func fold(r uint64) uint64 {
	return tab[7][r&0xff] ^
		tab[6][r>>8&0xff] ^
		tab[5][r>>16&0xff] ^
		tab[4][r>>24&0xff] ^
		tab[3][r>>32&0xff] ^
		tab[2][r>>40&0xff] ^
		tab[1][r>>48&0xff] ^
		tab[0][r>>56]
}

// slicing8 is hash/crc64's loop, on the raw register.
func slicing8(r uint64, p []byte) uint64 {
	for len(p) >= 8 {
		r = fold(r ^ binary.LittleEndian.Uint64(p))
		p = p[8:]
	}
	for _, v := range p {
		r = tab[0][byte(r)^v] ^ r>>8
	}
	return r
}

type digest struct{ crc uint64 }

// New returns a hash.Hash64 computing the ISO CRC-64, as
// crc64.New(crc64.MakeTable(crc64.ISO)) does.
func New() hash.Hash64 { return &digest{} }

func (d *digest) Size() int      { return Size }
func (d *digest) BlockSize() int { return 1 }
func (d *digest) Reset()         { d.crc = 0 }
func (d *digest) Sum64() uint64  { return d.crc }

func (d *digest) Write(p []byte) (int, error) {
	d.crc = Update(d.crc, p)
	return len(p), nil
}

func (d *digest) Sum(in []byte) []byte {
	return binary.BigEndian.AppendUint64(in, d.crc)
}
