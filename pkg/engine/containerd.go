package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/containerd/containerd/api/types/task"
	"github.com/distribution/reference"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// nerdctlName is the label nerdctl keeps a container's name in.
const nerdctlName = "nerdctl/name"

// Containerd is containerd's API, used directly: the containers nerdctl
// or ctr create, in one namespace.
type Containerd struct {
	c *ctrdConn
}

func openContainerd(ctx context.Context, addr, ns string) (*Containerd, error) {
	c, err := dialContainerd(ctx, addr, ns)
	if err != nil {
		return nil, err
	}
	return &Containerd{c: c}, nil
}

// Close releases the connection.
func (e *Containerd) Close() error { return e.c.Close() }

// Container finds a container by id, by nerdctl name, or by unique id
// prefix. Its image is looked at only by ContainerImage, so that a
// container whose image is gone can still be rolled back.
func (e *Containerd) Container(ctx context.Context, ref string) (*Container, error) {
	rec, err := e.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	c := &Container{
		ID:        rec.ID,
		Name:      rec.ID,
		Image:     rec.Image,
		Driver:    rec.Snapshotter,
		Store:     StoreContainerd,
		Namespace: e.c.ns,
	}
	if n := rec.Labels[nerdctlName]; n != "" {
		c.Name = n
	}
	if rec.CreatedAt != nil {
		c.Created = rec.CreatedAt.AsTime()
	}
	if c.Inspect, err = containerDoc(rec, e.c.ns); err != nil {
		return nil, err
	}
	if c.Mounts, err = containerdMounts(rec); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	if c.Running, c.Paused, err = e.taskState(ctx, rec.ID); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	c.snapshotKey = rec.SnapshotKey
	if !Overlay(c.Driver) {
		return c, nil // upper() names the snapshotter
	}
	if rec.SnapshotKey == "" {
		return nil, fmt.Errorf("container %s has no snapshot", c.Name)
	}
	if c.UpperDir, c.UserXattr, err = e.c.upperDir(ctx, rec.Snapshotter, rec.SnapshotKey); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	return c, nil
}

// taskState tells whether the container's task runs (running, pausing or
// paused) and whether it is paused. A container without a task runs
// nothing, and its snapshot is not mounted.
func (e *Containerd) taskState(ctx context.Context, id string) (running, paused bool, err error) {
	res, err := tasksapi.NewTasksClient(e.c.conn).Get(e.c.ctx(ctx), &tasksapi.GetRequest{ContainerID: id})
	switch {
	case isNotFound(err):
		return false, false, nil
	case err != nil:
		return false, false, fmt.Errorf("task of %s: %w", id, rpcError{err})
	}
	switch res.GetProcess().GetStatus() {
	case task.Status_RUNNING, task.Status_PAUSING:
		return true, false, nil
	case task.Status_PAUSED:
		return true, true, nil
	}
	return false, false, nil
}

// find looks ref up as an id, then as a nerdctl name or a unique id
// prefix.
func (e *Containerd) find(ctx context.Context, ref string) (*containersapi.Container, error) {
	cs := containersapi.NewContainersClient(e.c.conn)
	res, err := cs.Get(e.c.ctx(ctx), &containersapi.GetContainerRequest{ID: ref})
	if err == nil {
		return res.Container, nil
	}
	if !isNotFound(err) {
		return nil, fmt.Errorf("container %q: %w", ref, rpcError{err})
	}
	var named, prefixed []*containersapi.Container
	err = e.eachContainer(ctx, func(c *containersapi.Container) {
		if c.Labels[nerdctlName] == ref {
			named = append(named, c)
		}
		if ref != "" && strings.HasPrefix(c.ID, ref) {
			prefixed = append(prefixed, c)
		}
	})
	if err != nil {
		return nil, err
	}
	for _, m := range [][]*containersapi.Container{named, prefixed} {
		switch len(m) {
		case 0:
			continue
		case 1:
			return m[0], nil
		default:
			return nil, fmt.Errorf("container %q is ambiguous in namespace %s: %d containers match", ref, e.c.ns, len(m))
		}
	}
	return nil, fmt.Errorf("container %q in containerd namespace %s: %w", ref, e.c.ns, ErrNotFound)
}

// eachContainer calls fn for every container of the namespace, streamed
// one by one (a host's specs together can pass gRPC's message limit), or,
// from a containerd without ListStream, in one list.
func (e *Containerd) eachContainer(ctx context.Context, fn func(*containersapi.Container)) error {
	cs := containersapi.NewContainersClient(e.c.conn)
	ctx, cancel := context.WithCancel(e.c.ctx(ctx))
	defer cancel()
	stream, err := cs.ListStream(ctx, &containersapi.ListContainersRequest{})
	if err == nil {
		for {
			msg, rerr := stream.Recv()
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			if rerr != nil {
				err = rerr
				break
			}
			fn(msg.Container)
		}
	}
	if status.Code(err) != codes.Unimplemented {
		return fmt.Errorf("list containers: %w", rpcError{err})
	}
	list, err := cs.List(ctx, &containersapi.ListContainersRequest{})
	if err != nil {
		return fmt.Errorf("list containers: %w", rpcError{err})
	}
	for _, c := range list.Containers {
		fn(c)
	}
	return nil
}

// containerDoc is container.json for a containerd container: its record,
// with the OCI runtime spec as the JSON containerd keeps it in.
func containerDoc(rec *containersapi.Container, ns string) (json.RawMessage, error) {
	type runtimeDoc struct {
		Name string `json:"name"`
	}
	doc := struct {
		ID          string            `json:"id"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels,omitempty"`
		Image       string            `json:"image"`
		Runtime     *runtimeDoc       `json:"runtime,omitempty"`
		Snapshotter string            `json:"snapshotter"`
		SnapshotKey string            `json:"snapshotKey"`
		CreatedAt   *time.Time        `json:"createdAt,omitempty"`
		UpdatedAt   *time.Time        `json:"updatedAt,omitempty"`
		Spec        json.RawMessage   `json:"spec,omitempty"`
	}{
		ID: rec.ID, Namespace: ns, Labels: rec.Labels, Image: rec.Image,
		Snapshotter: rec.Snapshotter, SnapshotKey: rec.SnapshotKey,
	}
	if rec.Runtime != nil {
		doc.Runtime = &runtimeDoc{Name: rec.Runtime.Name}
	}
	if rec.CreatedAt != nil {
		t := rec.CreatedAt.AsTime()
		doc.CreatedAt = &t
	}
	if rec.UpdatedAt != nil {
		t := rec.UpdatedAt.AsTime()
		doc.UpdatedAt = &t
	}
	if rec.Spec != nil && json.Valid(rec.Spec.Value) {
		doc.Spec = rec.Spec.Value
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode container %s: %w", rec.ID, err)
	}
	return out, nil
}

// Pause freezes the container's task.
func (e *Containerd) Pause(ctx context.Context, c *Container) error {
	if _, err := tasksapi.NewTasksClient(e.c.conn).Pause(e.c.ctx(ctx), &tasksapi.PauseTaskRequest{ContainerID: c.ID}); err != nil {
		return fmt.Errorf("pause %s: %w", c.Name, rpcError{err})
	}
	c.Paused = true
	return nil
}

// Unpause resumes the container's task.
func (e *Containerd) Unpause(ctx context.Context, c *Container) error {
	if _, err := tasksapi.NewTasksClient(e.c.conn).Resume(e.c.ctx(ctx), &tasksapi.ResumeTaskRequest{ContainerID: c.ID}); err != nil {
		return fmt.Errorf("resume %s: %w", c.Name, rpcError{err})
	}
	c.Paused = false
	return nil
}

// ContainerImage resolves the container's image by the name it was made
// from, and checks that the image's layers are the ones the container's
// snapshot sits on: a tag moved since, or an image removed, must not give
// an envelope (or an import gate) another image's layers. In an index, the
// manifest whose layers those are is taken, whatever its platform.
func (e *Containerd) ContainerImage(ctx context.Context, c *Container) (string, []string, error) {
	if c.Image == "" {
		return "", nil, fmt.Errorf("container %s was made from no image", c.Name)
	}
	chain, err := e.c.layerChain(ctx, c.Driver, c.snapshotKey)
	if err != nil {
		return "", nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	id, layers, err := e.c.configOnChain(ctx, c.Image, chain)
	switch {
	case errors.Is(err, ErrNotFound):
		return "", nil, fmt.Errorf("container %s: its image %s is gone from namespace %s: %w", c.Name, c.Image, e.c.ns, ErrNotFound)
	case err != nil:
		return "", nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	c.ImageID = id
	return id, layers, nil
}

// ImageLayers returns the rootfs diffIDs of image ref for this platform:
// a name (short names are normalized as docker and nerdctl do), or an
// image id (its config's digest, as Docker's classic store has it, or its
// target's, as Docker 29's containerd store has it).
func (e *Containerd) ImageLayers(ctx context.Context, ref string) ([]string, error) {
	_, layers, err := e.c.configForPlatform(ctx, ref)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return layers, err
	}
	if !strings.HasPrefix(ref, "sha256:") {
		named, perr := reference.ParseNormalizedNamed(ref)
		if perr != nil {
			return nil, err
		}
		full := reference.TagNameOnly(named).String()
		if full == ref {
			return nil, err
		}
		_, layers, nerr := e.c.configForPlatform(ctx, full)
		if errors.Is(nerr, ErrNotFound) {
			return nil, err
		}
		return layers, nerr
	}
	list, lerr := imagesapi.NewImagesClient(e.c.conn).List(e.c.ctx(ctx), &imagesapi.ListImagesRequest{})
	if lerr != nil {
		return nil, fmt.Errorf("list images: %w", rpcError{lerr})
	}
	for _, img := range list.Images {
		id, layers, cerr := e.c.configForPlatform(ctx, img.Name)
		if cerr == nil && (id == ref || img.Target.GetDigest() == ref) {
			return layers, nil
		}
	}
	return nil, err
}

// Host describes containerd and this machine. containerd is reached
// through a local socket, so the machine is this one.
func (e *Containerd) Host(ctx context.Context) (*Host, error) {
	ver, err := versionapi.NewVersionClient(e.c.conn).Version(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("containerd version: %w", rpcError{err})
	}
	roots, err := e.c.snapshotters(ctx)
	if err != nil {
		return nil, err
	}
	var snapshotters []string
	for s := range roots {
		snapshotters = append(snapshotters, s)
	}
	sort.Strings(snapshotters)
	kernel, err := kernelRelease()
	if err != nil {
		return nil, err
	}
	h := &Host{
		Engine:       "containerd",
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		Kernel:       kernel,
		Version:      ver.Version,
		Snapshotters: snapshotters,
	}
	if _, ok := roots[Snapshotter]; ok {
		h.Driver = Snapshotter
	}
	info := struct {
		Engine       string   `json:"Engine"`
		Version      string   `json:"Version"`
		Revision     string   `json:"Revision"`
		Address      string   `json:"Address"`
		Namespace    string   `json:"Namespace"`
		Snapshotters []string `json:"Snapshotters"`
	}{"containerd", ver.Version, ver.Revision, e.c.addr, e.c.ns, snapshotters}
	if h.Info, err = json.MarshalIndent(info, "", "  "); err != nil {
		return nil, fmt.Errorf("encode containerd info: %w", err)
	}
	return h, nil
}
