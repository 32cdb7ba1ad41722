//go:build !linux

package overlay_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Off Linux every entry point fails at once, with an error that says why
// and that callers can test for with errors.Is(err, errors.ErrUnsupported).
func TestUnsupported(t *testing.T) {
	var tg overlay.Target
	_, openTarget := overlay.OpenTarget("upper")
	_, apply := overlay.Apply(context.Background(), "dir", strings.NewReader(""), overlay.Options{})
	_, mounted := overlay.Mounted("upper")
	_, measure := overlay.Measure(context.Background(), "upper", overlay.Options{})
	_, write := overlay.Write(context.Background(), "upper", io.Discard, overlay.Options{})
	_, stage := tg.Stage()
	_, swap := tg.Swap("staging", true)
	_, backups := tg.Backups()
	_, _, rollback := tg.Rollback()
	for name, err := range map[string]error{
		"OpenTarget":    openTarget,
		"Apply":         apply,
		"Mounted":       mounted,
		"Stage":         stage,
		"Discard":       tg.Discard("staging"),
		"CopyRootAttrs": tg.CopyRootAttrs("staging"),
		"Swap":          swap,
		"Backups":       backups,
		"Rollback":      rollback,
		"Measure":       measure,
		"Write":         write,
	} {
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "needs Linux") {
			t.Errorf("%s: error %v, want one that wraps errors.ErrUnsupported and says Linux is needed", name, err)
		}
	}
}
