package envelope

import "time"

// Format is the value of envelope.json's "format" field for envelope v1.
const Format = "layer-tool.envelope/v1"

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
}
