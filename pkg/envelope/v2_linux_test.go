package envelope

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// dirSource is a directory as the source of a tree's tar, as package
// transfer makes it.
type dirSource struct {
	dir  string
	opts overlay.Options
}

func (d dirSource) WriteLayer(ctx context.Context, w io.Writer, rec overlay.Recorder) error {
	o := d.opts
	o.Record = rec
	_, err := overlay.Write(ctx, d.dir, w, o)
	return err
}

func (d dirSource) ReplayLayer(ctx context.Context, rec overlay.Recorder) error {
	o := d.opts
	o.Record = rec
	_, err := overlay.Measure(ctx, d.dir, o)
	return err
}

// v2Fixture is fixture "one" with two volumes, one named and one bind.
func v2Fixture(t *testing.T) Contents {
	t.Helper()
	c := newEnvFixture(t, "one").c
	c.Meta.Format = FormatV2
	for i, variant := range []string{"two", "one"} {
		dir := makeUpper(t, variant)
		opts := overlay.Options{Plain: true}
		plan, err := overlay.Measure(context.Background(), dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		v := Volume{Type: "volume", Name: "data", Destination: "/data", Driver: "local", RW: true, Tar: VolumeTar(i), TarSplit: VolumeTarSplit(i), Size: plan.Size, Entries: plan.Stats.Entries}
		if i == 1 {
			v = Volume{Type: "bind", Source: "/srv/www", Destination: "/var/www", Tar: VolumeTar(i), TarSplit: VolumeTarSplit(i), Size: plan.Size, Entries: plan.Stats.Entries}
		}
		c.Meta.Volumes = append(c.Meta.Volumes, v)
		c.Volumes = append(c.Volumes, dirSource{dir: dir, opts: opts})
	}
	c.Meta.Omitted = []Omitted{{Type: "tmpfs", Destination: "/run/cache", Reason: "a tmpfs lives in memory only"}}
	return c
}

func TestV2RoundTrip(t *testing.T) {
	c := v2Fixture(t)
	for _, comp := range []Compression{None, Zstd} {
		env := writeEnvelope(t, c, comp)
		rep := mustVerify(t, env)
		if !rep.Valid || rep.Format != FormatV2 {
			t.Fatalf("%s: want a valid v2 envelope:\n%s", comp, describeReport(rep))
		}
		if len(rep.Volumes) != 2 || rep.Volumes[0].Destination != "/data" || rep.Volumes[1].Type != "bind" || rep.Volumes[0].Entries != c.Meta.Volumes[0].Entries || rep.Volumes[0].Digest == "" {
			t.Errorf("%s: volumes in the report: %+v", comp, rep.Volumes)
		}
		if len(rep.Omitted) != 1 || rep.Omitted[0].Destination != "/run/cache" {
			t.Errorf("%s: omitted in the report: %+v", comp, rep.Omitted)
		}
		ex, err := Extract(context.Background(), bytes.NewReader(env), validatingHandler{})
		if err != nil {
			t.Fatalf("%s: Extract: %v", comp, err)
		}
		if len(ex.Trees) != 3 {
			t.Fatalf("%s: %d trees extracted, want 3", comp, len(ex.Trees))
		}
		for i, tr := range ex.Trees {
			if want := c.Meta.Layer.Entries; i == 0 && tr.Entries != want {
				t.Errorf("%s: layer has %d entries, want %d", comp, tr.Entries, want)
			}
		}
		if ex.Trees[1].Digest != rep.Volumes[0].Digest {
			t.Errorf("%s: Extract and Verify disagree on the first volume's digest", comp)
		}
	}
}

// The members of a v2 envelope are what envelope.json says, in order,
// each under the name its position gives; anything else is refused by
// both readers, naming the member.
func TestV2Corruptions(t *testing.T) {
	c := v2Fixture(t)
	base := writeEnvelope(t, c, None)
	ms := parseMembers(t, base)
	index := func(name string) int {
		for i, m := range ms {
			if m.name == name {
				return i
			}
		}
		t.Fatalf("no member %s", name)
		return -1
	}
	without := func(name string) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			i := index(name)
			return assembleMembers(t, append(append([]tarMember(nil), ms[:i]...), ms[i+1:]...))
		}
	}
	swapped := func(a, b string) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			out := append([]tarMember(nil), ms...)
			i, j := index(a), index(b)
			out[i], out[j] = out[j], out[i]
			return assembleMembers(t, out)
		}
	}
	renamed := func(from, to string) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			out := append([]tarMember(nil), ms...)
			out[index(from)].name = to
			return assembleMembers(t, out)
		}
	}
	meta := func(edit func(m *Meta)) []byte {
		m := c.Meta
		m.Volumes = append([]Volume(nil), c.Meta.Volumes...)
		edit(&m)
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	}
	withMeta := func(edit func(m *Meta)) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			return assembleMembers(t, replaceMember(ms, MemberEnvelope, meta(edit), true))
		}
	}
	runCorruptions(t, []corruption{
		{name: "valid", env: func(*testing.T) []byte { return base }, valid: true},
		{name: "a volume's tar missing", env: without(VolumeTar(1)), check: CheckStructure, msg: []string{VolumeTar(1)}},
		{name: "volumes swapped", env: swapped(VolumeTar(0), VolumeTar(1)), check: CheckStructure, msg: []string{VolumeTar(1), "out of order"}},
		{name: "a volume member renamed", env: renamed(VolumeTar(0), "volumes/../0.tar"), check: CheckStructure, msg: []string{"volumes/../0.tar"}},
		{name: "an extra volume member", env: renamed(MemberSums, VolumeTar(2)), check: CheckStructure, msg: []string{VolumeTar(2)}},
		{name: "envelope.json names another member", env: withMeta(func(m *Meta) { m.Volumes[0].Tar = "etc/passwd" }), check: CheckMetadata, msg: []string{"volumes[0]", "etc/passwd"}, only: true},
		{name: "a volume's size wrong", env: withMeta(func(m *Meta) { m.Volumes[1].Size += 512 }), check: CheckStructure, msg: []string{VolumeTar(1), MemberEnvelope}, only: true},
		{name: "a volume's entries wrong", env: withMeta(func(m *Meta) { m.Volumes[0].Entries-- }), check: CheckLayer, msg: []string{VolumeTar(0), MemberEnvelope}, only: true},
		{name: "a relative destination", env: withMeta(func(m *Meta) { m.Volumes[0].Destination = "data" }), check: CheckMetadata, msg: []string{"volumes[0]", "destination"}, only: true},
		{name: "a destination twice", env: withMeta(func(m *Meta) { m.Volumes[1].Destination = "/data" }), check: CheckMetadata, msg: []string{"volumes[1]", "twice"}, only: true},
		{name: "a volume dropped from envelope.json", env: withMeta(func(m *Meta) { m.Volumes = m.Volumes[:1] }), check: CheckStructure, msg: []string{VolumeTar(1)}},
		{name: "an omitted mount without a reason", env: withMeta(func(m *Meta) { m.Omitted = []Omitted{{Type: "bind", Destination: "/x"}} }), check: CheckMetadata, msg: []string{"omitted[0]"}, only: true},
	})
	if !strings.Contains(string(ms[len(ms)-1].data), VolumeTarSplit(1)) {
		t.Errorf("SHA256SUMS does not list %s", VolumeTarSplit(1))
	}
}
