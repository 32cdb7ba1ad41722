package cli

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/peterbourgon/ff/v3"
)

// configFlag is the flag (and, as LAYER_TOOL_CONFIG, the variable) that
// names a config file.
const configFlag = "config"

// addConfigFlag adds --config to fs and returns its value.
func addConfigFlag(fs *flag.FlagSet) *string {
	return fs.String(configFlag, "", "read flags from `FILE`: one \"flag value\" a line (a bare flag is true), # starts a comment; the command line and LAYER_TOOL_* variables win over it")
}

// configParser reads a config file in ff's plain format, one "flag value"
// a line, and refuses what ff would pass on silently or name without a
// place: a flag this command does not have (a typo in a cron job's file
// must not turn into a default), a key spelt as its environment variable,
// and a nested config. Errors name the file and the line. path is read when
// the file is, after the command line and the environment have set it.
func configParser(fs *flag.FlagSet, path *string) ff.ConfigFileParser {
	return func(r io.Reader, set func(name, value string) error) error {
		sc := bufio.NewScanner(r)
		for n := 1; sc.Scan(); n++ {
			err := ff.PlainParser(strings.NewReader(sc.Text()), func(name, value string) error {
				if name == configFlag {
					return errors.New("a config file cannot name another one")
				}
				if fs.Lookup(name) == nil {
					return fmt.Errorf("unknown flag %q", name)
				}
				if err := set(name, value); err != nil {
					// ff's "error setting flag ... from config file"
					// says less than the place does.
					if inner := errors.Unwrap(err); inner != nil {
						err = inner
					}
					return fmt.Errorf("%s %q: %w", name, value, err)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s:%d: %w", *path, n, err)
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read %s: %w", *path, err)
		}
		return nil
	}
}
