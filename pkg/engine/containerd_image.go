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

// docKind is what a document on the way from an image's target to its
// config is.
type docKind int

const (
	docIndex docKind = iota // an image index or manifest list
	docManifest
	docConfig
)

// imageDoc is one document on the way from an image's target to its
// config, decoded as far as the walk needs it.
type imageDoc struct {
	kind      docKind
	manifests []descriptor // an index's
	config    descriptor   // a manifest's
	diffIDs   []string     // a config's rootfs
}

// imageTarget returns the descriptor image name points at: an index, a
// manifest or (rarely) a config.
func (c *ctrdConn) imageTarget(ctx context.Context, name string) (descriptor, error) {
	res, err := imagesapi.NewImagesClient(c.conn).Get(c.ctx(ctx), &imagesapi.GetImageRequest{Name: name})
	if err != nil {
		if isNotFound(err) {
			return descriptor{}, fmt.Errorf("image %q (namespace %s): %w", name, c.ns, ErrNotFound)
		}
		return descriptor{}, fmt.Errorf("image %q: %w", name, rpcError{err})
	}
	t := res.GetImage().GetTarget()
	return descriptor{MediaType: t.GetMediaType(), Digest: t.GetDigest(), Size: t.GetSize()}, nil
}

// configForPlatform follows image name's target to the config of this
// host's platform, and returns the config's digest (what Docker calls the
// image id) and rootfs diffIDs: what the name means for a container made
// here from now on (layer-check's and layer-import's question).
func (c *ctrdConn) configForPlatform(ctx context.Context, name string) (string, []string, error) {
	d, err := c.imageTarget(ctx, name)
	if err != nil {
		return "", nil, err
	}
	return c.followPlatform(ctx, name, d, maxIndirections)
}

// followPlatform reads d and follows it to a config, taking in an index
// the manifest for this host's OS and architecture; hops is how many more
// descriptors it may follow.
func (c *ctrdConn) followPlatform(ctx context.Context, name string, d descriptor, hops int) (string, []string, error) {
	doc, err := c.readDoc(ctx, name, d, hops)
	if err != nil {
		return "", nil, err
	}
	switch doc.kind {
	case docConfig:
		return d.Digest, doc.diffIDs, nil
	case docManifest:
		return c.followPlatform(ctx, name, doc.config, hops-1)
	}
	for _, m := range doc.manifests {
		if m.Platform != nil && m.Platform.OS == runtime.GOOS && m.Platform.Architecture == runtime.GOARCH {
			return c.followPlatform(ctx, name, m, hops-1)
		}
	}
	return "", nil, fmt.Errorf("image %q has no manifest for %s/%s", name, runtime.GOOS, runtime.GOARCH)
}

// configOnChain follows image name's target to the config whose layers
// have chain ID chain, whatever its platform, and returns the config's
// digest and rootfs diffIDs: the image a container's snapshot was made
// from, also when it was pulled for another platform (--platform). A
// config with other layers is errOtherLayers.
func (c *ctrdConn) configOnChain(ctx context.Context, name, chain string) (string, []string, error) {
	d, err := c.imageTarget(ctx, name)
	if err != nil {
		return "", nil, err
	}
	id, layers, err := c.followChain(ctx, name, d, chain, maxIndirections)
	if err == nil && chainID(layers) != chain {
		// A target that is no index: no choice was made by layers.
		return "", nil, fmt.Errorf("image %q: %w", name, errOtherLayers)
	}
	return id, layers, err
}

// followChain reads d and follows it to a config, taking in an index the
// first manifest whose layers have chain ID chain; hops is how many more
// descriptors it may follow.
func (c *ctrdConn) followChain(ctx context.Context, name string, d descriptor, chain string, hops int) (string, []string, error) {
	doc, err := c.readDoc(ctx, name, d, hops)
	if err != nil {
		return "", nil, err
	}
	switch doc.kind {
	case docConfig:
		return d.Digest, doc.diffIDs, nil
	case docManifest:
		return c.followChain(ctx, name, doc.config, chain, hops-1)
	}
	// Another platform's manifest, or an attestation, may be missing from
	// the content store: skip what is not there, but not what is broken.
	var firstErr error
	for _, m := range doc.manifests {
		id, layers, err := c.followChain(ctx, name, m, chain, hops-1)
		switch {
		case err == nil && chainID(layers) == chain:
			return id, layers, nil
		case err != nil && !errors.Is(err, errNoBlob) && firstErr == nil:
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", nil, firstErr
	}
	return "", nil, fmt.Errorf("image %q: %w", name, errOtherLayers)
}

// readDoc reads the document d names and decodes it by its media type;
// hops is how many more descriptors the walk may follow, past d: images
// nest an index or two at most, and the bound keeps the walk's work
// bounded on one made to nest them deeper.
func (c *ctrdConn) readDoc(ctx context.Context, name string, d descriptor, hops int) (imageDoc, error) {
	if hops < 0 {
		return imageDoc{}, fmt.Errorf("image %q: more than %d indirections to its config", name, maxIndirections)
	}
	blob, err := c.readBlob(ctx, d)
	if err != nil {
		return imageDoc{}, fmt.Errorf("image %q: %w", name, err)
	}
	switch d.MediaType {
	case mediaOCIIndex, mediaDockerList:
		var idx struct{ Manifests []descriptor }
		if err := json.Unmarshal(blob, &idx); err != nil {
			return imageDoc{}, fmt.Errorf("image %q: index %s: %v", name, d.Digest, err)
		}
		return imageDoc{kind: docIndex, manifests: idx.Manifests}, nil
	case mediaOCIManifest, mediaDockerManifest:
		var m struct{ Config descriptor }
		if err := json.Unmarshal(blob, &m); err != nil {
			return imageDoc{}, fmt.Errorf("image %q: manifest %s: %v", name, d.Digest, err)
		}
		return imageDoc{kind: docManifest, config: m.Config}, nil
	case mediaOCIConfig, mediaDockerConfig:
		var cfg struct {
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		if err := json.Unmarshal(blob, &cfg); err != nil {
			return imageDoc{}, fmt.Errorf("image %q: config %s: %v", name, d.Digest, err)
		}
		return imageDoc{kind: docConfig, diffIDs: cfg.RootFS.DiffIDs}, nil
	}
	return imageDoc{}, fmt.Errorf("image %q: unknown media type %q", name, d.MediaType)
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
