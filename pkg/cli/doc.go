// Package cli implements the commands of layer-tool: layer-export,
// layer-import and layer-check, and layer-tool, which offers the same three
// as subcommands taking file arguments. The mains in cmd/ only call [Main].
//
// Every command takes its flags before or after its arguments; each flag can
// also come from an environment variable LAYER_TOOL_NAME (for --skip-image,
// LAYER_TOOL_SKIP_IMAGE). stdout carries only data (an envelope or a
// report); diagnostics go to stderr as one line "COMMAND: ...". Exit codes:
// 0 success (and -h), 1 failure (for layer-check: the envelope is invalid;
// its report is still printed), 2 usage error, 130 interrupted.
package cli
