package envelope

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// ErrExpect: the envelope's digest differs from the one the caller
// expected. SHA256SUMS proves only that an envelope is intact; an expected
// digest, kept apart from the envelope, proves it is the one that was
// written.
var ErrExpect = errors.New("input is not the expected envelope")

// Root is an envelope's digest, "sha256:HEX" of its SHA256SUMS member:
// a root over every member, which layer-export prints and --expect
// checks. Since SHA256SUMS names each member's sha256, equal roots are
// equal members, whatever the compression of the stream around them.
func Root(sums []byte) string {
	sum := sha256.Sum256(sums)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Expected tells whether want is the envelope's digest: its root, or the
// sha256 of the stream as stored, which layer-export printed until it
// printed the root (stream is "" when it was not computed).
func Expected(want, root, stream string) bool {
	return want != "" && (want == root || want == stream)
}

// ParseDigest checks a "sha256:HEX" digest and returns it in that form.
func ParseDigest(s string) (string, error) {
	hexsum, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hexsum) != 64 {
		return "", fmt.Errorf("digest %q: want sha256: and 64 hex digits", s)
	}
	if _, err := hex.DecodeString(hexsum); err != nil {
		return "", fmt.Errorf("digest %q: %v", s, err)
	}
	return "sha256:" + strings.ToLower(hexsum), nil
}

// Digester hashes what is read through it or written to it.
type Digester struct {
	r  io.Reader
	w  io.Writer
	h  hash.Hash
	ah *asyncHash
}

// NewDigestReader hashes what is read from r.
func NewDigestReader(r io.Reader) *Digester { return &Digester{r: r, h: sha256.New()} }

// NewDigestWriter hashes what is written to w, in another goroutine.
func NewDigestWriter(w io.Writer) *Digester {
	ah := newAsyncHash(sha256.New())
	return &Digester{w: w, ah: ah}
}

func (d *Digester) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	return n, err
}

func (d *Digester) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.ah.Write(p[:n])
	return n, err
}

// Digest is "sha256:HEX" of what went through. A writing Digester takes
// no more data after it.
func (d *Digester) Digest() string {
	if d.ah != nil {
		return "sha256:" + hex.EncodeToString(d.ah.Sum())
	}
	return "sha256:" + hex.EncodeToString(d.h.Sum(nil))
}
