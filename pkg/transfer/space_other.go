//go:build !linux

package transfer

import (
	"errors"
	"fmt"
)

func statfs(dir string) (space, error) {
	return space{}, fmt.Errorf("statfs %s: %w: an import needs Linux", dir, errors.ErrUnsupported)
}
