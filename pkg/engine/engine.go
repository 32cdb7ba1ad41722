package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Errors that callers branch on.
var (
	// ErrUnreachable: no daemon answered.
	ErrUnreachable = errors.New("cannot reach the Docker daemon")
	// ErrNotFound: no container or image by that name.
	ErrNotFound = errors.New("not found")
	// ErrRunning: the container is running or paused.
	ErrRunning = errors.New("container is not stopped")
	// ErrDriver: the container's storage driver is not overlay.
	ErrDriver = errors.New("storage driver is not overlay2 (Docker) or overlay (Podman)")
)

// Overlay2 is Docker's name for the storage driver whose layers this tool
// reads; Podman (containers/storage) calls the same on-disk format
// "overlay": an upper dir of plain files with overlayfs whiteouts.
const Overlay2 = "overlay2"

// Overlay tells whether a storage driver keeps layers as overlayfs upper
// dirs: Docker's overlay2 or Podman's overlay.
func Overlay(driver string) bool { return driver == Overlay2 || driver == "overlay" }

// Engine is a connection to a Docker daemon.
type Engine struct {
	c *client.Client
}

// Open connects to the daemon that DOCKER_HOST names (or the default
// socket) and negotiates the API version.
func Open(ctx context.Context) (*Engine, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.DaemonHost(), err)
	}
	return &Engine{c: c}, nil
}

// Close releases the connection.
func (e *Engine) Close() error { return e.c.Close() }

// Container is what the tool needs to know of a container.
type Container struct {
	ID      string
	Name    string
	Image   string // the reference it was created from
	ImageID string
	Created time.Time
	Running bool
	Paused  bool
	Driver  string
	// UpperDir is the overlay's read-write directory on the host.
	UpperDir string
	// Inspect is the inspect document as the daemon sent it.
	Inspect json.RawMessage
}

// Container finds a container by name, id or unique id prefix; the daemon
// resolves the reference as the docker CLI does.
func (e *Engine) Container(ctx context.Context, ref string) (*Container, error) {
	res, err := e.c.ContainerInspect(ctx, ref, client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("container %q: %w", ref, ErrNotFound)
		}
		return nil, fmt.Errorf("inspect container %q: %w", ref, err)
	}
	in := res.Container
	c := &Container{
		ID:      in.ID,
		Name:    strings.TrimPrefix(in.Name, "/"),
		ImageID: in.Image,
		Driver:  in.Driver,
		Inspect: res.Raw,
	}
	if in.Config != nil {
		c.Image = in.Config.Image
	}
	if in.State != nil {
		c.Running, c.Paused = in.State.Running, in.State.Paused
	}
	if t, err := time.Parse(time.RFC3339Nano, in.Created); err == nil {
		c.Created = t
	}
	if in.GraphDriver != nil {
		c.Driver = in.GraphDriver.Name
		c.UpperDir = in.GraphDriver.Data["UpperDir"]
	}
	return c, nil
}

// Layer checks that the container's layer can be read or replaced as it
// stands: stopped, on overlay2, with an upper directory.
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
		return "", fmt.Errorf("container %s: the daemon reports no overlay UpperDir", c.Name)
	}
	return c.UpperDir, nil
}

// Pause freezes a running container's processes (the cgroup freezer), so
// that its file system holds still while it is read.
func (e *Engine) Pause(ctx context.Context, c *Container) error {
	if _, err := e.c.ContainerPause(ctx, c.ID, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", c.Name, err)
	}
	c.Paused = true
	return nil
}

// Unpause lets a paused container run again.
func (e *Engine) Unpause(ctx context.Context, c *Container) error {
	if _, err := e.c.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause %s: %w", c.Name, err)
	}
	c.Paused = false
	return nil
}

// ImageLayers returns the rootfs diffIDs of an image.
func (e *Engine) ImageLayers(ctx context.Context, ref string) ([]string, error) {
	res, err := e.c.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("image %q: %w", ref, ErrNotFound)
		}
		return nil, fmt.Errorf("inspect image %q: %w", ref, err)
	}
	return res.RootFS.Layers, nil
}

// Host describes the daemon and the machine it runs on.
type Host struct {
	OS, Arch, Kernel string
	// Engine is "docker" or "podman".
	Engine        string
	DockerVersion string
	APIVersion    string
	Driver        string
	// UserXattr: overlay2 keeps its attributes in user.overlay.*.
	UserXattr bool
	// Info is the /info document without credentials or volatile counters.
	Info json.RawMessage
}

// volatileInfo are /info fields left out of an envelope: proxy settings can
// carry credentials, and the counters change from one call to the next,
// which would make two exports of the same container differ.
var volatileInfo = []string{
	"HttpProxy", "HttpsProxy", "NoProxy",
	// Podman makes up a new ID on every call.
	"ID",
	"SystemTime", "NFd", "NGoroutines", "NEventsListener",
	"Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images",
}

// Host asks the daemon about itself.
func (e *Engine) Host(ctx context.Context) (*Host, error) {
	info, err := e.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker info: %w", err)
	}
	ver, err := e.c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker version: %w", err)
	}
	engineName := "docker"
	for _, c := range ver.Components {
		if strings.HasPrefix(c.Name, "Podman") {
			engineName = "podman"
		}
	}
	h := &Host{
		Engine:        engineName,
		OS:            ver.Os,
		Arch:          ver.Arch,
		Kernel:        info.Info.KernelVersion,
		DockerVersion: ver.Version,
		APIVersion:    ver.APIVersion,
		Driver:        info.Info.Driver,
	}
	for _, kv := range info.Info.DriverStatus {
		if kv[0] == "userxattr" && kv[1] == "true" {
			h.UserXattr = true
		}
	}
	// Podman lists DriverStatus in a different order on every call.
	sort.Slice(info.Info.DriverStatus, func(i, j int) bool {
		return info.Info.DriverStatus[i][0] < info.Info.DriverStatus[j][0]
	})
	raw, err := json.Marshal(info.Info)
	if err != nil {
		return nil, fmt.Errorf("encode docker info: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode docker info: %w", err)
	}
	for _, k := range volatileInfo {
		delete(doc, k)
	}
	if h.Info, err = json.MarshalIndent(doc, "", "  "); err != nil {
		return nil, fmt.Errorf("encode docker info: %w", err)
	}
	return h, nil
}
