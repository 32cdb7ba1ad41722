package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	introspectionapi "github.com/containerd/containerd/api/services/introspection/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
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
