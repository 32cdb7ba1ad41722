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
	"runtime"
	"strings"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
)

// maxBlob bounds an image index, manifest or config read from containerd's
// content store.
const maxBlob = 4 << 20

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
