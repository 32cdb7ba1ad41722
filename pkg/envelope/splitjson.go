package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/vbatts/tar-split/tar/storage"
)

// decodeSplitEntry decodes one line of tar-split metadata. The lines
// tar-split and layer-export write are flat objects of a few plain
// fields, which a scan decodes several times faster than encoding/json's
// reflection (the whole of layer-check's time on layers of small files
// went there); any line that is not so plain (an escape in a string,
// white space, another key, a key twice, a non-UTF-8 string) goes to
// encoding/json, so the result is always json.Unmarshal's.
func decodeSplitEntry(line []byte, e *storage.Entry) error {
	if fastSplitEntry(line, e) {
		return nil
	}
	*e = storage.Entry{}
	return json.Unmarshal(line, e)
}

// fastSplitEntry decodes a plain line, or reports false.
func fastSplitEntry(line []byte, e *storage.Entry) bool {
	*e = storage.Entry{}
	if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
		return false
	}
	rest := line[1 : len(line)-1]
	var seen [6]bool
	for len(rest) > 0 {
		key, r, ok := jsonPlainString(rest)
		if !ok || len(r) == 0 || r[0] != ':' {
			return false
		}
		rest = r[1:]
		field := -1
		for i, k := range [...]string{"type", "name", "name_raw", "size", "payload", "position"} {
			if string(key) == k {
				field = i
			}
		}
		if field < 0 || seen[field] {
			return false
		}
		seen[field] = true
		var val []byte
		switch field {
		case 0, 3, 5:
			end := 0
			for end < len(rest) && (rest[end] >= '0' && rest[end] <= '9' || end == 0 && rest[end] == '-') {
				end++
			}
			n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
			if err != nil || end > 1 && rest[0] == '0' {
				return false
			}
			rest = rest[end:]
			switch field {
			case 0:
				if n < 0 || n > 255 {
					return false
				}
				e.Type = storage.Type(n)
			case 3:
				e.Size = n
			case 5:
				if int64(int(n)) != n {
					return false
				}
				e.Position = int(n)
			}
		default:
			val, rest, ok = jsonPlainString(rest)
			if !ok {
				return false
			}
			switch field {
			case 1:
				e.Name = string(val)
			case 2, 4:
				b := make([]byte, base64.StdEncoding.DecodedLen(len(val)))
				n, err := base64.StdEncoding.Decode(b, val)
				if err != nil {
					return false
				}
				if field == 2 {
					e.NameRaw = b[:n]
				} else {
					e.Payload = b[:n]
				}
			}
		}
		if len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return false
			}
			rest = rest[1:]
		}
	}
	return true
}

// jsonPlainString reads a JSON string without escapes, in valid UTF-8,
// from the start of b, and returns its contents and what follows.
func jsonPlainString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	s = b[1 : 1+end]
	for _, c := range s {
		if c == '\\' || c < 0x20 {
			return nil, nil, false
		}
	}
	if !utf8.Valid(s) {
		return nil, nil, false
	}
	return s, b[2+end:], true
}
