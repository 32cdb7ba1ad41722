package cli

import (
	"flag"
	"strings"
)

// doc is a command's usage text but its flags: those are printed from the
// flag set itself, each with the help it was defined with, so that the
// text and the flags cannot drift apart.
type doc struct {
	// synopsis is the "usage:" lines and what the command does.
	synopsis string
	// notes follow the flags (environment, engines); may be empty.
	notes string
	// examples are indented command lines.
	examples string
}

// usageColumn is where flag help starts; a flag whose syntax is wider
// gets its help on the lines below.
const usageColumn = 24

// usageWidth is the width help text is wrapped to.
const usageWidth = 80

// usageText is the whole usage of a command: its doc with the flags of fs
// in between. A flag's argument name is the back-quoted word of its help
// (flag.UnquoteUsage); a one-letter flag is shown with one dash.
func usageText(d doc, fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(d.synopsis, "\n"))
	b.WriteString("\n\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		arg, help := flag.UnquoteUsage(f)
		syntax := "  --" + f.Name
		if len(f.Name) == 1 {
			syntax = "  -" + f.Name
		}
		if arg != "" {
			syntax += " " + arg
		}
		b.WriteString(syntax)
		col := len(syntax)
		if col+2 > usageColumn {
			b.WriteString("\n")
			col = 0
		}
		for i, line := range wrap(help, usageWidth-usageColumn) {
			if i > 0 {
				col = 0
				b.WriteString("\n")
			}
			b.WriteString(strings.Repeat(" ", usageColumn-col) + line)
		}
		b.WriteString("\n")
	})
	if d.notes != "" {
		b.WriteString("\n" + d.notes)
	}
	b.WriteString("\nExamples:\n" + d.examples)
	return b.String()
}

// wrap breaks s into lines of at most width bytes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
