package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/layer-tool/layer-tool/pkg/envelope"
)

// Files of the original layer-tool (the Rust tool) read as envelopes
// whose Meta envelope.IsLegacy tells apart; what the commands do
// differently for them is here.

// legacyImage is the image check for an envelope that names no rootfs
// layers: a file of the original layer-tool, which names its image's id
// only (every envelope.json has imageLayers). An image id is the digest
// of the image's configuration, and that lists the rootfs layers: the
// same id means the same layers. Another id may have them too, but
// nothing here tells, so that fails and --skip-image overrides.
func legacyImage(add func(string, envelope.Status, string, ...any), name, desc, id string, m *envelope.Meta) {
	switch want := m.Container.ImageID; {
	case want == "":
		add(name, envelope.Fail, "the envelope names neither its image's rootfs layers nor its id (--skip-image)")
	case id == want:
		add(name, envelope.Pass, "%s is the source image %s (%s) itself; the envelope names its id, not its rootfs layers", desc, m.Container.Image, short(id))
	default:
		add(name, envelope.Fail, "%s is not known to be the source image %s (%s): the envelope names its id, not its rootfs layers (--skip-image)", desc, m.Container.Image, short(want))
	}
}

// warnLegacy says, once, before an import of a file of the original
// layer-tool, what such a file cannot carry: the container gets none of
// it, and nothing else would tell.
func warnLegacy(prog, name string, m *envelope.Meta, s Streams) {
	if !envelope.IsLegacy(m) {
		return
	}
	mounts := ""
	if len(m.Omitted) > 0 {
		var dests []string
		for _, o := range m.Omitted {
			dests = append(dests, o.Destination)
		}
		mounts = fmt.Sprintf(" (the source had %d: %s)", len(dests), strings.Join(dests, ", "))
	}
	fmt.Fprintf(s.Stderr, "%s: warning: %s: not carried by a %s file: %s%s\n", prog, name, m.Format, envelope.LegacyNotCarried, mounts)
}

// errLegacyCreate: --create with a file of the original layer-tool,
// which holds no configuration to make a container from.
var errLegacyCreate = errors.New("a " + envelope.FormatLegacy + " file holds no container configuration to create from: create the container from its image and import into it")
