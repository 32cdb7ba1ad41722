package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Errors that callers branch on.
var (
	// ErrUnreachable: no engine answered.
	ErrUnreachable = errors.New("cannot reach")
	// ErrNotFound: no container or image by that name.
	ErrNotFound = errors.New("not found")
	// ErrRunning: the container is running or paused.
	ErrRunning = errors.New("container is not stopped")
	// ErrDriver: the container's storage driver is not overlay.
	ErrDriver = errors.New("storage is not overlay2 (Docker), overlay (Podman) or overlayfs (containerd)")
	// ErrNoSnapshot: the container exists, but the containerd reached has
	// no snapshot for it.
	ErrNoSnapshot = errors.New("no such snapshot")
)

// Overlay2 is Docker's name for the storage driver whose layers this tool
// reads. Podman (containers/storage) calls the same on-disk format
// "overlay", and containerd's snapshotter "overlayfs": each keeps a
// container's layer as an upper dir of plain files with overlayfs
// whiteouts.
const Overlay2 = "overlay2"

// Overlay tells whether a storage driver or snapshotter keeps layers as
// overlayfs upper dirs: Docker's overlay2, Podman's overlay or
// containerd's overlayfs.
func Overlay(driver string) bool {
	return driver == Overlay2 || driver == "overlay" || driver == Snapshotter
}

// Where a container's layer is kept (Container.Store).
const (
	// StoreGraphDriver: the engine's own storage driver keeps it (Docker's
	// classic store, Podman's containers/storage); the inspect document
	// names the upper dir.
	StoreGraphDriver = "graphdriver"
	// StoreContainerd: it is a containerd snapshot (Docker 29's containerd
	// image store, nerdctl, plain containerd).
	StoreContainerd = "containerd"
)

// Engine is a connection to a container engine: a Docker-compatible API
// (Docker, Podman) or containerd.
type Engine interface {
	// Container finds a container by name, id or unique id prefix.
	Container(ctx context.Context, ref string) (*Container, error)
	// Pause freezes a running container's processes (the cgroup
	// freezer), so that its file system holds still while it is read.
	Pause(ctx context.Context, c *Container) error
	// Unpause lets a paused container run again.
	Unpause(ctx context.Context, c *Container) error
	// ImageLayers returns the rootfs diffIDs of an image.
	ImageLayers(ctx context.Context, ref string) ([]string, error)
	// ContainerImage returns the id and rootfs diffIDs of the image the
	// container was made from, checked, where the engine can tell, against
	// the layers the container's snapshot sits on.
	ContainerImage(ctx context.Context, c *Container) (id string, layers []string, err error)
	// VolumeUsers returns every container, stopped or not, other than the
	// one whose id is except, that mounts the volume called name: a volume
	// that another container also uses cannot be frozen with one
	// container, and replacing it changes that container's data too.
	VolumeUsers(ctx context.Context, name, except string) ([]VolumeUser, error)
	// Host describes the engine and the machine it runs on.
	Host(ctx context.Context) (*Host, error)
	// PlanCreate decides, without changing anything, how a container
	// like the one whose inspect document raw is would be made here from
	// the image with that id, reference and rootfs diffIDs (see
	// CreatePlan and createFields).
	PlanCreate(ctx context.Context, raw json.RawMessage, imageID, imageRef string, layers []string, opts CreateOptions) (*CreatePlan, error)
	// Create makes the stopped container, and the named volumes it
	// needs, as planned; undo removes what it made.
	Create(ctx context.Context, p *CreatePlan) (id string, undo func(context.Context) error, err error)
	Close() error
}

// Options choose the engine.
type Options struct {
	// ContainerdAddress, when set, is the socket of a containerd to use
	// directly instead of a Docker-compatible API.
	ContainerdAddress string
	// Namespace is the containerd namespace (default: $CONTAINERD_NAMESPACE,
	// else "default", as ctr and nerdctl have it).
	Namespace string
}

// Open connects to containerd when opts name its socket, and otherwise to
// the Docker-compatible daemon that DOCKER_HOST names (or the default
// socket), negotiating the API version.
func Open(ctx context.Context, opts Options) (Engine, error) {
	if opts.ContainerdAddress != "" {
		ns := opts.Namespace
		if ns == "" {
			ns = os.Getenv("CONTAINERD_NAMESPACE")
		}
		if ns == "" {
			ns = DefaultNamespace
		}
		return openContainerd(ctx, opts.ContainerdAddress, ns)
	}
	return openDocker(ctx)
}

// Container is what the tool needs to know of a container.
type Container struct {
	ID    string
	Name  string
	Image string // the reference it was created from
	// ImageID is the image's id where the engine's inspect document gives
	// it (Docker, Podman); ContainerImage gives it for containerd.
	ImageID string
	Created time.Time
	Running bool
	Paused  bool
	// Driver is the storage driver, or the snapshotter of a containerd
	// snapshot.
	Driver string
	// Store is StoreGraphDriver or StoreContainerd.
	Store string
	// Namespace is the containerd namespace of a containerd snapshot.
	Namespace string
	// UpperDir is the overlay's read-write directory on the host.
	UpperDir string
	// UserXattr: the overlay keeps its attributes in user.overlay.*
	// (a containerd snapshot mounted with the userxattr option).
	UserXattr bool
	// Inspect is the inspect document as the daemon sent it (for
	// containerd, the container record as JSON).
	Inspect json.RawMessage
	// Mounts are what the container's user had mounted in it, in the
	// order of their destinations; a volume's comes with its driver's
	// options and its labels.
	Mounts []Mount

	snapshotKey string // of a container found through containerd's API
}

// Layer checks that the container's layer can be read or replaced as it
// stands: stopped, on overlay, with an upper directory.
func (c *Container) Layer() (string, error) {
	if c.Running || c.Paused {
		state := "running"
		if c.Paused {
			state = "paused"
		}
		return "", fmt.Errorf("container %s is %s; stop it first, or export with --pause: %w", c.Name, state, ErrRunning)
	}
	return c.upper()
}

// FrozenLayer is Layer for a container that is paused for the read.
func (c *Container) FrozenLayer() (string, error) {
	if c.Running && !c.Paused {
		return "", fmt.Errorf("container %s is running, not paused: %w", c.Name, ErrRunning)
	}
	return c.upper()
}

func (c *Container) upper() (string, error) {
	if !Overlay(c.Driver) {
		return "", fmt.Errorf("container %s uses storage driver %q: %w", c.Name, c.Driver, ErrDriver)
	}
	if c.UpperDir == "" {
		return "", fmt.Errorf("container %s: the engine reports no overlay upper dir", c.Name)
	}
	return c.UpperDir, nil
}

// Host describes the engine and the machine it runs on.
type Host struct {
	OS, Arch, Kernel string
	// Engine is "docker", "podman" or "containerd".
	Engine string
	// Version is the engine's version: Docker's, Podman's or containerd's.
	Version string
	// APIVersion is the Docker-compatible API version negotiated (empty
	// for containerd).
	APIVersion string
	// Driver is the daemon's storage driver (Docker, Podman) or, for
	// containerd, Snapshotter when that plugin loaded; empty when
	// containerd has no overlayfs snapshotter.
	Driver string
	// Snapshotters are the snapshotter plugins containerd loaded, sorted
	// (containerd only): what it has instead, when Driver is empty.
	Snapshotters []string
	// UserXattr: overlay2 keeps its attributes in user.overlay.*.
	UserXattr bool
	// Info is the /info document without credentials or volatile counters
	// (for containerd, a description of the daemon).
	Info json.RawMessage
}

// DriverDescription is Driver, or for a containerd without the overlayfs
// snapshotter a phrase that says so and names the snapshotters it has:
// what an envelope records as the host's storage driver, and what a
// message quotes, so that both say why there is no layer to read.
func (h *Host) DriverDescription() string {
	if h.Engine == "containerd" && h.Driver == "" {
		return "no overlayfs snapshotter (" + strings.Join(h.Snapshotters, ", ") + ")"
	}
	return h.Driver
}
