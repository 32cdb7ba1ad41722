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
	"pkg/overlay":  {},
	"pkg/engine":   {},
	"pkg/envelope": {"pkg/overlay"},
	"pkg/cli":      {"pkg/engine", "pkg/envelope", "pkg/overlay"},
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
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
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
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[p] = true
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no imports found; is the path right?", dir)
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
