package failpoint_test

import (
	"testing"

	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
)

func TestSetHitRestore(t *testing.T) {
	var got []string
	restore := failpoint.Set(func(p string) { got = append(got, p) })
	failpoint.Hit("a")
	inner := failpoint.Set(nil)
	failpoint.Hit("b") // off
	inner()
	failpoint.Hit("c")
	restore()
	failpoint.Hit("d") // back to none
	if len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Fatalf("hook saw %q, want [a c]", got)
	}
}
