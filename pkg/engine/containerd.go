package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	introspectionapi "github.com/containerd/containerd/api/services/introspection/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/containerd/containerd/api/types/task"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Snapshotter is the containerd snapshotter whose snapshots are overlayfs
// upper dirs.
const Snapshotter = "overlayfs"

// DefaultNamespace is the containerd namespace used when none is given,
// as ctr and nerdctl do.
const DefaultNamespace = "default"

// nerdctlName is the label nerdctl keeps a container's name in.
const nerdctlName = "nerdctl/name"

// maxBlob bounds an image index, manifest or config read from containerd's
// content store.
const maxBlob = 4 << 20

// ctrdConn is a gRPC connection to containerd with a namespace: the
// services of containerd's API module (github.com/containerd/containerd/api),
// not containerd's full client.
type ctrdConn struct {
	conn *grpc.ClientConn
	addr string
	ns   string
}

// dialContainerd connects to the containerd socket addr and checks that
// it answers.
func dialContainerd(ctx context.Context, addr, ns string) (*ctrdConn, error) {
	path := strings.TrimPrefix(addr, "unix://")
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	conn, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("containerd client: %w", err)
	}
	c := &ctrdConn{conn: conn, addr: path, ns: ns}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := versionapi.NewVersionClient(conn).Version(pctx, &emptypb.Empty{}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w containerd at %s: %v", ErrUnreachable, path, status.Convert(err).Message())
	}
	return c, nil
}

func (c *ctrdConn) Close() error { return c.conn.Close() }

// ctx carries the namespace, as containerd's services want it.
func (c *ctrdConn) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "containerd-namespace", c.ns)
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// upperDir asks the snapshot service how snapshot key would be mounted
// and returns the read-write directory: overlay's upperdir= option, or the
// source of the bind mount of a snapshot without parents. userxattr tells
// whether overlay keeps its attributes in user.overlay.*.
func (c *ctrdConn) upperDir(ctx context.Context, snapshotter, key string) (upper string, userxattr bool, err error) {
	res, err := snapshotsapi.NewSnapshotsClient(c.conn).Mounts(c.ctx(ctx), &snapshotsapi.MountsRequest{Snapshotter: snapshotter, Key: key})
	if err != nil {
		if isNotFound(err) {
			return "", false, fmt.Errorf("snapshot %q (%s, namespace %s): %w", key, snapshotter, c.ns, ErrNotFound)
		}
		return "", false, fmt.Errorf("mounts of snapshot %q: %s", key, status.Convert(err).Message())
	}
	if len(res.Mounts) != 1 {
		return "", false, fmt.Errorf("snapshot %q: want one mount, containerd gives %d", key, len(res.Mounts))
	}
	m := res.Mounts[0]
	switch m.Type {
	case "overlay":
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				upper = v
			}
			if o == "userxattr" {
				userxattr = true
			}
		}
		if upper == "" {
			return "", false, fmt.Errorf("snapshot %q is not writable (no upperdir in its overlay mount)", key)
		}
		return upper, userxattr, nil
	case "bind":
		for _, o := range m.Options {
			if o == "ro" {
				return "", false, fmt.Errorf("snapshot %q is not writable (a read-only bind mount)", key)
			}
		}
		return m.Source, false, nil
	}
	return "", false, fmt.Errorf("snapshot %q: mount type %q is not overlay", key, m.Type)
}

// Media types of what an image's target can point at.
const (
	mediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaOCIConfig      = "application/vnd.oci.image.config.v1+json"
	mediaDockerConfig   = "application/vnd.docker.container.image.v1+json"
	maxIndirections     = 4
)

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Platform  *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform,omitempty"`
}

// imageConfig follows image name's target through an index (this host's
// platform) and a manifest to the config, and returns the config's digest
// (what Docker calls the image id) and rootfs diffIDs.
func (c *ctrdConn) imageConfig(ctx context.Context, name string) (string, []string, error) {
	res, err := imagesapi.NewImagesClient(c.conn).Get(c.ctx(ctx), &imagesapi.GetImageRequest{Name: name})
	if err != nil {
		if isNotFound(err) {
			return "", nil, fmt.Errorf("image %q (namespace %s): %w", name, c.ns, ErrNotFound)
		}
		return "", nil, fmt.Errorf("image %q: %s", name, status.Convert(err).Message())
	}
	t := res.Image.Target
	d := descriptor{MediaType: t.MediaType, Digest: t.Digest, Size: t.Size}
	for range maxIndirections {
		blob, err := c.readBlob(ctx, d)
		if err != nil {
			return "", nil, fmt.Errorf("image %q: %w", name, err)
		}
		switch d.MediaType {
		case mediaOCIIndex, mediaDockerList:
			var idx struct{ Manifests []descriptor }
			if err := json.Unmarshal(blob, &idx); err != nil {
				return "", nil, fmt.Errorf("image %q: index %s: %v", name, d.Digest, err)
			}
			found := false
			for _, m := range idx.Manifests {
				if m.Platform != nil && m.Platform.OS == runtime.GOOS && m.Platform.Architecture == runtime.GOARCH {
					d, found = m, true
					break
				}
			}
			if !found {
				return "", nil, fmt.Errorf("image %q has no manifest for %s/%s", name, runtime.GOOS, runtime.GOARCH)
			}
		case mediaOCIManifest, mediaDockerManifest:
			var m struct{ Config descriptor }
			if err := json.Unmarshal(blob, &m); err != nil {
				return "", nil, fmt.Errorf("image %q: manifest %s: %v", name, d.Digest, err)
			}
			d = m.Config
		case mediaOCIConfig, mediaDockerConfig:
			var cfg struct {
				RootFS struct {
					DiffIDs []string `json:"diff_ids"`
				} `json:"rootfs"`
			}
			if err := json.Unmarshal(blob, &cfg); err != nil {
				return "", nil, fmt.Errorf("image %q: config %s: %v", name, d.Digest, err)
			}
			return d.Digest, cfg.RootFS.DiffIDs, nil
		default:
			return "", nil, fmt.Errorf("image %q: unknown media type %q", name, d.MediaType)
		}
	}
	return "", nil, fmt.Errorf("image %q: more than %d indirections to its config", name, maxIndirections)
}

// readBlob reads the content-store blob d names, up to maxBlob bytes.
func (c *ctrdConn) readBlob(ctx context.Context, d descriptor) ([]byte, error) {
	if d.Size < 0 || d.Size > maxBlob {
		return nil, fmt.Errorf("blob %s: size %d is over %d", d.Digest, d.Size, maxBlob)
	}
	ctx, cancel := context.WithCancel(c.ctx(ctx))
	defer cancel()
	stream, err := contentapi.NewContentClient(c.conn).Read(ctx, &contentapi.ReadContentRequest{Digest: d.Digest})
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %s", d.Digest, status.Convert(err).Message())
	}
	var buf bytes.Buffer
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read blob %s: %s", d.Digest, status.Convert(err).Message())
		}
		if int64(buf.Len()+len(res.Data)) > d.Size {
			return nil, fmt.Errorf("blob %s: more than its %d bytes", d.Digest, d.Size)
		}
		buf.Write(res.Data)
	}
	if int64(buf.Len()) != d.Size {
		return nil, fmt.Errorf("blob %s: %d bytes, its descriptor says %d", d.Digest, buf.Len(), d.Size)
	}
	return buf.Bytes(), nil
}

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
// prefix.
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
	if rec.Image != "" {
		// An image deleted since leaves the id empty; the image checks
		// then fail with its name.
		if id, _, err := e.c.imageConfig(ctx, rec.Image); err == nil {
			c.ImageID = id
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	res, err := tasksapi.NewTasksClient(e.c.conn).Get(e.c.ctx(ctx), &tasksapi.GetRequest{ContainerID: rec.ID})
	switch {
	case isNotFound(err):
		// No task: nothing runs and the snapshot is not mounted.
	case err != nil:
		return nil, fmt.Errorf("task of %s: %s", c.Name, status.Convert(err).Message())
	default:
		switch res.Process.Status {
		case task.Status_RUNNING, task.Status_PAUSING:
			c.Running = true
		case task.Status_PAUSED:
			c.Running, c.Paused = true, true
		}
	}
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

// find looks ref up as an id, then as a nerdctl name or a unique id
// prefix.
func (e *Containerd) find(ctx context.Context, ref string) (*containersapi.Container, error) {
	cs := containersapi.NewContainersClient(e.c.conn)
	res, err := cs.Get(e.c.ctx(ctx), &containersapi.GetContainerRequest{ID: ref})
	if err == nil {
		return res.Container, nil
	}
	if !isNotFound(err) {
		return nil, fmt.Errorf("container %q: %s", ref, status.Convert(err).Message())
	}
	list, err := cs.List(e.c.ctx(ctx), &containersapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("list containers: %s", status.Convert(err).Message())
	}
	var named, prefixed []*containersapi.Container
	for _, c := range list.Containers {
		if c.Labels[nerdctlName] == ref {
			named = append(named, c)
		}
		if ref != "" && strings.HasPrefix(c.ID, ref) {
			prefixed = append(prefixed, c)
		}
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
		return fmt.Errorf("pause %s: %s", c.Name, status.Convert(err).Message())
	}
	c.Paused = true
	return nil
}

// Unpause resumes the container's task.
func (e *Containerd) Unpause(ctx context.Context, c *Container) error {
	if _, err := tasksapi.NewTasksClient(e.c.conn).Resume(e.c.ctx(ctx), &tasksapi.ResumeTaskRequest{ContainerID: c.ID}); err != nil {
		return fmt.Errorf("resume %s: %s", c.Name, status.Convert(err).Message())
	}
	c.Paused = false
	return nil
}

// ImageLayers returns the rootfs diffIDs of image ref: a name, or an
// image id (its config's digest, as Container gives it).
func (e *Containerd) ImageLayers(ctx context.Context, ref string) ([]string, error) {
	_, layers, err := e.c.imageConfig(ctx, ref)
	if err == nil || !errors.Is(err, ErrNotFound) || !strings.HasPrefix(ref, "sha256:") {
		return layers, err
	}
	list, lerr := imagesapi.NewImagesClient(e.c.conn).List(e.c.ctx(ctx), &imagesapi.ListImagesRequest{})
	if lerr != nil {
		return nil, fmt.Errorf("list images: %s", status.Convert(lerr).Message())
	}
	for _, img := range list.Images {
		if id, layers, cerr := e.c.imageConfig(ctx, img.Name); cerr == nil && id == ref {
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
		return nil, fmt.Errorf("containerd version: %s", status.Convert(err).Message())
	}
	plugins, err := introspectionapi.NewIntrospectionClient(e.c.conn).Plugins(ctx,
		&introspectionapi.PluginsRequest{Filters: []string{"type==io.containerd.snapshotter.v1"}})
	if err != nil {
		return nil, fmt.Errorf("containerd plugins: %s", status.Convert(err).Message())
	}
	var snapshotters []string
	for _, p := range plugins.Plugins {
		if p.InitErr == nil {
			snapshotters = append(snapshotters, p.ID)
		}
	}
	sort.Strings(snapshotters)
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	h := &Host{
		Engine:        "containerd",
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		Kernel:        unix.ByteSliceToString(uts.Release[:]),
		DockerVersion: ver.Version,
	}
	for _, s := range snapshotters {
		if s == Snapshotter {
			h.Driver = s
		}
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
