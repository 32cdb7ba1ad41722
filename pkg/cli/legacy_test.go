package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/internal/legacytest"
)

var legacyEntries = []legacytest.Entry{{Name: "srv/"}, {Name: "srv/payload", Data: "payload\n"}}

// legacyMeta is the Meta that Verify synthesizes from a file of the
// original layer-tool.
func legacyMeta(t *testing.T, edit func(*legacytest.Meta)) *envelope.Meta {
	t.Helper()
	m := legacytest.DefaultMeta(legacyEntries)
	if edit != nil {
		edit(&m)
	}
	file := legacytest.File(m, legacytest.GNULayer(legacyEntries, false), false)
	rep, err := envelope.Verify(context.Background(), bytes.NewReader(file))
	if err != nil || rep.Meta == nil || !envelope.IsLegacy(rep.Meta) {
		t.Fatalf("Verify: %v, meta %+v", err, rep.Meta)
	}
	return rep.Meta
}

// The host checks take a file of the original layer-tool: os, arch and
// storage as for an envelope, the image by its id, since the file names
// no rootfs layers.
func TestLegacyCompatibility(t *testing.T) {
	m := legacyMeta(t, nil)
	imageHere := func(id string) func(context.Context) (string, string, []string, error) {
		return func(context.Context) (string, string, []string, error) {
			return "container web's image base", id, []string{"sha256:aa"}, nil
		}
	}
	h := here{os: m.Host.OS, arch: m.Host.Arch, driver: "overlay2", image: imageHere(m.Container.ImageID)}
	cases := []struct {
		name string
		meta *envelope.Meta
		h    here
		want map[string]string
	}{
		{name: "same image id", meta: m, h: h, want: map[string]string{
			checkOS: "pass", checkArch: "pass", checkStorage: "pass",
			checkImage: "pass container web's image base is the source image layer-tool-base:latest (1d1d1d1d1d1d) itself",
		}},
		{name: "other image id", meta: m, h: func() here { h := h; h.image = imageHere("sha256:" + strings.Repeat("9", 64)); return h }(),
			want: map[string]string{checkImage: "fail container web's image base is not known to be the source image layer-tool-base:latest (1d1d1d1d1d1d): the envelope names its id, not its rootfs layers (--skip-image)"}},
		{name: "image found by reference", meta: m, h: func() here { h := h; h.image = imageHere(""); return h }(),
			want: map[string]string{checkImage: "fail container web's image base is not known to be the source image"}},
		{name: "no image id", meta: legacyMeta(t, func(lm *legacytest.Meta) { lm.ImageID = "" }), h: h,
			want: map[string]string{checkImage: "fail the envelope names neither its image's rootfs layers nor its id (--skip-image)"}},
		{name: "no docker_info", meta: legacyMeta(t, func(lm *legacytest.Meta) { lm.OSType, lm.Architecture, lm.Driver = "", "", "" }), h: h,
			want: map[string]string{
				checkOS:      "fail the envelope does not say its os (--skip-os)",
				checkArch:    "fail the envelope does not say its arch (--skip-arch)",
				checkStorage: `fail envelope's layer comes from storage driver ""`,
			}},
		{name: "other arch", meta: legacyMeta(t, func(lm *legacytest.Meta) { lm.Architecture = "s390x" }), h: func() here { h := h; h.arch = "amd64"; return h }(),
			want: map[string]string{checkArch: "fail envelope is from s390x, this host is amd64 (--skip-arch)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checks, _ := compatibility(context.Background(), tc.meta, tc.h, skips{}, false)
			got := map[string]string{}
			for _, c := range checks {
				got[c.Name] = string(c.Status) + " " + c.Message
			}
			for name, want := range tc.want {
				if !strings.HasPrefix(got[name], want) {
					t.Errorf("%s: %q, want %q...", name, got[name], want)
				}
			}
		})
	}
}

// An import says once what the format cannot carry, the source's mounts
// included; an envelope's import says nothing.
func TestLegacyWarning(t *testing.T) {
	var buf bytes.Buffer
	m := legacyMeta(t, func(lm *legacytest.Meta) {
		lm.Mounts = []map[string]any{{"Type": "volume", "Name": "db", "Destination": "/srv/db"}, {"Type": "bind", "Source": "/opt", "Destination": "/opt"}}
	})
	warnLegacy("layer-import", "web", m, Streams{Stderr: &buf})
	want := "layer-import: warning: web: not carried by a layer-tool-rs/0.3.0 file: deleted files (whiteouts), symlinks (it followed them: copies of their targets stand in their place), " +
		"owners (not reliable), special files (devices, fifos, sockets), extended attributes, sub-second mtimes, volumes (the source had 2: /srv/db, /opt)\n"
	if buf.String() != want {
		t.Errorf("warning\n %q, want\n %q", buf.String(), want)
	}
	buf.Reset()
	warnLegacy("layer-import", "web", &envelope.Meta{Format: envelope.Format}, Streams{Stderr: &buf})
	if buf.Len() != 0 {
		t.Errorf("warning for an envelope: %q", buf.String())
	}
}

// layer-check reports such a file in JSON and in text, with what it
// cannot carry.
func TestLegacyCheckCommand(t *testing.T) {
	m := legacytest.DefaultMeta(legacyEntries)
	m.Mounts = []map[string]any{{"Type": "volume", "Name": "db", "Destination": "/srv/db"}}
	file := legacytest.File(m, legacytest.GNULayer(legacyEntries, false), true)
	var out, errs bytes.Buffer
	code := Main(context.Background(), "layer-check", []string{"--offline", "-q"}, Streams{Stdin: bytes.NewReader(file), Stdout: &out, Stderr: &errs})
	if code != 0 {
		t.Fatalf("layer-check: exit %d: %s%s", code, out.String(), errs.String())
	}
	var rep struct {
		Valid   bool
		Format  string
		Omitted []envelope.Omitted
		Checks  []envelope.Check
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Valid || rep.Format != "layer-tool-rs/0.3.0" || len(rep.Omitted) != 1 {
		t.Errorf("report %+v", rep)
	}
	found := false
	for _, c := range rep.Checks {
		found = found || c.Name == envelope.CheckNotCarried && c.Status == envelope.Warn
	}
	if !found {
		t.Errorf("no not-carried warning in %+v", rep.Checks)
	}
	out.Reset()
	code = Main(context.Background(), "layer-tool", []string{"check", "--offline", "-q", "-"}, Streams{Stdin: bytes.NewReader(file), Stdout: &out, Stderr: &errs})
	text := out.String()
	for _, want := range []string{
		"envelope: valid (layer-tool-rs/0.3.0, compression gzip)\n",
		"not carried: /srv/db (volume db): a layer-tool-rs file carries no volumes\n",
		"WARN  not-carried a layer-tool-rs file cannot carry deleted files",
		"SKIP  tar-split  a layer-tool-rs file has no tar-split metadata\n",
	} {
		if code != 0 || !strings.Contains(text, want) {
			t.Errorf("layer-tool check: exit %d, no %q in\n%s", code, want, text)
		}
	}
}

// Without a readable metadata.json there is nothing to hold against the
// host, and the checks say which member is missing.
func TestLegacyHostUnreadable(t *testing.T) {
	rep := &envelope.Report{Valid: true, Format: envelope.FormatLegacy}
	checkHost(context.Background(), rep, skips{}, engine.Options{})
	if len(rep.Checks) != 4 {
		t.Fatalf("checks %+v", rep.Checks)
	}
	for _, c := range rep.Checks {
		if c.Status != envelope.Skip || c.Message != "no readable metadata.json to compare" {
			t.Errorf("%s: %s %q", c.Name, c.Status, c.Message)
		}
	}
}
