// Command benchreport does the arithmetic of scripts/bench.sh: it turns GNU
// time's output into one raw sample line, and the raw samples of a table's
// rows into the markdown table of the report (medians, spreads, ratios to
// peers, failures). It is a helper of that script only; nothing in the
// product imports or builds it.
//
//	benchreport sample TIMEFILE [SIZEFILE]  one sample line, "wall cpu rss_kib
//	                                        bytes", from GNU time's
//	                                        `-f '%e %U %S %M'` output and the
//	                                        byte count in SIZEFILE ("-" if none)
//	benchreport table DIR FIXTURE KEY...    the markdown table of those rows,
//	                                        read from DIR/FIXTURE.KEY
//	benchreport mib BYTES                   BYTES in MiB with one decimal
//
// DIR is the running benchmark's results or a recorded run's, which bench.sh
// keeps in $LT_STATE/bench-results/<time>/, so an old run's tables can be
// printed again:
//
//	go run ./scripts/benchreport table $LT_STATE/bench-results/20250101T120000Z \
//	    small exp exp_zstd exp_gzip tar tar_gzip1 tar_pigz tar_zstd commit_save docker_export
//
// A sample file holds one run a line: "wall cpu rss_kib bytes" (bytes "-"
// when the command counts none), or "FAIL".
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: benchreport sample TIMEFILE [SIZEFILE]
       benchreport table DIR FIXTURE KEY...
       benchreport mib BYTES
`

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run runs one command and returns the process's exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, usage)
		return 0
	}
	err := dispatch(args, stdout)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "benchreport: %v\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
}

func dispatch(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("no command")
	}
	cmd, args := args[0], args[1:]
	switch {
	case cmd == "sample" && (len(args) == 1 || len(args) == 2):
		sizeFile := ""
		if len(args) == 2 {
			sizeFile = args[1]
		}
		line, err := sampleFromFiles(args[0], sizeFile)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, line)
		return err
	case cmd == "table" && len(args) >= 3:
		return writeTable(stdout, args[0], args[1], args[2:])
	case cmd == "mib" && len(args) == 1:
		_, err := fmt.Fprintln(stdout, mib(args[0]))
		return err
	case cmd == "sample" || cmd == "table" || cmd == "mib":
		return usagef("wrong number of arguments for %s", cmd)
	default:
		return usagef("unknown command %q", cmd)
	}
}
