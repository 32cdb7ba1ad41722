//go:build !linux

package cli

import "io"

// isTerminal is false off Linux, where the tool does nothing anyway.
func isTerminal(w io.Writer) bool { return false }
