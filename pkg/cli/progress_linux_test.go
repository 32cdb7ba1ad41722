package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// A check whose stderr is a file (an *os.File, but no terminal) prints no
// progress: stderr stays empty, and the report is all there is.
func TestCheckNoTerminalNoProgress(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "upper")
	if err := os.MkdirAll(filepath.Join(tree, "srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "srv", "blob"), bytes.Repeat([]byte("layer-tool "), 1<<17), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plan, err := overlay.Measure(ctx, tree, overlay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(dir, "x.layer")
	f, err := os.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	err = envelope.Write(ctx, f, envelope.Contents{
		Meta: envelope.Meta{
			Format: envelope.Format, Created: time.Unix(0, 0).UTC(),
			Container: envelope.Container{ID: "x", ImageID: "sha256:aa", ImageLayers: []string{"sha256:aa"}, StorageDriver: "overlay2"},
			Host:      envelope.Host{OS: "linux", Arch: "amd64"},
			Layer:     envelope.Layer{Size: plan.Size, Entries: plan.Stats.Entries},
		},
		Container: []byte(`{"Id":"x"}`), Info: []byte(`{"Driver":"overlay2"}`),
		WriteLayer: func(ctx context.Context, w io.Writer) error {
			_, err := overlay.Write(ctx, tree, w, overlay.Options{})
			return err
		},
	}, envelope.WriteOptions{})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	var stdout bytes.Buffer
	code := Main(ctx, "layer-check", []string{"--offline", "--format", "text", env}, Streams{Stdin: bytes.NewReader(nil), Stdout: &stdout, Stderr: stderr})
	if code != exitOK {
		t.Fatalf("exit %d, report:\n%s", code, stdout.String())
	}
	got, err := os.ReadFile(stderr.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("stderr not a terminal, yet it got %q", got)
	}
	if !bytes.HasPrefix(stdout.Bytes(), []byte("envelope: valid")) {
		t.Errorf("report:\n%s", stdout.String())
	}
}
