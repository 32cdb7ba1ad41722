//go:build !linux

package overlay_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Off Linux a Group cannot be opened, and its methods fail as Target's do.
func TestGroupUnsupported(t *testing.T) {
	var g overlay.Group
	_, open := overlay.OpenGroup("layer", "volume")
	_, swap := g.Swap([]string{"staging"}, true)
	_, backups := g.Backups()
	_, _, rollback := g.Rollback()
	for name, err := range map[string]error{
		"OpenGroup": open,
		"Swap":      swap,
		"Backups":   backups,
		"Rollback":  rollback,
	} {
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "needs Linux") {
			t.Errorf("%s: error %v, want one that wraps errors.ErrUnsupported and says Linux is needed", name, err)
		}
	}
}
