package cli_test

// A terminal for the scripts: the progress line is drawn only on a
// terminal stderr, so the scripts run a command in tmux and read the
// screen.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The size of interm's terminal.
const intermCols, intermRows = 120, 10

// cmdInterm is "interm CMD": it runs sh -c CMD in a detached tmux session
// (a new private server, its socket in $WORK, no config file) of 120x10, in
// $WORK, and waits for CMD to end. The command's stdout is the last
// screen, wrapped lines joined, spaces at the end of each line and blank
// lines at its end removed; its stderr is every other
// screen seen while CMD ran, each after a line "--- screen". It fails
// when CMD does.
func cmdInterm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: interm CMD")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		ts.Fatalf("interm: no tmux (scripts/test.sh installs it): %v", err)
	}
	work := ts.Getenv("WORK")
	// A server of its own each time: the last one may still be going
	// away.
	var sock string
	for i := 0; ; i++ {
		sock = filepath.Join(work, fmt.Sprintf(".interm%d.sock", i))
		if _, err := os.Lstat(sock); errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	status := filepath.Join(work, ".interm.status")
	os.Remove(status)
	// The exit status goes to a file; the shell then waits, so that the
	// pane, and its screen, stay until it is read.
	script := args[0] + "\necho $? > " + status + "\nexec sleep 600\n"
	ts.Check(os.WriteFile(filepath.Join(work, ".interm.sh"), []byte(script), 0o644))
	tmux := func(args ...string) (string, error) {
		cmd := exec.Command("tmux", append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		cmd.Env = intermEnv(ts)
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	_, err := tmux("new-session", "-d", "-s", "interm", "-x", strconv.Itoa(intermCols), "-y", strconv.Itoa(intermRows), "-c", work, "sh "+filepath.Join(work, ".interm.sh"))
	ts.Check(err)
	defer tmux("kill-server")
	var seen []string
	deadline := time.Now().Add(5 * time.Minute)
	for {
		_, serr := os.Stat(status)
		screen, err := tmux("capture-pane", "-p", "-J", "-t", "interm")
		ts.Check(err)
		screen = trimScreen(screen)
		if serr == nil {
			fmt.Fprint(ts.Stdout(), screen)
			break
		}
		if !errors.Is(serr, os.ErrNotExist) {
			ts.Fatalf("interm: %v", serr)
		}
		if len(seen) == 0 || seen[len(seen)-1] != screen {
			seen = append(seen, screen)
			fmt.Fprintf(ts.Stderr(), "--- screen\n%s", screen)
		}
		if time.Now().After(deadline) {
			ts.Fatalf("interm: %q still running after 5 minutes; screen:\n%s", args[0], screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code := strings.TrimSpace(ts.ReadFile(status))
	switch {
	case code != "0" && !neg:
		ts.Fatalf("interm: %q exited %s", args[0], code)
	case code == "0" && neg:
		ts.Fatalf("interm: %q succeeded unexpectedly", args[0])
	}
}

// trimScreen drops what a screen has after its text: spaces at the end
// of each line (capture-pane -J keeps them), blank lines at its end.
func trimScreen(screen string) string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
}

// intermEnv is the environment of the tmux server: the test's, with the
// script's variables that the commands need, and outside any tmux the
// tests may run in.
func intermEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TMUX=") && !strings.HasPrefix(kv, "TMUX_PANE=") {
			env = append(env, kv)
		}
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "DOCKER_HOST", "CONTAINERD_ADDRESS"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

// throttleMain is the program "throttle BYTES_PER_SECOND": it copies
// stdin to stdout at most that fast, so that a command reading or
// writing a pipe takes long enough for its progress line to be seen.
func throttleMain() int {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: throttle BYTES_PER_SECOND")
		return 2
	}
	rate, err := strconv.ParseInt(os.Args[1], 10, 64)
	if err != nil || rate <= 0 {
		fmt.Fprintln(os.Stderr, "throttle: want a rate in bytes a second")
		return 2
	}
	start := time.Now()
	var n int64
	buf := make([]byte, 64<<10)
	for {
		k, err := os.Stdin.Read(buf)
		if k > 0 {
			if _, werr := os.Stdout.Write(buf[:k]); werr != nil {
				fmt.Fprintln(os.Stderr, "throttle:", werr)
				return 1
			}
			n += int64(k)
			if ahead := time.Duration(float64(n)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "throttle:", err)
			return 1
		}
	}
}
