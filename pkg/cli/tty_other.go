//go:build !linux

package cli

import "io"

// isTerminal is false off Linux, where the tool does nothing anyway.
func isTerminal(w io.Writer) bool { return false }

// termWidth is unknown off Linux.
func termWidth(w io.Writer) int { return 0 }

// growPipe does nothing off Linux.
func growPipe(any) {}
