package overlay

import (
	"fmt"
	"hash/maphash"
)

// nameKind is what a name of the tree being built is.
type nameKind uint64

const (
	nameNone nameKind = iota
	nameDir
	nameFile // a regular file, device or fifo: what a hard link may name
	nameSymlink
	nameWhiteout
)

func (k nameKind) String() string {
	switch k {
	case nameDir:
		return "directory"
	case nameFile:
		return "file"
	case nameSymlink:
		return "symlink"
	case nameWhiteout:
		return "whiteout"
	}
	return "nothing"
}

// nameSet maps the names a layer has made to their kind, in 8 bytes a
// slot: a 61-bit hash of the name, keyed with a seed chosen at random for
// each set so that no layer can be built to collide, and the kind in the
// low 3 bits. Open addressing, at most three quarters full: 11 to 21
// bytes a name. Two names share a hash with a chance of about n²/2⁶²;
// that would make a name look made that is not (a hard link the import
// then cannot resolve, and refuses) or hide one (an entry replaced where
// it should merge) — never a write outside the tree, which Apply's own
// descriptors and openat2 rule out whatever the set says.
type nameSet struct {
	seed  maphash.Seed
	slots []uint64
	n     int
}

const kindBits = 3

// MaxNames bounds the names a layer may make (its entries and the parents
// they imply): the set of them then takes at most 64 MiB. Layers with more
// are refused, with ErrLimit; the largest image layers have a few hundred
// thousand entries.
const MaxNames = 1 << 22

// reserve sizes the set for n names at once, so that it does not grow
// (and hold its old and new tables together) on the way.
func (s *nameSet) reserve(n int64) {
	n = min(max(n, 768), MaxNames)
	size := 1024
	for int64(size)*3 < n*4 {
		size *= 2
	}
	if len(s.slots) < size {
		s.seed = maphash.MakeSeed()
		s.slots = make([]uint64, size)
		s.n = 0
	}
}

func (s *nameSet) hash(name string) uint64 {
	if s.slots == nil {
		s.reserve(0)
	}
	h := maphash.String(s.seed, name) &^ (1<<kindBits - 1)
	if h == 0 {
		h = 1 << kindBits
	}
	return h
}

// find returns the slot of h, or the empty slot where it would go.
func (s *nameSet) find(h uint64) int {
	mask := uint64(len(s.slots) - 1)
	for i := h >> kindBits & mask; ; i = (i + 1) & mask {
		if v := s.slots[i]; v == 0 || v&^(1<<kindBits-1) == h {
			return int(i)
		}
	}
}

func (s *nameSet) get(name string) nameKind {
	if s.slots == nil {
		return nameNone
	}
	return nameKind(s.slots[s.find(s.hash(name))] & (1<<kindBits - 1))
}

// put records name as kind k; past MaxNames it fails with ErrLimit.
func (s *nameSet) put(name string, k nameKind) error {
	if k == nameNone || k >= 1<<kindBits {
		return fmt.Errorf("name kind %d", k)
	}
	h := s.hash(name)
	i := s.find(h)
	if s.slots[i] == 0 {
		if s.n >= MaxNames {
			return fmt.Errorf("%q: the layer makes more than %d names, more than an import holds in memory: %w", name, MaxNames, ErrLimit)
		}
		s.n++
	}
	s.slots[i] = h | uint64(k)
	if s.n*4 > len(s.slots)*3 {
		s.grow()
	}
	return nil
}

func (s *nameSet) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	for _, v := range old {
		if v != 0 {
			s.slots[s.find(v&^(1<<kindBits-1))] = v
		}
	}
}
