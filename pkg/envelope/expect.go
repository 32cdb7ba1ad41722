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

// ErrExpect: the input's sha256 differs from the one the caller expected.
// SHA256SUMS proves only that an envelope is intact; an expected digest,
// kept apart from the envelope, proves it is the one that was written.
var ErrExpect = errors.New("input is not the expected envelope")

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

// Expect wraps r so that reaching its end fails with ErrExpect, instead of
// io.EOF, unless everything read had the sha256 want: whoever reads the
// stream to its end, as Extract does, fails before acting on it.
func Expect(r io.Reader, want string) io.Reader {
	return &expectReader{d: NewDigestReader(r), want: want}
}

type expectReader struct {
	d    *Digester
	want string
}

func (e *expectReader) Read(p []byte) (int, error) {
	n, err := e.d.Read(p)
	if errors.Is(err, io.EOF) {
		if got := e.d.Digest(); got != e.want {
			return n, fmt.Errorf("input is %s, --expect %s: %w", got, e.want, ErrExpect)
		}
	}
	return n, err
}
