package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/peterbourgon/ff/v3"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// envPrefix is the prefix of the environment variables that set flags.
const envPrefix = "LAYER_TOOL"

// Streams are a command's standard streams.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// command is one command: its name as printed in errors, its usage, and
// how it runs.
type command struct {
	name string
	doc  doc
	// fs is the command's flag set, once exec has defined it.
	fs   *flag.FlagSet
	exec func(ctx context.Context, args []string, s Streams) error
}

// newFlags makes the command's flag set; parse and run print usage from it.
func (cmd *command) newFlags() *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cmd.fs = fs
	return fs
}

// usage is the command's usage text, its flags included.
func (cmd *command) usage() string {
	fs := cmd.fs
	if fs == nil {
		fs = flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	}
	return usageText(cmd.doc, fs)
}

// Main runs the program called name (the base name of argv[0]: layer-export,
// layer-import, layer-check or layer-tool) and returns its exit code.
func Main(ctx context.Context, name string, args []string, s Streams) int {
	// A closed pipe downstream must be an error that unwinds (and, for
	// export --pause, unpauses the container), not a SIGPIPE death that
	// skips every deferred cleanup.
	signal.Ignore(syscall.SIGPIPE)
	var cmd *command
	switch name {
	case "layer-export":
		cmd = exportCommand(name, false)
	case "layer-import":
		cmd = importCommand(name)
	case "layer-check":
		cmd = checkCommand(name, false)
	default:
		return toolMain(ctx, args, s)
	}
	return run(ctx, cmd, args, s)
}

const toolUsage = `usage: layer-tool COMMAND [flags] ARGS

Commands:
  export CONTAINER FILE   write the container's layer envelope to FILE (- for stdout)
  import FILE CONTAINER   replace the container's layer with the envelope in FILE
  restore FILE [NAME]     create the container from the envelope in FILE and
                          import into it (import --create)
  check FILE              verify the envelope in FILE (- for stdin) and report
  version                 print the version

Run 'layer-tool COMMAND -h' for a command's flags.
`

func toolMain(ctx context.Context, args []string, s Streams) int {
	if len(args) == 0 {
		fmt.Fprint(s.Stderr, toolUsage)
		return exitUsage
	}
	switch args[0] {
	case "export":
		return run(ctx, exportCommand("layer-tool export", true), args[1:], s)
	case "import":
		return run(ctx, importCommand("layer-tool import"), args[1:], s)
	case "restore":
		return run(ctx, importCommand("layer-tool restore"), append([]string{"--create"}, args[1:]...), s)
	case "check":
		return run(ctx, checkCommand("layer-tool check", true), args[1:], s)
	case "version", "--version", "-version":
		fmt.Fprintln(s.Stdout, "layer-tool", Version())
		return exitOK
	case "-h", "-help", "--help", "help":
		fmt.Fprint(s.Stdout, toolUsage)
		return exitOK
	}
	fmt.Fprintf(s.Stderr, "layer-tool: unknown command %q\n%s", args[0], toolUsage)
	return exitUsage
}

// Version is the module version the binary was built from.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// usageError marks errors in how a command was called.
type usageError struct {
	msg string
	// settings: the error is in a LAYER_TOOL_* variable or the config
	// file, not on the command line, so the usage text would not help
	// (and would fill a cron job's mail): one line is printed.
	settings bool
}

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

// run executes cmd and maps its error to an exit code, printing it once.
func run(ctx context.Context, cmd *command, args []string, s Streams) int {
	err := cmd.exec(ctx, args, s)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue) && ue.settings:
		fmt.Fprintf(s.Stderr, "%s: %s\n", cmd.name, oneLine(err.Error()))
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(s.Stderr, "%s: %v\n%s", cmd.name, err, cmd.usage())
		return exitUsage
	case errors.Is(err, errInvalid):
		return exitFailure
	case ctx.Err() != nil:
		fmt.Fprintf(s.Stderr, "%s: interrupted\n", cmd.name)
		return exitInterrupted
	}
	fmt.Fprintf(s.Stderr, "%s: %s\n", cmd.name, oneLine(err.Error()))
	return exitFailure
}

// errInvalid: layer-check found the envelope invalid; the report says why.
var errInvalid = errors.New("envelope invalid")

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// parse parses flags that may stand before, between or after positional
// arguments (flag.Parse alone stops at the first positional one), then
// fills unset flags from LAYER_TOOL_* variables, and those still unset from
// the --config file (or LAYER_TOOL_CONFIG's). It returns the positional
// arguments. "-h" prints usage to stdout and returns flag.ErrHelp.
func parse(cmd *command, args []string, s Streams) ([]string, error) {
	fs := cmd.fs
	config := addConfigFlag(fs)
	args = joinOptionalValues(fs, args)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(s.Stdout, cmd.usage())
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if err := ff.Parse(fs, nil, ff.WithEnvVarPrefix(envPrefix),
		ff.WithConfigFileFlag(configFlag), ff.WithConfigFileParser(configParser(fs, config))); err != nil {
		return nil, usageError{msg: err.Error(), settings: true}
	}
	return pos, nil
}

// optionalValue is a flag that may be given bare ("--compress") or with a
// value ("--compress zstd", "--compress=zstd").
type optionalValue interface {
	flag.Value
	IsBoolFlag() bool
	// Accepts tells whether s is one of the flag's values, so that it can
	// be taken as the value in "--flag VALUE".
	Accepts(s string) bool
}

// joinOptionalValues rewrites "--flag VALUE" into "--flag=VALUE" for flags
// with an optional value, when VALUE is one the flag accepts.
func joinOptionalValues(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if f := fs.Lookup(name); f != nil && strings.HasPrefix(a, "-") && i+1 < len(args) {
			if ov, ok := f.Value.(optionalValue); ok && ov.Accepts(args[i+1]) {
				out = append(out, a+"="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// memoryLimit is the Go runtime's soft memory limit for the commands.
const memoryLimit = 40 << 20

// Run is a whole program: it runs Main as the command name with the
// process's arguments and standard streams, under a context that the first
// SIGINT or SIGTERM cancels (a second one kills as usual), and returns the
// exit code for os.Exit.
func Run(name string) int {
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit: the collector works harder near it, which keeps
		// the process within the README's 64 MiB on a million entries,
		// where the heap it holds live is some 25 MiB.
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	return Main(ctx, name, os.Args[1:], Streams{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
}

// addEngineFlags adds the flags that choose the engine: a Docker-compatible
// API by default (DOCKER_HOST), containerd with --containerd-address.
func addEngineFlags(fs *flag.FlagSet) *engine.Options {
	o := &engine.Options{}
	fs.StringVar(&o.ContainerdAddress, "containerd-address", "", "use containerd at `SOCK` instead of the Docker API; CONTAINER is an id, a nerdctl name or a unique id prefix")
	fs.StringVar(&o.Namespace, "namespace", "", "containerd namespace `NS` (default $CONTAINERD_NAMESPACE, else \"default\")")
	return o
}

// checkEngineFlags refuses a namespace without containerd.
func checkEngineFlags(o *engine.Options) error {
	if o.ContainerdAddress == "" && o.Namespace != "" {
		return usagef("--namespace (or LAYER_TOOL_NAMESPACE) is for containerd: give --containerd-address (or LAYER_TOOL_CONTAINERD_ADDRESS) too")
	}
	return nil
}
