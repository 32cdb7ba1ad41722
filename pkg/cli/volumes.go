package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
)

// volumeFilter is --volumes: all (the default), none, or a comma list of
// volume names and mount destinations.
type volumeFilter struct {
	all, none bool
	names     map[string]bool
	used      map[string]bool
}

func parseVolumeFilter(s string) (*volumeFilter, error) {
	switch s {
	case "", "all":
		return &volumeFilter{all: true}, nil
	case "none":
		return &volumeFilter{none: true}, nil
	}
	f := &volumeFilter{names: map[string]bool{}, used: map[string]bool{}}
	for _, n := range strings.Split(s, ",") {
		if n == "" || n == "all" || n == "none" {
			return nil, fmt.Errorf("%q: want all, none, or volume names and mount destinations separated by commas", s)
		}
		f.names[n] = true
	}
	return f, nil
}

// picks tells whether the volume called name mounted at dest is chosen.
func (f *volumeFilter) picks(name, dest string) bool {
	switch {
	case f.all:
		return true
	case f.none:
		return false
	}
	for _, n := range []string{name, dest} {
		if n != "" && f.names[n] {
			f.used[n] = true
			return true
		}
	}
	return false
}

// unused is an error naming a name of the list that chose nothing in
// where ("container web", "the envelope").
func (f *volumeFilter) unused(where string) error {
	for n := range f.names {
		if !f.used[n] {
			return usagef("--volumes: %s has no volume or mount destination %q", where, n)
		}
	}
	return nil
}

// exportPlan is what an export carries of a container's mounts, and what
// it leaves out.
type exportPlan struct {
	carried []carriedVolume
	omitted []envelope.Omitted
}

// carriedVolume is a mount whose directory goes into the envelope.
type carriedVolume struct {
	meta envelope.Volume
	dir  string
}

// planMounts sorts the container's mounts into those the envelope carries
// and those it leaves out, with the reason: only a directory that holds
// the data whether the container runs or not can be carried.
func planMounts(c *engine.Container, f *volumeFilter, binds bool) exportPlan {
	var p exportPlan
	omit := func(m engine.Mount, format string, args ...any) {
		p.omitted = append(p.omitted, envelope.Omitted{Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination, Reason: fmt.Sprintf(format, args...)})
	}
	for _, m := range c.Mounts {
		switch {
		case m.Type == "tmpfs":
			omit(m, "a tmpfs lives in memory only")
		case m.Type == "volume" && m.Driver != "" && m.Driver != "local":
			omit(m, "volume driver %q keeps its data elsewhere", m.Driver)
		case m.Type == "volume" && mountsSomething(m.Options):
			omit(m, "local volume with mount options (%s): the engine mounts it only while the container runs, so its directory holds nothing to read", options(m.Options))
		case m.Type == "bind" && !binds:
			omit(m, "bind mount (--binds carries directory binds)")
		case m.Type == "bind" && !isDir(m.Source):
			omit(m, "bind mount of something other than a directory")
		case m.Type != "volume" && m.Type != "bind":
			omit(m, "mount type %q is not carried", m.Type)
		case !f.picks(m.Name, m.Destination):
			omit(m, "left out by --volumes")
		default:
			v := envelope.Volume{Type: m.Type, Name: m.Name, Anonymous: m.Anonymous, Destination: m.Destination, Driver: m.Driver, RW: m.RW, Labels: m.Labels}
			if m.Type == "bind" {
				v.Name, v.Source = "", m.Source
			}
			p.carried = append(p.carried, carriedVolume{meta: v, dir: m.Source})
		}
	}
	return p
}

// mountsSomething tells whether a local volume's options make the engine
// mount a file system on it (type, device): such a volume's directory is
// empty while no container runs. Other options (Podman's uid, gid, size)
// leave it a plain directory.
func mountsSomething(o map[string]string) bool {
	return o["type"] != "" || o["device"] != ""
}

// plainDir tells whether a mount's data is a directory that holds it
// whether the container runs or not: a plain local volume, or a directory
// bind.
func plainDir(m engine.Mount) bool {
	switch m.Type {
	case "volume":
		return (m.Driver == "" || m.Driver == "local") && !mountsSomething(m.Options)
	case "bind":
		return isDir(m.Source)
	}
	return false
}

func options(o map[string]string) string {
	var parts []string
	for _, k := range []string{"type", "device", "o"} {
		if v, ok := o[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		for k, v := range o {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

func isDir(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && st.IsDir()
}

// checkNotShared refuses a carried volume that another running container
// mounts too: freezing this container does not hold that volume still.
func checkNotShared(ctx context.Context, eng engine.Engine, c *engine.Container, carried []carriedVolume) error {
	for _, v := range carried {
		if v.meta.Type != "volume" {
			continue
		}
		users, err := eng.VolumeUsers(ctx, v.meta.Name, c.ID)
		if err != nil {
			return err
		}
		for _, u := range users {
			if u.Running {
				return fmt.Errorf("volume %s (at %s) is also mounted by running container %s, which this export cannot hold still; stop it, or leave the volume out with --volumes", v.meta.Name, v.meta.Destination, u.Name)
			}
		}
	}
	return nil
}

// describeMount names a mount for a message: its destination, and its
// volume name or bind source.
func describeMount(o envelope.Omitted) string {
	switch {
	case o.Name != "":
		return fmt.Sprintf("%s (%s %s)", o.Destination, o.Type, o.Name)
	case o.Source != "":
		return fmt.Sprintf("%s (%s %s)", o.Destination, o.Type, o.Source)
	}
	return fmt.Sprintf("%s (%s)", o.Destination, o.Type)
}

// importDests finds, for each volume of the envelope, the directory of
// the target container's mount at the same destination that it replaces
// ("" for a volume --volumes leaves out). A volume the target has no
// plain-directory mount for, a bind without --binds, and a volume that
// another container uses (without --shared-volumes) are refused by name.
func importDests(ctx context.Context, eng engine.Engine, c *engine.Container, m *envelope.Meta, f importFlags) ([]string, error) {
	dirs := make([]string, len(m.Volumes))
	for i, v := range m.Volumes {
		if !f.volumes.picks(v.Name, v.Destination) {
			continue
		}
		tm, ok := mountAt(c, v.Destination)
		what := "volume " + v.Name
		if v.Type == "bind" {
			what = "bind mount"
		}
		switch {
		case !ok:
			return nil, fmt.Errorf("envelope carries %s at %s; container %s has no volume there (create it with -v NAME:%s, or leave it out with --volumes)", what, v.Destination, c.Name, v.Destination)
		case v.Type == "bind" && !f.binds:
			return nil, fmt.Errorf("envelope carries a bind mount at %s: restore it with --binds, or leave it out with --volumes", v.Destination)
		case v.Type == "bind" && f.create:
			// The bind's host path came from the envelope: an import must
			// never let an envelope choose a host directory to replace.
			return nil, fmt.Errorf("envelope carries a bind mount at %s: --create does not restore into a bind it made from the envelope; create the container with the bind by hand and import with --binds, or leave it out with --volumes", v.Destination)
		case v.Type == "bind" && (tm.Type != "bind" || !plainDir(tm)):
			return nil, fmt.Errorf("envelope carries a bind mount at %s; container %s has a %s there, not a directory bind", v.Destination, c.Name, tm.Type)
		case v.Type == "volume" && (tm.Type != "volume" || !plainDir(tm)):
			return nil, fmt.Errorf("envelope carries %s at %s; container %s's mount there is not a plain local volume", what, v.Destination, c.Name)
		}
		if tm.Type == "volume" && !f.shared {
			users, err := eng.VolumeUsers(ctx, tm.Name, c.ID)
			if err != nil {
				return nil, err
			}
			if len(users) > 0 {
				return nil, fmt.Errorf("volume %s (at %s) is also used by container %s: replacing it changes that container's data too (--shared-volumes)", tm.Name, v.Destination, users[0].Name)
			}
		}
		dirs[i] = tm.Source
	}
	if err := f.volumes.unused("the envelope"); err != nil {
		return nil, err
	}
	return dirs, nil
}

// mountAt is the container's mount at destination dest.
func mountAt(c *engine.Container, dest string) (engine.Mount, bool) {
	for _, m := range c.Mounts {
		if m.Destination == dest {
			return m, true
		}
	}
	return engine.Mount{}, false
}
