// Command layer-check: see package github.com/layer-tool/layer-tool/pkg/cli.
package main

import (
	"os"

	"github.com/layer-tool/layer-tool/pkg/cli"
)

func main() { os.Exit(cli.Run("layer-check")) }
