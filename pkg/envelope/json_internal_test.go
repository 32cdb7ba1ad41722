package envelope

import (
	"strings"
	"testing"
)

func TestCheckJSON(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1)
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"object", `{"a":1,"b":[1,{"c":2}],"d":{"e":null}}`, true},
		{"empty object", `{}`, true},
		{"same key in two objects", `{"a":{"x":1},"b":{"x":2}}`, true},
		{"array of objects", `{"a":[{"x":1},{"x":2}]}`, true},
		{"duplicate key", `{"a":1,"a":2}`, false},
		{"duplicate key in another case", `{"size":1,"Size":2}`, false},
		{"duplicate key by unicode folding", `{"s":1,"\u017f":2}`, false},
		{"duplicate nested key", `{"a":{"x":1,"y":2,"x":3}}`, false},
		{"duplicate key in array element", `{"a":[{"x":1,"x":1}]}`, false},
		{"array at top", `[1]`, false},
		{"string at top", `"x"`, false},
		{"empty", ``, false},
		{"two objects", `{}{}`, false},
		{"trailing garbage", `{} x`, false},
		{"truncated", `{"a":[1,2`, false},
		{"too deep", deep, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkJSON([]byte(tc.doc))
			if (err == nil) != tc.ok {
				t.Errorf("checkJSON(%.40q) = %v, want ok=%v", tc.doc, err, tc.ok)
			}
		})
	}
}
