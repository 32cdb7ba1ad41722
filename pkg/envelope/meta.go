package envelope

import (
	"fmt"
	"slices"
	"time"
)

// The values of envelope.json's "format" field.
const (
	// Format is envelope v1: the layer alone.
	Format = "layer-tool.envelope/v1"
	// FormatV2 is envelope v2: the layer and the container's volumes.
	FormatV2 = "layer-tool.envelope/v2"
)

// Member names, in the order they stand in an envelope.
const (
	MemberEnvelope  = "envelope.json"
	MemberContainer = "container.json"
	MemberInfo      = "docker-info.json"
	MemberLayer     = "layer.tar"
	MemberTarSplit  = "layer.tar-split.json.gz"
	MemberSums      = "SHA256SUMS"
)

// Members lists the member names in envelope order.
var Members = []string{MemberEnvelope, MemberContainer, MemberInfo, MemberLayer, MemberTarSplit, MemberSums}

// Meta is the content of envelope.json.
type Meta struct {
	Format    string    `json:"format"`
	Created   time.Time `json:"created"`
	Producer  string    `json:"producer"`
	Container Container `json:"container"`
	Host      Host      `json:"host"`
	Layer     Layer     `json:"layer"`
	// Volumes (v2) are the volumes the envelope carries, in member order.
	Volumes []Volume `json:"volumes,omitempty"`
	// Omitted (v2) are the container's mounts the envelope does not
	// carry, each with the reason.
	Omitted []Omitted `json:"omitted,omitempty"`
}

// Volume describes a volume (or, with --binds, a directory bind mount)
// that an envelope v2 carries as a tree of its own.
type Volume struct {
	// Type is "volume" or "bind".
	Type string `json:"type"`
	// Name is the volume's name; empty for a bind.
	Name string `json:"name,omitempty"`
	// Anonymous: the engine named the volume itself (an image's VOLUME,
	// or -v /dest).
	Anonymous bool `json:"anonymous"`
	// Source is a bind mount's host directory at the source, for the
	// record; an import never writes there unless the target's own bind
	// has the same destination.
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	Driver      string `json:"driver,omitempty"`
	RW          bool   `json:"rw"`
	// Labels are the volume's labels, for re-creating it.
	Labels map[string]string `json:"labels,omitempty"`
	// Tar and TarSplit are its members' names, which the writer fixes
	// from the volume's position: "volumes/N.tar" and
	// "volumes/N.tar-split.json.gz".
	Tar      string `json:"tar"`
	TarSplit string `json:"tarSplit"`
	// Size and Entries are those of its tar, as for the layer, and
	// Skipped what it does not hold.
	Size    int64    `json:"size"`
	Entries int64    `json:"entries"`
	Skipped []string `json:"skipped,omitempty"`
}

// Omitted is a mount of the container that an envelope does not carry.
type Omitted struct {
	Type        string `json:"type"`
	Name        string `json:"name,omitempty"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	Reason      string `json:"reason"`
}

// VolumeTar and VolumeTarSplit are the member names of the volume at
// position i.
func VolumeTar(i int) string      { return fmt.Sprintf("volumes/%d.tar", i) }
func VolumeTarSplit(i int) string { return fmt.Sprintf("volumes/%d.tar-split.json.gz", i) }

// members lists the member names of an envelope with this metadata, in
// order: v1's, with each volume's tar and tar-split metadata before
// SHA256SUMS.
func (m *Meta) members() []string {
	if m == nil || m.Format != FormatV2 {
		return Members
	}
	out := slices.Clone(Members[:len(Members)-1])
	for i := range m.Volumes {
		out = append(out, VolumeTar(i), VolumeTarSplit(i))
	}
	return append(out, MemberSums)
}

// Container describes the container the layer came from.
type Container struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Image       string    `json:"image"`
	ImageID     string    `json:"imageId"`
	ImageLayers []string  `json:"imageLayers"`
	Created     time.Time `json:"created"`
	// StorageDriver is the engine's storage driver, or for a layer kept
	// in a containerd snapshot the snapshotter.
	StorageDriver string `json:"storageDriver"`
	// Store is where the layer was kept: "graphdriver" (Docker's classic
	// store, Podman) or "containerd" (a containerd snapshot: Docker 29's
	// containerd image store, nerdctl, ctr). Empty in envelopes written
	// before it was recorded.
	Store string `json:"store,omitempty"`
	// Namespace is the containerd namespace of a containerd snapshot.
	Namespace string `json:"namespace,omitempty"`
	// PausedAt, for a container exported with --pause, is when it was
	// frozen. How long it stayed frozen is known only after layer.tar,
	// which follows this member; layer-export prints it.
	PausedAt *time.Time `json:"pausedAt,omitempty"`
}

// Host describes the machine and daemon that wrote the envelope.
type Host struct {
	// Engine is "docker", "podman" or "containerd", where the API said;
	// dockerVersion is that engine's version.
	Engine        string `json:"engine,omitempty"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	Kernel        string `json:"kernel"`
	DockerVersion string `json:"dockerVersion"`
	APIVersion    string `json:"apiVersion"`
	StorageDriver string `json:"storageDriver"`
}

// Layer sums up layer.tar.
type Layer struct {
	Size    int64 `json:"size"`
	Entries int64 `json:"entries"`
	// Skipped names the entries of the tree that its tar does not hold
	// (sockets: a tar cannot), at most MaxSkipped of them; absent when
	// there are none.
	Skipped []string `json:"skipped,omitempty"`
}

// MaxSkipped bounds how many skipped entries envelope.json names for a
// tree; past it, the last name says how many more there were.
const MaxSkipped = 256
