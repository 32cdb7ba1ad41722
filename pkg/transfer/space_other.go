//go:build !linux

package transfer

import "errors"

func statfs(dir string) (space, error) {
	return space{}, errors.New("import: free space can only be checked on Linux")
}
