// Package depcheck_test pins the direction of imports between the
// project's packages, as crane's depcheck_test does: deep packages never
// import the layers above them.
package depcheck_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/layer-tool/layer-tool/"

// allowed lists, for each package, the project packages it may import.
var allowed = map[string][]string{
	"pkg/internal/failpoint": {},
	"pkg/internal/tally":     {},
	"pkg/overlay":            {"pkg/internal/failpoint"},
	"pkg/engine":             {},
	"pkg/envelope":           {"pkg/overlay", "pkg/internal/tally", "pkg/internal/crc64iso"},
	"pkg/internal/crc64iso":  {},
	"pkg/transfer":           {"pkg/envelope", "pkg/overlay", "pkg/internal/failpoint", "pkg/internal/tally"},
	"pkg/cli":                {"pkg/engine", "pkg/envelope", "pkg/overlay", "pkg/transfer"},

	// Tests alone import legacytest, which writes the original
	// layer-tool's files.
	"pkg/internal/legacytest": {"pkg/overlay"},
}

// commandsOnly lists what the commands package leaves to the libraries
// below it: it reads no tar and makes no system call but those on its
// standard streams (tty_linux.go: is it a terminal, grow its pipe).
var commandsOnly = map[string]string{
	"archive/tar":           "",
	"golang.org/x/sys/unix": "tty_linux.go", "math": "",
}

func TestImportDirection(t *testing.T) {
	root := filepath.Join("..", "..")
	for pkg, ok := range allowed {
		imports := importsOf(t, filepath.Join(root, pkg))
		for imp := range imports {
			rel, own := strings.CutPrefix(imp, module)
			if !own {
				continue
			}
			if !contains(ok, rel) {
				t.Errorf("%s imports %s; allowed: %v", pkg, rel, ok)
			}
		}
	}
	for file, imports := range importsByFile(t, filepath.Join(root, "pkg/cli")) {
		for imp := range imports {
			if only, ok := commandsOnly[imp]; ok && file != only {
				t.Errorf("pkg/cli/%s imports %s; that belongs in pkg/transfer, pkg/overlay or pkg/envelope", file, imp)
			}
		}
	}
	cmds, err := filepath.Glob(filepath.Join(root, "cmd", "*"))
	if err != nil || len(cmds) == 0 {
		t.Fatalf("no commands found: %v", err)
	}
	for _, dir := range cmds {
		for imp := range importsOf(t, dir) {
			if rel, own := strings.CutPrefix(imp, module); own && rel != "pkg/cli" {
				t.Errorf("%s imports %s; a main only calls pkg/cli", dir, rel)
			}
		}
	}
}

// importsOf parses the non-test Go files of dir and returns their imports.
func importsOf(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, imports := range importsByFile(t, dir) {
		for imp := range imports {
			out[imp] = true
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no imports found; is the path right?", dir)
	}
	return out
}

// importsByFile parses the non-test Go files of dir and returns the
// imports of each.
func importsByFile(t *testing.T, dir string) map[string]map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = map[string]bool{}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[name][p] = true
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
