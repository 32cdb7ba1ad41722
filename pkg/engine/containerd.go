package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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
	"github.com/distribution/reference"
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

// rpcError is an error of containerd's API: it reads as containerd's
// message and unwraps to the gRPC status error (status.Code works on it).
type rpcError struct{ err error }

func (e rpcError) Error() string { return status.Convert(e.err).Message() }
func (e rpcError) Unwrap() error { return e.err }

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// ctrdConn is a gRPC connection to containerd with a namespace: the
// services of containerd's API module (github.com/containerd/containerd/api),
// not containerd's full client.
type ctrdConn struct {
	conn *grpc.ClientConn
	addr string
	ns   string
	// roots are the snapshotters' root dirs, as containerd exports them;
	// a snapshot's upper dir must be one of theirs.
	roots map[string]string
}

// dialContainerd connects to the containerd socket addr and checks that
// it answers. The process answering must run as root or as us (checked on
// every connection, by SO_PEERCRED): whoever answers says which directory
// an import replaces.
func dialContainerd(ctx context.Context, addr, ns string) (*ctrdConn, error) {
	path := strings.TrimPrefix(addr, "unix://")
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if err := isSocket(path); err != nil {
		return nil, fmt.Errorf("%w containerd at %s: %v", ErrUnreachable, path, err)
	}
	conn, err := grpc.NewClient("unix://"+path,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dialTrusted(ctx, path) }),
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
		return nil, fmt.Errorf("%w containerd at %s: %w", ErrUnreachable, path, rpcError{err})
	}
	return c, nil
}

func (c *ctrdConn) Close() error { return c.conn.Close() }

// ctx carries the namespace, as containerd's services want it.
func (c *ctrdConn) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "containerd-namespace", c.ns)
}

// snapshotters lists the snapshotter plugins that loaded, with their root
// dirs.
func (c *ctrdConn) snapshotters(ctx context.Context) (map[string]string, error) {
	if c.roots != nil {
		return c.roots, nil
	}
	res, err := introspectionapi.NewIntrospectionClient(c.conn).Plugins(ctx,
		&introspectionapi.PluginsRequest{Filters: []string{"type==io.containerd.snapshotter.v1"}})
	if err != nil {
		return nil, fmt.Errorf("containerd plugins: %w", rpcError{err})
	}
	c.roots = map[string]string{}
	for _, p := range res.Plugins {
		if p.InitErr == nil {
			c.roots[p.ID] = p.Exports["root"]
		}
	}
	return c.roots, nil
}

// upperDir asks the snapshot service how snapshot key would be mounted
// and returns the read-write directory: overlay's upperdir= option, or the
// source of the bind mount of a snapshot without parents. userxattr tells
// whether overlay keeps its attributes in user.overlay.*.
func (c *ctrdConn) upperDir(ctx context.Context, snapshotter, key string) (upper string, userxattr bool, err error) {
	res, err := snapshotsapi.NewSnapshotsClient(c.conn).Mounts(c.ctx(ctx), &snapshotsapi.MountsRequest{Snapshotter: snapshotter, Key: key})
	if err != nil {
		if isNotFound(err) {
			return "", false, fmt.Errorf("snapshot %q (%s, namespace %s): %w", key, snapshotter, c.ns, ErrNoSnapshot)
		}
		return "", false, fmt.Errorf("mounts of snapshot %q: %w", key, rpcError{err})
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
	case "bind":
		for _, o := range m.Options {
			if o == "ro" {
				return "", false, fmt.Errorf("snapshot %q is not writable (a read-only bind mount)", key)
			}
		}
		upper = m.Source
	default:
		return "", false, fmt.Errorf("snapshot %q: mount type %q is not overlay", key, m.Type)
	}
	roots, err := c.snapshotters(ctx)
	if err != nil {
		return "", false, err
	}
	if err := inSnapshotRoot(roots[snapshotter], upper); err != nil {
		return "", false, fmt.Errorf("snapshot %q: %w", key, err)
	}
	return upper, userxattr, nil
}

// inSnapshotRoot checks that upper is ROOT/snapshots/N/fs, as containerd's
// overlayfs snapshotter lays snapshots out, with no symlink below ROOT: an
// import replaces upper, and nothing a socket says may point it elsewhere.
func inSnapshotRoot(root, upper string) error {
	if root == "" {
		return fmt.Errorf("containerd does not say where the snapshotter keeps its snapshots")
	}
	if !filepath.IsAbs(root) {
		return fmt.Errorf("the snapshotter's root %q is not absolute", root)
	}
	rel, err := filepath.Rel(root, upper)
	parts := strings.Split(rel, "/")
	if err != nil || !filepath.IsAbs(upper) || filepath.Clean(upper) != upper || len(parts) != 3 ||
		parts[0] != "snapshots" || parts[2] != "fs" || strings.Trim(parts[1], "0123456789") != "" || parts[1] == "" {
		return fmt.Errorf("upper dir %s is not a snapshot under the snapshotter's root %s", upper, root)
	}
	dir := root
	for _, p := range parts {
		dir = filepath.Join(dir, p)
		fi, err := os.Lstat(dir)
		if err != nil {
			return fmt.Errorf("upper dir %s: %w", upper, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("upper dir %s: %s is a symlink", upper, dir)
		}
		if !fi.IsDir() {
			return fmt.Errorf("upper dir %s: %s is not a directory", upper, dir)
		}
	}
	return nil
}

// layerChain returns the chain ID of the committed layers that snapshot
// key sits on: its parent's name, past Docker's <id>-init layer.
func (c *ctrdConn) layerChain(ctx context.Context, snapshotter, key string) (string, error) {
	sc := snapshotsapi.NewSnapshotsClient(c.conn)
	for range 2 {
		res, err := sc.Stat(c.ctx(ctx), &snapshotsapi.StatSnapshotRequest{Snapshotter: snapshotter, Key: key})
		if err != nil {
			return "", fmt.Errorf("snapshot %q: %w", key, rpcError{err})
		}
		key = res.GetInfo().GetParent()
		if !strings.HasSuffix(key, "-init") {
			break
		}
	}
	return key, nil
}

// chainID is the OCI chain ID of a list of diffIDs: the name containerd
// gives the committed snapshot of those layers.
func chainID(diffIDs []string) string {
	var id string
	for i, d := range diffIDs {
		if i == 0 {
			id = d
			continue
		}
		sum := sha256.Sum256([]byte(id + " " + d))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}

var (
	// errNoBlob: the content store does not hold a blob (another
	// platform's manifest, say).
	errNoBlob = errors.New("not in the content store")
	// errOtherLayers: the image's layers are not those the container's
	// snapshot sits on.
	errOtherLayers = errors.New("its layers are not the ones the container's snapshot sits on (a tag moved since, or another platform?)")
)

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

// imageConfig follows image name's target through an index and a manifest
// to the config, and returns the config's digest (what Docker calls the
// image id) and rootfs diffIDs. In an index it takes the first manifest
// that accept approves of (nil: this host's platform).
func (c *ctrdConn) imageConfig(ctx context.Context, name string, accept func([]string) bool) (string, []string, error) {
	res, err := imagesapi.NewImagesClient(c.conn).Get(c.ctx(ctx), &imagesapi.GetImageRequest{Name: name})
	if err != nil {
		if isNotFound(err) {
			return "", nil, fmt.Errorf("image %q (namespace %s): %w", name, c.ns, ErrNotFound)
		}
		return "", nil, fmt.Errorf("image %q: %w", name, rpcError{err})
	}
	t := res.GetImage().GetTarget()
	return c.resolve(ctx, name, descriptor{MediaType: t.GetMediaType(), Digest: t.GetDigest(), Size: t.GetSize()}, accept, maxIndirections)
}

// resolve reads d and follows it to a config; hops is how many more
// descriptors it may follow.
func (c *ctrdConn) resolve(ctx context.Context, name string, d descriptor, accept func([]string) bool, hops int) (string, []string, error) {
	if hops < 0 {
		return "", nil, fmt.Errorf("image %q: more than %d indirections to its config", name, maxIndirections)
	}
	blob, err := c.readBlob(ctx, d)
	if err != nil {
		return "", nil, fmt.Errorf("image %q: %w", name, err)
	}
	switch d.MediaType {
	case mediaOCIIndex, mediaDockerList:
		var firstErr error
		var idx struct{ Manifests []descriptor }
		if err := json.Unmarshal(blob, &idx); err != nil {
			return "", nil, fmt.Errorf("image %q: index %s: %v", name, d.Digest, err)
		}
		for _, m := range idx.Manifests {
			if accept == nil {
				if m.Platform != nil && m.Platform.OS == runtime.GOOS && m.Platform.Architecture == runtime.GOARCH {
					return c.resolve(ctx, name, m, nil, hops-1)
				}
				continue
			}
			// Another platform's manifest, or an attestation, may be
			// missing from the content store: skip what is not there,
			// but not what is broken.
			id, layers, err := c.resolve(ctx, name, m, accept, hops-1)
			switch {
			case err == nil && accept(layers):
				return id, layers, nil
			case err != nil && !errors.Is(err, errNoBlob) && firstErr == nil:
				firstErr = err
			}
		}
		if accept == nil {
			return "", nil, fmt.Errorf("image %q has no manifest for %s/%s", name, runtime.GOOS, runtime.GOARCH)
		}
		if firstErr != nil {
			return "", nil, firstErr
		}
		return "", nil, fmt.Errorf("image %q: %w", name, errOtherLayers)
	case mediaOCIManifest, mediaDockerManifest:
		var m struct{ Config descriptor }
		if err := json.Unmarshal(blob, &m); err != nil {
			return "", nil, fmt.Errorf("image %q: manifest %s: %v", name, d.Digest, err)
		}
		return c.resolve(ctx, name, m.Config, accept, hops-1)
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
	}
	return "", nil, fmt.Errorf("image %q: unknown media type %q", name, d.MediaType)
}

// readBlob reads the content-store blob d names, up to maxBlob bytes, and
// checks its sha256.
func (c *ctrdConn) readBlob(ctx context.Context, d descriptor) ([]byte, error) {
	want, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		return nil, fmt.Errorf("blob %s: not a sha256 digest", d.Digest)
	}
	if d.Size < 0 || d.Size > maxBlob {
		return nil, fmt.Errorf("blob %s: size %d is not between 0 and %d", d.Digest, d.Size, maxBlob)
	}
	ctx, cancel := context.WithCancel(c.ctx(ctx))
	defer cancel()
	stream, err := contentapi.NewContentClient(c.conn).Read(ctx, &contentapi.ReadContentRequest{Digest: d.Digest})
	if isNotFound(err) {
		return nil, fmt.Errorf("read blob %s: %w", d.Digest, errNoBlob)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d.Digest, rpcError{err})
	}
	var buf bytes.Buffer
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if isNotFound(err) {
			return nil, fmt.Errorf("read blob %s: %w", d.Digest, errNoBlob)
		}
		if err != nil {
			return nil, fmt.Errorf("read blob %s: %w", d.Digest, rpcError{err})
		}
		if int64(buf.Len()+len(res.Data)) > d.Size {
			return nil, fmt.Errorf("blob %s: more than its %d bytes", d.Digest, d.Size)
		}
		buf.Write(res.Data)
	}
	if int64(buf.Len()) != d.Size {
		return nil, fmt.Errorf("blob %s: %d bytes, its descriptor says %d", d.Digest, buf.Len(), d.Size)
	}
	if sum := sha256.Sum256(buf.Bytes()); hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("blob %s: content has another digest", d.Digest)
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
	res, err := tasksapi.NewTasksClient(e.c.conn).Get(e.c.ctx(ctx), &tasksapi.GetRequest{ContainerID: rec.ID})
	switch {
	case isNotFound(err):
		// No task: nothing runs and the snapshot is not mounted.
	case err != nil:
		return nil, fmt.Errorf("task of %s: %w", c.Name, rpcError{err})
	default:
		switch res.GetProcess().GetStatus() {
		case task.Status_RUNNING, task.Status_PAUSING:
			c.Running = true
		case task.Status_PAUSED:
			c.Running, c.Paused = true, true
		}
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
	onChain := func(layers []string) bool { return chainID(layers) == chain }
	id, layers, err := e.c.imageConfig(ctx, c.Image, onChain)
	switch {
	case errors.Is(err, ErrNotFound):
		return "", nil, fmt.Errorf("container %s: its image %s is gone from namespace %s: %w", c.Name, c.Image, e.c.ns, ErrNotFound)
	case err != nil:
		return "", nil, fmt.Errorf("container %s: %w", c.Name, err)
	case !onChain(layers):
		return "", nil, fmt.Errorf("container %s: image %q: %w", c.Name, c.Image, errOtherLayers)
	}
	c.ImageID = id
	return id, layers, nil
}

// ImageLayers returns the rootfs diffIDs of image ref for this platform:
// a name (short names are normalized as docker and nerdctl do), or an
// image id (its config's digest, as Docker's classic store has it, or its
// target's, as Docker 29's containerd store has it).
func (e *Containerd) ImageLayers(ctx context.Context, ref string) ([]string, error) {
	_, layers, err := e.c.imageConfig(ctx, ref, nil)
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
		_, layers, nerr := e.c.imageConfig(ctx, full, nil)
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
		id, layers, cerr := e.c.imageConfig(ctx, img.Name, nil)
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
		Engine:        "containerd",
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		Kernel:        kernel,
		DockerVersion: ver.Version,
		Driver:        "no overlayfs snapshotter (" + strings.Join(snapshotters, ", ") + ")",
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
