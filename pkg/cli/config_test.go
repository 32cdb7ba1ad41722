package cli

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// configCommand is a command with a few flags of each kind, parsed as
// every real command is.
func configCommand() (*command, *string, *string, *bool, *compressFlag) {
	cmd := &command{name: "layer-test"}
	fs := cmd.newFlags()
	out := fs.String("o", "", "write `FILE`")
	digest := fs.String("digest-file", "", "digest `FILE`")
	pause := fs.Bool("pause", false, "pause")
	comp := &compressFlag{c: "none"}
	fs.Var(comp, "compress", "compress")
	return cmd, out, digest, pause, comp
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "layer-tool.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A config file in ff's plain format sets what neither the command line
// nor a LAYER_TOOL_* variable sets: command line > environment > file.
func TestConfigPrecedence(t *testing.T) {
	path := writeConfig(t, `# a cron job's settings
o /backup/file.layer
digest-file /backup/file.sha256   # beside it
compress zstd

pause
`)
	tests := []struct {
		name            string
		args            []string
		env             map[string]string
		out, digest     string
		pause           bool
		compress        string
		wantPositionals []string
	}{
		{"file only", []string{"--config", path, "web"}, nil,
			"/backup/file.layer", "/backup/file.sha256", true, "zstd", []string{"web"}},
		{"LAYER_TOOL_CONFIG", []string{"web"}, map[string]string{"LAYER_TOOL_CONFIG": path},
			"/backup/file.layer", "/backup/file.sha256", true, "zstd", []string{"web"}},
		{"environment over file", []string{"web", "--config=" + path}, map[string]string{"LAYER_TOOL_COMPRESS": "gzip", "LAYER_TOOL_O": "/env.layer"},
			"/env.layer", "/backup/file.sha256", true, "gzip", []string{"web"}},
		{"command line over both", []string{"-o", "/cli.layer", "--compress", "none", "--pause=false", "--config", path, "web"},
			map[string]string{"LAYER_TOOL_O": "/env.layer"},
			"/cli.layer", "/backup/file.sha256", false, "none", []string{"web"}},
		{"command line over LAYER_TOOL_CONFIG", []string{"--config", "", "web"}, map[string]string{"LAYER_TOOL_CONFIG": path},
			"", "", false, "none", []string{"web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cmd, out, digest, pause, comp := configCommand()
			pos, err := parse(cmd, tt.args, Streams{})
			if err != nil {
				t.Fatal(err)
			}
			got := []any{*out, *digest, *pause, string(comp.c), pos}
			want := []any{tt.out, tt.digest, tt.pause, tt.compress, tt.wantPositionals}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// What a config file cannot do is a usage error that names the file and
// the line.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"unknown flag", "o /x\n\n# fine\nouptut /y\n", `:4: unknown flag "ouptut"`},
		{"variable name", "LAYER_TOOL_O /x\n", `:1: unknown flag "LAYER_TOOL_O"`},
		{"bad value", "pause\ncompress bzip2\n", `:2: compress "bzip2": `},
		{"nested", "config /etc/other.conf\n", `:1: a config file cannot name another one`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.text)
			cmd, _, _, _, _ := configCommand()
			_, err := parse(cmd, []string{"--config", path, "web"}, Streams{})
			var ue usageError
			if !errors.As(err, &ue) || !ue.settings {
				t.Fatalf("got %v, want a usage error in the settings", err)
			}
			if !strings.Contains(err.Error(), path+tt.want) {
				t.Errorf("got %q, want it to contain %q", err, path+tt.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.conf")
		t.Setenv("LAYER_TOOL_CONFIG", path)
		cmd, _, _, _, _ := configCommand()
		_, err := parse(cmd, []string{"web"}, Streams{})
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), path) {
			t.Errorf("got %v, want a usage error naming %s", err, path)
		}
	})
}

// Every command takes --config.
func TestConfigOnEveryCommand(t *testing.T) {
	for _, cmd := range []*command{exportCommand("layer-export", false), importCommand("layer-import"), checkCommand("layer-check", false)} {
		var out strings.Builder
		if code := run(t.Context(), cmd, []string{"-h"}, Streams{Stdout: &out, Stderr: &out}); code != exitOK {
			t.Fatalf("%s -h: exit %d", cmd.name, code)
		}
		if cmd.fs.Lookup(configFlag) == nil || !strings.Contains(out.String(), "--config FILE") {
			t.Errorf("%s has no --config FILE", cmd.name)
		}
	}
}

// An error in the settings is one line, exit 2, without the usage text
// that a mistake on the command line gets.
func TestConfigErrorOneLine(t *testing.T) {
	path := writeConfig(t, "compres zstd\n")
	var out, errw strings.Builder
	code := run(t.Context(), exportCommand("layer-export", false), []string{"--config", path, "web"}, Streams{Stdout: &out, Stderr: &errw})
	want := "layer-export: " + path + ":1: unknown flag \"compres\"\n"
	if code != exitUsage || errw.String() != want || out.Len() != 0 {
		t.Errorf("exit %d, stderr %q, stdout %q; want exit %d, stderr %q", code, errw.String(), out.String(), exitUsage, want)
	}
}
