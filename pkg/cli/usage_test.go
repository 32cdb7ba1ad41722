package cli

import (
	"flag"
	"strings"
	"testing"
)

func TestUsageText(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Bool("q", false, "quiet")
	fs.String("containerd-address", "", "use containerd at `SOCK` instead of the Docker API, a sentence long enough to wrap")
	fs.String("o", "", "write `FILE`")
	got := usageText(doc{synopsis: "usage: x\n\n", notes: "Notes.\n", examples: "  x -q\n"}, fs)
	want := `usage: x

Flags:
  --containerd-address SOCK
                        use containerd at SOCK instead of the Docker API, a
                        sentence long enough to wrap
  -o FILE               write FILE
  -q                    quiet

Notes.

Examples:
  x -q
`
	if got != want {
		t.Errorf("usage:\n%s\nwant:\n%s", got, want)
	}
}

// Every command's -h shows each of its flags with the help it was
// defined with: the text comes from the flags.
func TestUsageFromFlags(t *testing.T) {
	for _, cmd := range []*command{exportCommand("layer-export", false), importCommand("layer-import"), checkCommand("layer-check", false)} {
		var out, errw strings.Builder
		if code := run(t.Context(), cmd, []string{"-h"}, Streams{Stdout: &out, Stderr: &errw}); code != exitOK {
			t.Fatalf("%s -h: exit %d, %s", cmd.name, code, errw.String())
		}
		if out.String() != usageText(cmd.doc, cmd.fs) {
			t.Errorf("%s -h printed something else than its flags' usage", cmd.name)
		}
		cmd.fs.VisitAll(func(f *flag.Flag) {
			if f.Usage == "" {
				t.Errorf("%s: flag %s has no help", cmd.name, f.Name)
			}
		})
	}
}
