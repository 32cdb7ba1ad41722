// Package cli implements the commands of layer-tool: layer-export,
// layer-import and layer-check, and layer-tool, which offers the same three
// as subcommands taking file arguments. The mains in cmd/ only call [Run].
//
// It owns what a user types and reads: flags (their help is the usage
// text, usage.go), the engine a container is found through, the host
// checks (compat.go: one policy that layer-import stops at and
// layer-check reports in full), messages, progress and exit codes. The
// work itself is package transfer's (export and import of a layer
// directory) and package envelope's (the wire format, check reports); cli
// reads no tar and makes no system call but the terminal check.
//
// Every command takes its flags before or after its arguments; each flag can
// also come from an environment variable LAYER_TOOL_NAME (for --skip-image,
// LAYER_TOOL_SKIP_IMAGE), and from a config file named by --config or
// LAYER_TOOL_CONFIG (config.go; ff's plain format, "flag value" a line),
// in that order of precedence after the command line. stdout carries only data (an envelope or a
// report); diagnostics go to stderr as one line "COMMAND: ...". Exit codes:
// 0 success (and -h), 1 failure (for layer-check: the envelope is invalid;
// its report is still printed), 2 usage error, 130 interrupted.
package cli
