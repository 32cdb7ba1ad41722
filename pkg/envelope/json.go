package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxJSONDepth bounds how deeply a JSON member may nest. Inspect documents
// nest about six levels.
const maxJSONDepth = 64

// checkJSON checks that data is one JSON object with no key twice in any
// object, nested at most maxJSONDepth deep, and nothing after it.
// encoding/json alone takes the last of two equal keys, so that a reader
// and a checker could disagree about what a document says.
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		keys    map[string]bool // nil in an array
		wantKey bool
	}
	var stack []*frame
	first := true
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if len(stack) != 0 || first {
				return errors.New("unexpected end of JSON")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return errors.New("not a JSON object")
			}
		} else if len(stack) == 0 {
			return errors.New("data after the JSON object")
		}
		first = false
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key := tok.(string)
			// encoding/json matches keys without regard to case, so
			// "size" and "Size" are one field to a reader.
			fold := strings.ToLower(strings.ToUpper(key))
			if top.keys[fold] {
				return fmt.Errorf("key %q appears twice (keys match regardless of case)", key)
			}
			top.keys[fold] = true
			top.wantKey = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return fmt.Errorf("nested deeper than %d", maxJSONDepth)
			}
			if top != nil && top.keys != nil {
				top.wantKey = true
			}
			f := &frame{}
			if d == '{' {
				f.keys, f.wantKey = map[string]bool{}, true
			}
			stack = append(stack, f)
		case ']':
			stack = stack[:len(stack)-1]
		default:
			if top != nil && top.keys != nil {
				top.wantKey = true
			}
		}
	}
}
