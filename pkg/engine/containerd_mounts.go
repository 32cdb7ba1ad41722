package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
)

// What nerdctl records of a container's mounts in the labels of its
// containerd record (nerdctl's pkg/labels and its create command). The
// mounts are a JSON list of Docker-style mount points
// (dockercompat.MountPoint: Type "volume", "bind", "tmpfs" or "image",
// Name, Source, Destination, Driver "local" for a volume, Mode, RW,
// Propagation), a volume's Source being its _data dir under nerdctl's
// data root (.../volumes/NAMESPACE/NAME/_data). nerdctl 0.19 to 2.3.1
// keep the list in one label; 2.3.2 and later keep each mount point in a
// label of its own, numbered from 0, because one label for all of them
// could pass containerd's limit on a label's size; the one-label form is
// read first, as nerdctl does (labels.GetMount).
const (
	nerdctlMounts = "nerdctl/mounts"
	// nerdctlMountN is followed by the mount point's index.
	nerdctlMountN = "nerdctl/mounts."
	// nerdctlAnonymous is a JSON list of the names of the volumes nerdctl
	// made for the container (an image's VOLUME, `-v /dest`).
	nerdctlAnonymous = "nerdctl/anonymous-volumes"
)

// nerdctlMountPoints reads the mount points nerdctl recorded in a
// container's labels; none for a container nerdctl did not make.
func nerdctlMountPoints(labels map[string]string) ([]dockerMount, error) {
	doc := labels[nerdctlMounts]
	if doc == "" {
		var parts []string
		for i := 0; ; i++ {
			p := labels[fmt.Sprintf("%s%d", nerdctlMountN, i)]
			if p == "" {
				break
			}
			parts = append(parts, p)
		}
		if len(parts) == 0 {
			return nil, nil
		}
		doc = "[" + strings.Join(parts, ",") + "]"
	}
	var points []dockerMount
	if err := json.Unmarshal([]byte(doc), &points); err != nil {
		return nil, fmt.Errorf("label %s: %w", nerdctlMounts, err)
	}
	return points, nil
}

// specMount is a mount of an OCI runtime spec.
type specMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options"`
}

// runtimeMounts are the destinations of what containerd's default spec
// (pkg/oci defaultMounts: /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue,
// /sys, /run) and nerdctl (the cgroup file system, a /dev/shm of its own)
// mount into every container.
var runtimeMounts = map[string]bool{
	"/proc": true, "/dev": true, "/dev/pts": true, "/dev/shm": true, "/dev/mqueue": true,
	"/sys": true, "/sys/fs/cgroup": true, "/run": true,
}

// runtimeFS are the file system types that only the runtime mounts.
var runtimeFS = map[string]bool{
	"proc": true, "sysfs": true, "devpts": true, "mqueue": true, "cgroup": true, "cgroup2": true,
}

// containerdMounts lists a containerd container's mounts: those nerdctl
// recorded, and then those of its runtime spec that neither nerdctl
// recorded nor the runtime or the engine mount for themselves (the mounts
// of a container made with ctr, say), so that none goes unlisted.
func containerdMounts(rec *containersapi.Container) ([]Mount, error) {
	points, err := nerdctlMountPoints(rec.Labels)
	if err != nil {
		return nil, err
	}
	var anon []string
	if a := rec.Labels[nerdctlAnonymous]; a != "" {
		if err := json.Unmarshal([]byte(a), &anon); err != nil {
			return nil, fmt.Errorf("label %s: %w", nerdctlAnonymous, err)
		}
	}
	var ms []Mount
	seen := map[string]bool{}
	for _, p := range points {
		if engineFile(p.Destination) {
			continue
		}
		seen[path.Clean(p.Destination)] = true
		m := Mount{Type: p.Type, Name: p.Name, Source: p.Source, Destination: p.Destination, Driver: p.Driver, RW: p.RW}
		switch m.Type {
		case MountTmpfs:
			// nerdctl records a tmpfs's source as the word "tmpfs" (the
			// runtime spec's), which is no path; Docker's API leaves it
			// empty, and so does fromSpec.
			m.Source = ""
		case MountVolume:
			if m.Driver == "" {
				m.Driver = DriverLocal
			}
			m.Anonymous = slices.Contains(anon, m.Name)
		}
		ms = append(ms, m)
	}
	var spec struct {
		Mounts []specMount `json:"mounts"`
	}
	if rec.Spec != nil && len(rec.Spec.Value) > 0 {
		if err := json.Unmarshal(rec.Spec.Value, &spec); err != nil {
			return nil, fmt.Errorf("runtime spec: %w", err)
		}
	}
	for _, s := range spec.Mounts {
		dest := path.Clean(s.Destination)
		if seen[dest] || runtimeMounts[dest] || runtimeFS[s.Type] || engineFile(dest) {
			continue
		}
		seen[dest] = true
		ms = append(ms, fromSpec(s))
	}
	sortMounts(ms)
	return ms, nil
}

// fromSpec describes a mount of a runtime spec as the Docker API would:
// a bind (type "bind", or any type with a bind option, as runc has it),
// a tmpfs, or its type.
func fromSpec(s specMount) Mount {
	m := Mount{Type: s.Type, Source: s.Source, Destination: s.Destination, RW: !hasOption(s.Options, "ro")}
	switch {
	case s.Type == MountBind || hasOption(s.Options, "bind") || hasOption(s.Options, "rbind"):
		m.Type = MountBind
	case s.Type == MountTmpfs:
		m.Source = ""
	}
	return m
}

// VolumeUsers lists the containers of the namespace whose nerdctl labels
// name volume name among their mounts, as nerdctl's own `volume rm` finds
// a volume's users.
func (e *Containerd) VolumeUsers(ctx context.Context, name, except string) ([]VolumeUser, error) {
	var users []VolumeUser
	var bad error
	err := e.eachContainer(ctx, func(c *containersapi.Container) {
		if c.ID == except || bad != nil {
			return
		}
		points, err := nerdctlMountPoints(c.Labels)
		if err != nil {
			bad = fmt.Errorf("container %s: %w", c.ID, err)
			return
		}
		for _, p := range points {
			if p.Type == MountVolume && p.Name == name {
				u := VolumeUser{ID: c.ID, Name: c.ID}
				if n := c.Labels[nerdctlName]; n != "" {
					u.Name = n
				}
				users = append(users, u)
				return
			}
		}
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("containers using volume %q: %w", name, err)
	}
	for i := range users {
		if users[i].Running, _, err = e.taskState(ctx, users[i].ID); err != nil {
			return nil, fmt.Errorf("containers using volume %q: %w", name, err)
		}
	}
	sortUsers(users)
	return users, nil
}
