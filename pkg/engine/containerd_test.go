package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	introspectionapi "github.com/containerd/containerd/api/services/introspection/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/api/types/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// fakeContainerd serves the parts of containerd's API that ctrdConn uses,
// from tables, and records the namespace of each call. The end-to-end
// tests (testdata/script/engine_*.txtar) run against a real containerd;
// these cover the answers a test daemon does not give: other mount shapes,
// multi-platform indexes, lying sizes.
type fakeContainerd struct {
	mounts     map[string][]*types.Mount // by snapshot key
	parents    map[string]string         // by snapshot key
	images     map[string]*types.Descriptor
	blobs      map[string][]byte // by digest
	namespaces []string
	root       string // the overlayfs snapshotter's
	// plugins, when set, are the snapshotter plugins Introspection lists
	// instead of the overlayfs one at root.
	plugins    []*introspectionapi.Plugin
	containers []*containersapi.Container
	tasks      map[string]task.Status // by container id; none: no task
}

func (f *fakeContainerd) ns(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.namespaces = append(f.namespaces, md.Get("containerd-namespace")...)
}

// One type per service: their unimplemented methods share names (List).
type (
	fakeSnapshots struct {
		snapshotsapi.UnimplementedSnapshotsServer
		*fakeContainerd
	}
	fakeImages struct {
		imagesapi.UnimplementedImagesServer
		*fakeContainerd
	}
	fakeContent struct {
		contentapi.UnimplementedContentServer
		*fakeContainerd
	}
	fakeVersion struct {
		versionapi.UnimplementedVersionServer
	}
	fakeIntrospection struct {
		introspectionapi.UnimplementedIntrospectionServer
		*fakeContainerd
	}
	fakeContainers struct {
		containersapi.UnimplementedContainersServer
		*fakeContainerd
	}
	fakeTasks struct {
		tasksapi.UnimplementedTasksServer
		*fakeContainerd
	}
)

func (f fakeContainers) Get(ctx context.Context, r *containersapi.GetContainerRequest) (*containersapi.GetContainerResponse, error) {
	f.ns(ctx)
	for _, c := range f.containers {
		if c.ID == r.ID {
			return &containersapi.GetContainerResponse{Container: c}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "container %q in namespace %q: not found", r.ID, "ns1")
}

// ListStream is left unimplemented, as containerd before 1.7 has it, so
// that List is what answers.
func (f fakeContainers) List(ctx context.Context, _ *containersapi.ListContainersRequest) (*containersapi.ListContainersResponse, error) {
	f.ns(ctx)
	return &containersapi.ListContainersResponse{Containers: f.containers}, nil
}

func (f fakeTasks) Get(ctx context.Context, r *tasksapi.GetRequest) (*tasksapi.GetResponse, error) {
	f.ns(ctx)
	st, ok := f.tasks[r.ContainerID]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no running task found: task %s not found", r.ContainerID)
	}
	return &tasksapi.GetResponse{Process: &task.Process{ID: r.ContainerID, Status: st}}, nil
}

func (f fakeIntrospection) Plugins(context.Context, *introspectionapi.PluginsRequest) (*introspectionapi.PluginsResponse, error) {
	if f.plugins != nil {
		return &introspectionapi.PluginsResponse{Plugins: f.plugins}, nil
	}
	return &introspectionapi.PluginsResponse{Plugins: []*introspectionapi.Plugin{
		{Type: "io.containerd.snapshotter.v1", ID: Snapshotter, Exports: map[string]string{"root": f.root}},
	}}, nil
}

func (fakeVersion) Version(context.Context, *emptypb.Empty) (*versionapi.VersionResponse, error) {
	return &versionapi.VersionResponse{Version: "fake"}, nil
}

func (f fakeSnapshots) Mounts(ctx context.Context, r *snapshotsapi.MountsRequest) (*snapshotsapi.MountsResponse, error) {
	f.ns(ctx)
	m, ok := f.mounts[r.Key]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "snapshot %s does not exist", r.Key)
	}
	return &snapshotsapi.MountsResponse{Mounts: m}, nil
}

func (f fakeSnapshots) Stat(ctx context.Context, r *snapshotsapi.StatSnapshotRequest) (*snapshotsapi.StatSnapshotResponse, error) {
	f.ns(ctx)
	p, ok := f.parents[r.Key]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "snapshot %s does not exist", r.Key)
	}
	return &snapshotsapi.StatSnapshotResponse{Info: &snapshotsapi.Info{Name: r.Key, Parent: p}}, nil
}

func (f fakeImages) List(ctx context.Context, _ *imagesapi.ListImagesRequest) (*imagesapi.ListImagesResponse, error) {
	f.ns(ctx)
	res := &imagesapi.ListImagesResponse{}
	for name, d := range f.images {
		res.Images = append(res.Images, &imagesapi.Image{Name: name, Target: d})
	}
	return res, nil
}

func (f fakeImages) Get(ctx context.Context, r *imagesapi.GetImageRequest) (*imagesapi.GetImageResponse, error) {
	f.ns(ctx)
	d, ok := f.images[r.Name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "image %q: not found", r.Name)
	}
	return &imagesapi.GetImageResponse{Image: &imagesapi.Image{Name: r.Name, Target: d}}, nil
}

// Read sends a blob in 7-byte chunks, so that the client must put them
// together.
func (f fakeContent) Read(r *contentapi.ReadContentRequest, s contentapi.Content_ReadServer) error {
	f.ns(s.Context())
	b, ok := f.blobs[r.Digest]
	if !ok {
		return status.Errorf(codes.NotFound, "content %s: not found", r.Digest)
	}
	for off := 0; off < len(b); off += 7 {
		end := min(off+7, len(b))
		if err := s.Send(&contentapi.ReadContentResponse{Offset: int64(off), Data: b[off:end]}); err != nil {
			return err
		}
	}
	return nil
}

// blob stores doc as a blob and returns its descriptor.
func (f *fakeContainerd) blob(t *testing.T, mediaType string, doc any) *types.Descriptor {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	f.blobs[d] = b
	return &types.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func serveFake(t *testing.T, f *fakeContainerd) *ctrdConn {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(srv, fakeSnapshots{fakeContainerd: f})
	imagesapi.RegisterImagesServer(srv, fakeImages{fakeContainerd: f})
	contentapi.RegisterContentServer(srv, fakeContent{fakeContainerd: f})
	versionapi.RegisterVersionServer(srv, fakeVersion{})
	introspectionapi.RegisterIntrospectionServer(srv, fakeIntrospection{fakeContainerd: f})
	containersapi.RegisterContainersServer(srv, fakeContainers{fakeContainerd: f})
	tasksapi.RegisterTasksServer(srv, fakeTasks{fakeContainerd: f})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	c, err := dialContainerd(context.Background(), sock, "ns1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUpperDir(t *testing.T) {
	root := t.TempDir()
	snap := func(n string) string { return filepath.Join(root, "snapshots", n, "fs") }
	for _, n := range []string{"1", "2", "3", "4"} {
		if err := os.MkdirAll(snap(n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A snapshot dir that is a symlink out of the root.
	if err := os.Symlink(t.TempDir(), filepath.Join(root, "snapshots", "5")); err != nil {
		t.Fatal(err)
	}
	overlay := func(opts ...string) []*types.Mount {
		return []*types.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
	}
	f := &fakeContainerd{root: root, mounts: map[string][]*types.Mount{
		"overlay":    overlay("index=off", "workdir=/w", "upperdir="+snap("2"), "lowerdir="+snap("1")),
		"rootless":   overlay("userxattr", "workdir=/w", "upperdir="+snap("3"), "lowerdir="+snap("1")),
		"parentless": {{Type: "bind", Source: snap("4"), Options: []string{"rw", "rbind"}}},
		"view":       overlay("lowerdir=" + snap("2") + ":" + snap("1")),
		"roview":     {{Type: "bind", Source: snap("1"), Options: []string{"ro", "rbind"}}},
		"two":        {{Type: "bind", Source: "/a"}, {Type: "bind", Source: "/b"}},
		"tmpfs":      {{Type: "tmpfs", Source: "tmpfs"}},
		"etc":        overlay("upperdir=/etc", "lowerdir="+snap("1")),
		"dotdot":     overlay("upperdir="+root+"/snapshots/2/fs/../../../..", "lowerdir="+snap("1")),
		"notnum":     overlay("upperdir="+root+"/snapshots/x/fs", "lowerdir="+snap("1")),
		"symlink":    overlay("upperdir="+snap("5"), "lowerdir="+snap("1")),
		"missing":    overlay("upperdir="+snap("9"), "lowerdir="+snap("1")),
	}}
	c := serveFake(t, f)
	for _, tc := range []struct {
		key       string
		upper     string
		userxattr bool
		err       string
	}{
		{key: "overlay", upper: snap("2")},
		{key: "rootless", upper: snap("3"), userxattr: true},
		{key: "parentless", upper: snap("4")},
		{key: "etc", err: "upper dir /etc is not a snapshot under the snapshotter's root"},
		{key: "dotdot", err: "is not a snapshot under the snapshotter's root"},
		{key: "notnum", err: "is not a snapshot under the snapshotter's root"},
		{key: "symlink", err: "snapshots/5 is a symlink"},
		{key: "missing", err: "no such file or directory"},
		{key: "view", err: "not writable (no upperdir"},
		{key: "roview", err: "not writable (a read-only bind mount)"},
		{key: "two", err: "want one mount, containerd gives 2"},
		{key: "tmpfs", err: `mount type "tmpfs" is not overlay`},
		{key: "gone", err: `snapshot "gone" (overlayfs, namespace ns1): no such snapshot`},
	} {
		upper, ux, err := c.upperDir(context.Background(), Snapshotter, tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.key, err, tc.err)
			}
			continue
		}
		if err != nil || upper != tc.upper || ux != tc.userxattr {
			t.Errorf("%s: got %q, %v, %v; want %q, %v", tc.key, upper, ux, err, tc.upper, tc.userxattr)
		}
	}
	if _, _, err := c.upperDir(context.Background(), Snapshotter, "gone"); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("missing snapshot: %v is not ErrNoSnapshot", err)
	}
	for _, ns := range f.namespaces {
		if ns != "ns1" {
			t.Fatalf("a call carried namespace %q, want ns1", ns)
		}
	}
	if len(f.namespaces) == 0 {
		t.Fatal("no call carried a namespace")
	}
}

func TestConfigForPlatform(t *testing.T) {
	f := &fakeContainerd{images: map[string]*types.Descriptor{}, blobs: map[string][]byte{}}
	manifest := func(diffID string) *types.Descriptor {
		cfg := f.blob(t, mediaOCIConfig, map[string]any{
			"architecture": runtime.GOARCH, "os": runtime.GOOS,
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:base", diffID}},
		})
		return f.blob(t, mediaOCIManifest, map[string]any{
			"schemaVersion": 2, "mediaType": mediaOCIManifest,
			"config": map[string]any{"mediaType": cfg.MediaType, "digest": cfg.Digest, "size": cfg.Size},
		})
	}
	entry := func(d *types.Descriptor, os, arch string) map[string]any {
		return map[string]any{"mediaType": d.MediaType, "digest": d.Digest, "size": d.Size,
			"platform": map[string]string{"os": os, "architecture": arch}}
	}
	here := manifest("sha256:here")
	other := manifest("sha256:other")
	f.images["plain"] = here
	f.images["multi"] = f.blob(t, mediaOCIIndex, map[string]any{"manifests": []any{
		entry(other, "windows", runtime.GOARCH),
		entry(other, runtime.GOOS, "s390x-not-this-one"),
		entry(here, runtime.GOOS, runtime.GOARCH),
	}})
	f.images["foreign"] = f.blob(t, mediaDockerList, map[string]any{"manifests": []any{
		entry(other, "plan9", "mips"),
	}})
	// The blob has one byte more than this descriptor says.
	f.images["lying"] = &types.Descriptor{MediaType: here.MediaType, Digest: here.Digest, Size: here.Size - 1}
	f.images["huge"] = &types.Descriptor{MediaType: here.MediaType, Digest: here.Digest, Size: maxBlob + 1}
	// Indexes nested as deep as allowed (target, 3 indexes, manifest,
	// config: 4 indirections), and one deeper.
	nested := here
	for range maxIndirections - 1 {
		nested = f.blob(t, mediaOCIIndex, map[string]any{"manifests": []any{entry(nested, runtime.GOOS, runtime.GOARCH)}})
	}
	f.images["nested"] = nested
	f.images["deep"] = f.blob(t, mediaOCIIndex, map[string]any{"manifests": []any{entry(nested, runtime.GOOS, runtime.GOARCH)}})
	c := serveFake(t, f)

	ctx := context.Background()
	for _, name := range []string{"plain", "multi", "nested"} {
		id, layers, err := c.configForPlatform(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(layers, []string{"sha256:base", "sha256:here"}) || !strings.HasPrefix(id, "sha256:") {
			t.Errorf("%s: got %s %v, want this platform's config", name, id, layers)
		}
	}
	for name, want := range map[string]string{
		"foreign": "has no manifest for " + runtime.GOOS + "/" + runtime.GOARCH,
		"lying":   "more than its",
		"huge":    "is not between 0 and",
		"nosuch":  `image "nosuch" (namespace ns1): not found`,
		"deep":    "more than 4 indirections",
	} {
		_, _, err := c.configForPlatform(ctx, name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
	}
	if _, _, err := c.configForPlatform(ctx, "nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing image: %v is not ErrNotFound", err)
	}
}

func TestChainID(t *testing.T) {
	a := "sha256:" + strings.Repeat("1", 64)
	b := "sha256:" + strings.Repeat("2", 64)
	if got := chainID([]string{a}); got != a {
		t.Errorf("one layer: %s, want the diffID", got)
	}
	// printf 'sha256:1...1 sha256:2...2' | sha256sum
	want := "sha256:9932074217c35353d2e03a3f5a86549f7c67bfeb0ba53e23d69f4d4c8f7958f5"
	if got := chainID([]string{a, b}); got != want {
		t.Errorf("two layers: %s, want %s", got, want)
	}
}

// TestHost: Driver names the overlayfs snapshotter only when it loaded;
// without it, Snapshotters says what containerd has instead, and
// DriverDescription gives the envelope's old phrase for that.
func TestHost(t *testing.T) {
	snapshotter := func(id string, initErr bool) *introspectionapi.Plugin {
		p := &introspectionapi.Plugin{Type: "io.containerd.snapshotter.v1", ID: id, Exports: map[string]string{"root": "/var/lib/" + id}}
		if initErr {
			p.InitErr = status.New(codes.Unknown, "not here").Proto()
		}
		return p
	}
	for _, tc := range []struct {
		name         string
		plugins      []*introspectionapi.Plugin
		driver       string
		snapshotters []string
		description  string
	}{
		{
			name:         "overlayfs",
			plugins:      []*introspectionapi.Plugin{snapshotter("native", false), snapshotter(Snapshotter, false)},
			driver:       Snapshotter,
			snapshotters: []string{"native", Snapshotter},
			description:  Snapshotter,
		},
		{
			name:         "no overlayfs",
			plugins:      []*introspectionapi.Plugin{snapshotter("native", false), snapshotter("btrfs", false), snapshotter(Snapshotter, true)},
			snapshotters: []string{"btrfs", "native"},
			description:  "no overlayfs snapshotter (btrfs, native)",
		},
		{
			name:        "none",
			plugins:     []*introspectionapi.Plugin{},
			description: "no overlayfs snapshotter ()",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &Containerd{c: serveFake(t, &fakeContainerd{plugins: tc.plugins})}
			h, err := e.Host(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if h.Engine != "containerd" || h.Version != "fake" || h.Driver != tc.driver || !slices.Equal(h.Snapshotters, tc.snapshotters) {
				t.Errorf("got engine %q, version %q, driver %q, snapshotters %q; want containerd, fake, %q, %q",
					h.Engine, h.Version, h.Driver, h.Snapshotters, tc.driver, tc.snapshotters)
			}
			if got := h.DriverDescription(); got != tc.description {
				t.Errorf("DriverDescription() = %q, want %q", got, tc.description)
			}
		})
	}
	// Docker's and Podman's driver is their own word, even when empty.
	if got := (&Host{Engine: "docker", Driver: "vfs"}).DriverDescription(); got != "vfs" {
		t.Errorf("docker: DriverDescription() = %q, want vfs", got)
	}
}

// TestContainerImage: the image's layers must be the ones the snapshot sits
// on; in an index, the manifest with those layers is taken whatever its
// platform, and a broken blob is an error, not a mismatch.
func TestContainerImage(t *testing.T) {
	f := &fakeContainerd{images: map[string]*types.Descriptor{}, blobs: map[string][]byte{}, parents: map[string]string{}}
	config := func(diffIDs ...string) *types.Descriptor {
		return f.blob(t, mediaOCIConfig, map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	}
	manifest := func(cfg *types.Descriptor) *types.Descriptor {
		return f.blob(t, mediaOCIManifest, map[string]any{
			"config": map[string]any{"mediaType": cfg.MediaType, "digest": cfg.Digest, "size": cfg.Size}})
	}
	entry := func(d *types.Descriptor, arch string) map[string]any {
		return map[string]any{"mediaType": d.MediaType, "digest": d.Digest, "size": d.Size,
			"platform": map[string]string{"os": "linux", "architecture": arch}}
	}
	l1, l2 := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64)
	hostCfg, armCfg := config(l1), config(l1, l2)
	hostM, armM := manifest(hostCfg), manifest(armCfg)
	f.images["multi"] = f.blob(t, mediaOCIIndex, map[string]any{"manifests": []any{entry(hostM, runtime.GOARCH), entry(armM, "arm64-other")}})
	f.images["single"] = hostM
	// The matching manifest's config is corrupt in the content store.
	brokenCfg := config(l2)
	f.blobs[brokenCfg.Digest] = append([]byte(nil), f.blobs[brokenCfg.Digest]...)
	f.blobs[brokenCfg.Digest][0] ^= 1
	f.images["broken"] = f.blob(t, mediaOCIIndex, map[string]any{"manifests": []any{entry(manifest(brokenCfg), "x")}})
	// Snapshots: one on the arm64 chain (as with --platform), one on the
	// host's past a Docker-style <id>-init layer.
	f.parents["armc"] = chainID([]string{l1, l2})
	f.parents["dockerc"] = "dockerc-init"
	f.parents["dockerc-init"] = chainID([]string{l1})
	f.parents["brokenc"] = l2
	e := &Containerd{c: serveFake(t, f)}
	ctx := context.Background()

	for _, tc := range []struct {
		name, image, key string
		want             []string
		wantID           string
		err              string
	}{
		{name: "other platform by its layers", image: "multi", key: "armc", want: []string{l1, l2}, wantID: armCfg.Digest},
		{name: "past -init", image: "multi", key: "dockerc", want: []string{l1}, wantID: hostCfg.Digest},
		{name: "single manifest, other chain", image: "single", key: "armc", err: "its layers are not the ones the container's snapshot sits on"},
		{name: "broken blob", image: "broken", key: "brokenc", err: "content has another digest"},
		{name: "gone", image: "nosuch", key: "armc", err: "its image nosuch is gone from namespace ns1: not found"},
		{name: "no snapshot", image: "multi", key: "nosnap", err: `snapshot "nosnap": snapshot nosnap does not exist`},
	} {
		c := &Container{Name: "c", Image: tc.image, Driver: Snapshotter, snapshotKey: tc.key}
		id, layers, err := e.ContainerImage(ctx, c)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || id != tc.wantID || !slices.Equal(layers, tc.want) || c.ImageID != id {
			t.Errorf("%s: got %s %v %v, want %s %v", tc.name, id, layers, err, tc.wantID, tc.want)
		}
	}

	// layer-check's lookups: a short name, a config digest, a target digest.
	f.images["docker.io/library/short:latest"] = hostM
	for _, ref := range []string{"short", hostCfg.Digest, hostM.Digest} {
		layers, err := e.ImageLayers(ctx, ref)
		if err != nil || !slices.Equal(layers, []string{l1}) {
			t.Errorf("ImageLayers(%s): %v %v, want [%s]", ref, layers, err, l1)
		}
	}
	if _, err := e.ImageLayers(ctx, "sha256:"+strings.Repeat("9", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown digest: %v is not ErrNotFound", err)
	}
}
