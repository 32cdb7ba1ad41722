package envelope

import (
	"encoding/base64"
	"encoding/binary"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/vbatts/tar-split/tar/storage"
)

// splitEncoder writes tar-split entries as JSON lines, byte for byte what
// json.NewEncoder(w).Encode writes for a storage.Entry (tar-split's own
// packer writes them so, and TestSplitWriterMatchesTarSplit holds us to
// it). encoding/json finds the fields by reflection, boxes every entry and
// encodes base64 3 bytes at a time: on an export of 27,000 small files
// its Encode alone was 7.4% of the CPU. Like json.Encoder, it writes each
// line with one Write and stops at the first error; its buffer keeps the
// longest line, at most a 1 MiB PAX header in base64.
type splitEncoder struct {
	w   io.Writer
	buf []byte
	err error
}

func (enc *splitEncoder) encode(e *storage.Entry) error {
	if enc.err != nil {
		return enc.err
	}
	enc.buf = appendSplitEntry(enc.buf[:0], e)
	if _, err := enc.w.Write(enc.buf); err != nil {
		enc.err = err
	}
	return enc.err
}

// appendSplitEntry appends e as encoding/json encodes it, with the fields
// in the struct's order and its tags' omitempty rules (name, name_raw and
// size left out when empty or zero), and the Encoder's newline.
func appendSplitEntry(dst []byte, e *storage.Entry) []byte {
	dst = append(dst, `{"type":`...)
	dst = strconv.AppendInt(dst, int64(e.Type), 10)
	if e.Name != "" {
		dst = append(dst, `,"name":`...)
		dst = appendJSONString(dst, e.Name)
	}
	if len(e.NameRaw) != 0 {
		dst = append(dst, `,"name_raw":`...)
		dst = appendJSONBytes(dst, e.NameRaw)
	}
	if e.Size != 0 {
		dst = append(dst, `,"size":`...)
		dst = strconv.AppendInt(dst, e.Size, 10)
	}
	dst = append(dst, `,"payload":`...)
	dst = appendJSONBytes(dst, e.Payload)
	dst = append(dst, `,"position":`...)
	dst = strconv.AppendInt(dst, int64(e.Position), 10)
	return append(dst, "}\n"...)
}

// appendJSONBytes encodes a []byte as encoding/json does: null when nil,
// else a string of standard, padded base64.
func appendJSONBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = appendBase64(dst, b)
	return append(dst, '"')
}

// base64Pairs maps 12 bits to their two characters of standard base64.
var base64Pairs = func() (t [1 << 12]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = uint16(alphabet[i>>6])<<8 | uint16(alphabet[i&63])
	}
	return t
}()

// appendBase64 appends base64.StdEncoding's encoding of src. Segments,
// mostly tar headers, are most of the metadata, and encoding/base64 spent
// four table lookups and stores on each 3 bytes; this takes 6 bytes at a
// time, as 4 lookups of 12 bits and one 8-byte store, and leaves the last
// few bytes and the padding to encoding/base64.
func appendBase64(dst, src []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(src))
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	si, di := 0, 0
	// An 8-byte load of which 6 are used: stop while 8 are left.
	for ; len(src)-si >= 8; si, di = si+6, di+8 {
		v := binary.BigEndian.Uint64(src[si:])
		binary.BigEndian.PutUint64(out[di:],
			uint64(base64Pairs[v>>52])<<48|
				uint64(base64Pairs[v>>40&0xfff])<<32|
				uint64(base64Pairs[v>>28&0xfff])<<16|
				uint64(base64Pairs[v>>16&0xfff]))
	}
	base64.StdEncoding.Encode(out[di:], src[si:])
	return dst[:len(dst)+n]
}

// jsonPlain marks the ASCII bytes that encoding/json's Encoder copies into
// a string as they are: everything printable but the quote, the backslash
// and, because the Encoder escapes HTML by default, < > &. (DEL is copied.)
var jsonPlain = func() (t [utf8.RuneSelf]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// appendJSONString quotes s as encoding/json's appendString does with
// HTML escaping: \" \\ \b \f \n \r \t for those bytes, \u00XX for the other
// control characters and < > &, \u2028 and \u2029 for the line and
// paragraph separators (JSONP would break on them), and \ufffd for each
// byte of invalid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonPlain[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
