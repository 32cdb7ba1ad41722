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

// Docker is a Docker-compatible Engine API: Docker's or Podman's.
type Docker struct {
	c *client.Client
	// ctrd is the containerd behind Docker's containerd image store,
	// dialled the first time a container's layer is a snapshot.
	ctrd *ctrdConn
	// podman: the daemon is Podman (nil until asked).
	podman *bool
}

// Where Docker's containerd image store keeps its containers when /info
// does not say (API < 1.46).
const (
	dockerContainerdAddress   = "/run/containerd/containerd.sock"
	dockerContainerdNamespace = "moby"
)

func openDocker(ctx context.Context) (*Docker, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w the Docker daemon at %s: %v", ErrUnreachable, c.DaemonHost(), err)
	}
	return &Docker{c: c}, nil
}

// Close releases the connections.
func (e *Docker) Close() error {
	if e.ctrd != nil {
		e.ctrd.Close()
	}
	return e.c.Close()
}

// Container finds a container by name, id or unique id prefix; the daemon
// resolves the reference as the docker CLI does. On Docker's containerd
// image store the inspect document names only the snapshotter; the upper
// dir then comes from containerd's snapshot service.
func (e *Docker) Container(ctx context.Context, ref string) (*Container, error) {
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
		Store:   StoreGraphDriver,
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
	points := make([]dockerMount, len(in.Mounts))
	for i, p := range in.Mounts {
		points[i] = dockerMount{Type: string(p.Type), Name: p.Name, Source: p.Source, Destination: p.Destination, Driver: p.Driver, RW: p.RW}
	}
	var tmpfs map[string]string
	if in.HostConfig != nil {
		tmpfs = in.HostConfig.Tmpfs
	}
	if c.Mounts, err = e.mounts(ctx, points, tmpfs); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	snapshotter := ""
	switch {
	case in.Storage != nil && in.Storage.RootFS != nil && in.Storage.RootFS.Snapshot != nil:
		// API 1.52+ on the containerd image store.
		snapshotter = in.Storage.RootFS.Snapshot.Name
	case in.GraphDriver != nil && in.GraphDriver.Name == Snapshotter && in.GraphDriver.Data["UpperDir"] == "":
		// API 1.51 and older on the containerd image store: the
		// snapshotter's name where the driver's was, with no data.
		snapshotter = in.GraphDriver.Name
	case in.GraphDriver != nil:
		c.Driver = in.GraphDriver.Name
		c.UpperDir = in.GraphDriver.Data["UpperDir"]
		return c, nil
	default:
		return c, nil
	}
	c.Driver, c.Store = snapshotter, StoreContainerd
	if !Overlay(snapshotter) {
		return c, nil // upper() names the snapshotter
	}
	// The snapshot is on the daemon's host, where /info's socket is.
	if host := e.c.DaemonHost(); !strings.HasPrefix(host, "unix://") {
		return nil, fmt.Errorf("container %s is in Docker's containerd image store, whose snapshots only the daemon's containerd can show: DOCKER_HOST=%s must be a unix:// socket, on the daemon's host", c.Name, host)
	}
	conn, err := e.containerd(ctx)
	if err != nil {
		return nil, err
	}
	c.Namespace = conn.ns
	// Docker's snapshot key is the container id (its parent is <id>-init).
	if c.UpperDir, c.UserXattr, err = conn.upperDir(ctx, snapshotter, c.ID); err != nil {
		if errors.Is(err, ErrNoSnapshot) {
			err = fmt.Errorf("%w; is %s the containerd of the daemon at %s?", err, conn.addr, e.c.DaemonHost())
		}
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	return c, nil
}

// containerd dials the containerd that /info names.
func (e *Docker) containerd(ctx context.Context) (*ctrdConn, error) {
	if e.ctrd != nil {
		return e.ctrd, nil
	}
	addr, ns := dockerContainerdAddress, dockerContainerdNamespace
	info, err := e.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker info: %w", err)
	}
	if ci := info.Info.Containerd; ci != nil {
		if ci.Address != "" {
			addr = ci.Address
		}
		if ci.Namespaces.Containers != "" {
			ns = ci.Namespaces.Containers
		}
	}
	conn, err := dialContainerd(ctx, addr, ns)
	if err != nil {
		return nil, fmt.Errorf("Docker's containerd image store: %w", err)
	}
	e.ctrd = conn
	return conn, nil
}

// Pause freezes a running container's processes (the cgroup freezer), so
// that its file system holds still while it is read.
func (e *Docker) Pause(ctx context.Context, c *Container) error {
	if _, err := e.c.ContainerPause(ctx, c.ID, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", c.Name, err)
	}
	c.Paused = true
	return nil
}

// Unpause lets a paused container run again.
func (e *Docker) Unpause(ctx context.Context, c *Container) error {
	if _, err := e.c.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause %s: %w", c.Name, err)
	}
	c.Paused = false
	return nil
}

// ContainerImage returns the container's image id and its diffIDs. On the
// containerd image store, whose image inspect answers for the host's
// platform, the diffIDs must also be the layers the container's snapshot
// sits on (a container made with --platform sits on others).
func (e *Docker) ContainerImage(ctx context.Context, c *Container) (string, []string, error) {
	layers, err := e.ImageLayers(ctx, c.ImageID)
	if err != nil || c.Store != StoreContainerd || e.ctrd == nil {
		return c.ImageID, layers, err
	}
	chain, err := e.ctrd.layerChain(ctx, c.Driver, c.ID)
	if err != nil {
		return "", nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	if chainID(layers) != chain {
		return "", nil, fmt.Errorf("container %s: image %s: %w", c.Name, c.ImageID, errOtherLayers)
	}
	return c.ImageID, layers, nil
}

// ImageLayers returns the rootfs diffIDs of an image.
func (e *Docker) ImageLayers(ctx context.Context, ref string) ([]string, error) {
	res, err := e.c.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("image %q: %w", ref, ErrNotFound)
		}
		return nil, fmt.Errorf("inspect image %q: %w", ref, err)
	}
	return res.RootFS.Layers, nil
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
func (e *Docker) Host(ctx context.Context) (*Host, error) {
	info, err := e.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker info: %w", err)
	}
	ver, err := e.c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker version: %w", err)
	}
	podman := isPodmanVersion(ver)
	e.podman = &podman
	engineName := "docker"
	if podman {
		engineName = "podman"
	}
	h := &Host{
		Engine:     engineName,
		OS:         ver.Os,
		Arch:       ver.Arch,
		Kernel:     info.Info.KernelVersion,
		Version:    ver.Version,
		APIVersion: ver.APIVersion,
		Driver:     info.Info.Driver,
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
