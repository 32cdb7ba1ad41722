// Package failpoint is the tests' way to stop an import at a named point,
// as a SIGKILL would, to prove that a run killed there loses nothing. It is
// internal to the module and off unless a test turns it on: no flag,
// variable or file of a production binary reaches it.
//
// The points are "extract" (64 KiB into layer.tar), "exchange" (journal
// written, before the directories are swapped) and "exchanged" (swapped,
// before the journal is removed).
package failpoint

import (
	"os"
	"sync/atomic"
)

var hook atomic.Pointer[func(point string)]

// Set makes Hit call f (nil turns failpoints off) and returns a function
// that puts back the hook it replaced. For tests only.
func Set(f func(point string)) (restore func()) {
	var p *func(string)
	if f != nil {
		p = &f
	}
	old := hook.Swap(p)
	return func() { hook.Store(old) }
}

// Hit tells the hook, if any, that the code has reached point.
func Hit(point string) {
	if f := hook.Load(); f != nil {
		(*f)(point)
	}
}

// KillAt returns a hook that kills this process with SIGKILL, which
// nothing can catch, when point is reached: a test binary that runs the
// real commands installs it from LAYER_TOOL_KILL_AT.
func KillAt(point string) func(string) {
	return func(p string) {
		if p != point {
			return
		}
		if self, err := os.FindProcess(os.Getpid()); err == nil {
			self.Kill() // SIGKILL on Unix
		}
		select {} // the signal is on its way
	}
}
