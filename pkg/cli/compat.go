package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
)

// Names of the host checks, in the order they are made.
const (
	checkOS      = "os"
	checkArch    = "arch"
	checkStorage = "storage"
	checkImage   = "image"
	checkExpect  = "expect"
)

// hostChecks lists the host checks in the order they are made: the cheap
// comparisons first, the image look-up last.
var hostChecks = []string{checkOS, checkArch, checkStorage, checkImage}

// skips says which host checks to leave out.
type skips struct{ os, arch, storage, image bool }

// skipAll is --offline: no host check, no daemon needed.
var skipAll = skips{os: true, arch: true, storage: true, image: true}

// addSkipFlags adds --skip-NAME for each host check, with the command's
// help for each.
func addSkipFlags(fs *flag.FlagSet, help map[string]string) *skips {
	s := &skips{}
	for name, p := range map[string]*bool{checkOS: &s.os, checkArch: &s.arch, checkStorage: &s.storage, checkImage: &s.image} {
		fs.BoolVar(p, "skip-"+name, false, help[name])
	}
	return s
}

// has tells whether the host check name is left out.
func (s skips) has(name string) bool {
	switch name {
	case checkOS:
		return s.os
	case checkArch:
		return s.arch
	case checkStorage:
		return s.storage
	case checkImage:
		return s.image
	}
	return false
}

// here is this host's side of the host checks.
type here struct {
	os, arch string
	// driver is the storage driver (or snapshotter) the layer would be
	// written into, as a description.
	driver string
	// image finds the image the envelope's layer must sit on here and
	// describes it for messages: for an import, the target container's
	// image; for a check, the source image, by id, then by reference.
	// id is the image's id, where known.
	image func(ctx context.Context) (desc, id string, layers []string, err error)
}

// compatibility is the one policy of whether an envelope fits this host:
// os, arch, storage and image, each a check that passes, fails (naming
// the --skip flag that overrides it) or is skipped. layer-import stops at
// the first failure; layer-check reports them all. A check is made only
// when it is not skipped, so a skipped image check asks the engine
// nothing. cause is the first failure as an error, wrapping the engine's
// error where there is one, for a caller that stops there.
func compatibility(ctx context.Context, m *envelope.Meta, h here, skip skips, stopAtFail bool) (out []envelope.Check, cause error) {
	add := func(name string, s envelope.Status, format string, args ...any) {
		out = append(out, envelope.Check{Name: name, Status: s, Message: fmt.Sprintf(format, args...)})
		if s == envelope.Fail && cause == nil {
			cause = errors.New(out[len(out)-1].Message)
		}
	}
	for _, name := range hostChecks {
		if stopAtFail && len(out) > 0 && out[len(out)-1].Status == envelope.Fail {
			break
		}
		if skip.has(name) {
			add(name, envelope.Skip, "skipped by --skip-%s", name)
			continue
		}
		switch name {
		case checkOS:
			compare(add, name, m.Host.OS, h.os)
		case checkArch:
			compare(add, name, m.Host.Arch, h.arch)
		case checkStorage:
			// The source and this host both keep overlayfs upper dirs.
			switch {
			case !engine.Overlay(m.Container.StorageDriver):
				add(name, envelope.Fail, "envelope's layer comes from storage driver %q, not overlay2, overlay or overlayfs (--skip-storage)", m.Container.StorageDriver)
			case !engine.Overlay(h.driver):
				add(name, envelope.Fail, "this daemon uses %q, not overlay2, overlay or overlayfs (--skip-storage)", h.driver)
			default:
				add(name, envelope.Pass, "%s here, %s at the source: the same on-disk format", h.driver, m.Container.StorageDriver)
			}
		case checkImage:
			desc, id, layers, err := h.image(ctx)
			switch {
			case err != nil:
				cause = fmt.Errorf("%w (--skip-image)", err)
				add(name, envelope.Fail, "%v", cause)
			case m.Container.ImageLayers == nil:
				legacyImage(add, name, desc, id, m)
			case !slices.Equal(layers, m.Container.ImageLayers):
				add(name, envelope.Fail, "%s has other rootfs layers than the envelope's source image %s (--skip-image)", desc, m.Container.Image)
			default:
				add(name, envelope.Pass, "%s has the same %d rootfs layers", desc, len(layers))
			}
		}
	}
	return out, cause
}

func compare(add func(string, envelope.Status, string, ...any), name, theirs, ours string) {
	if theirs == "" {
		add(name, envelope.Fail, "the envelope does not say its %s (--skip-%s)", name, name)
		return
	}
	if theirs == ours {
		add(name, envelope.Pass, "%s here too", ours)
		return
	}
	add(name, envelope.Fail, "envelope is from %s, this host is %s (--skip-%s)", theirs, ours, name)
}

// importHere is the target container's side of the host checks (c nil:
// a container that --create is yet to make).
func importHere(eng engine.Engine, c *engine.Container, host *engine.Host) here {
	if c == nil {
		// A container yet to be made (--create): the daemon's storage;
		// its image is checked when the container is planned.
		return here{os: host.OS, arch: host.Arch, driver: host.DriverDescription(),
			image: func(context.Context) (string, string, []string, error) {
				return "", "", nil, errors.New("no target container")
			}}
	}
	return here{
		os: host.OS, arch: host.Arch, driver: c.Driver,
		image: func(ctx context.Context) (string, string, []string, error) {
			id, layers, err := eng.ContainerImage(ctx, c)
			return fmt.Sprintf("container %s's image %s", c.Name, c.Image), id, layers, err
		},
	}
}

// checkHere is this host's side for layer-check: the source image, found
// by its id, else by its reference.
func checkHere(eng engine.Engine, host *engine.Host, m *envelope.Meta) here {
	return here{
		os: host.OS, arch: host.Arch, driver: host.DriverDescription(),
		image: func(ctx context.Context) (string, string, []string, error) {
			var layers []string
			var id string
			var err error
			for _, ref := range []string{m.Container.ImageID, m.Container.Image} {
				if ref == "" {
					continue
				}
				if layers, err = eng.ImageLayers(ctx, ref); err == nil {
					// Found by id, it is that image; by reference,
					// whichever the reference names here.
					if ref == m.Container.ImageID {
						id = ref
					}
					break
				}
			}
			if err != nil {
				return "", "", nil, fmt.Errorf("source image %s (%s) not on this host: %w", m.Container.Image, short(m.Container.ImageID), err)
			}
			return fmt.Sprintf("image %s here", m.Container.Image), id, layers, nil
		},
	}
}

// gateImport refuses an envelope that does not fit the target container:
// the first failing host check.
func gateImport(ctx context.Context, eng engine.Engine, c *engine.Container, host *engine.Host, skip skips, m *envelope.Meta) error {
	_, cause := compatibility(ctx, m, importHere(eng, c, host), skip, true)
	return cause
}
