package cli

import (
	"context"
	"errors"
)

const importUsage = `usage: layer-import [flags] CONTAINER < FILE
       layer-tool import [flags] FILE CONTAINER

Replace a stopped container's read-write layer with the one in an envelope.
`

func importCommand(name string) *command {
	cmd := &command{name: name, usage: importUsage}
	cmd.exec = func(ctx context.Context, args []string, s Streams) error {
		fs := newFlags(name, importUsage, s)
		if _, err := parse(fs, importUsage, args, s); err != nil {
			return err
		}
		return errors.New("import is not implemented yet")
	}
	return cmd
}
