// Package envelope reads and writes envelope v1, the stream that carries a
// container's read-write layer and its metadata.
//
// It owns the wire format: [Write]; one walker of the members (walk.go)
// in which every rule of the format exists once, run by [Extract] in
// strict mode (the first fault is the error: layer-import) and by
// [Verify] in collecting mode (every fault goes into the [Report]:
// layer-check); compression, digests, tar-split metadata and the bounds
// on hostile input.
//
// # Envelope v1
//
// An envelope is a POSIX (PAX) tar stream, optionally compressed as a whole
// with gzip or zstd; readers tell which from the first bytes (gzip 1f 8b,
// zstd 28 b5 2f fd) and never from a file name. It holds exactly these
// members, all regular files, in this order:
//
//  1. envelope.json: {"format": "layer-tool.envelope/v1", "created",
//     "producer", "container": {id, name, image, imageId, imageLayers,
//     created, storageDriver, store?, namespace?, pausedAt?}, "host":
//     {engine?, os, arch, kernel, dockerVersion, apiVersion, storageDriver},
//     "layer": {size, entries}}. "created" is RFC 3339 and honours
//     SOURCE_DATE_EPOCH; "imageLayers" are the image's rootfs diffIDs;
//     "layer.size" is the byte size of layer.tar and "layer.entries" its
//     number of entries. Fields marked ? may be absent. "store" says where
//     the layer was kept: "graphdriver" (the engine's storage driver:
//     Docker's classic store, Podman) or "containerd" (a containerd
//     snapshot: Docker 29's containerd image store, nerdctl, ctr), with the
//     snapshotter as "storageDriver" and its containerd "namespace".
//     "host.engine" is "docker", "podman" or "containerd", and
//     "dockerVersion" that engine's version.
//  2. container.json: the Engine API's container inspect document, as the
//     daemon sent it; for a container found through containerd's API alone,
//     containerd's container record (id, namespace, labels, image, runtime,
//     snapshotter, snapshotKey, createdAt, updatedAt, and the OCI runtime
//     spec as containerd keeps it).
//  3. docker-info.json: the Engine API's /info document (through containerd's
//     API alone: containerd's version, revision, socket, namespace and
//     loaded snapshotters), less the proxy
//     settings (they can carry credentials) and less the counters that change
//     from one call to the next (SystemTime, NFd, NGoroutines,
//     NEventsListener, Containers*, Images), so that an envelope is
//     reproducible.
//  4. layer.tar: the container's upper directory as an OCI image layer,
//     uncompressed, so its sha256 is the layer's diffID. Its exact form is
//     described in package overlay.
//  5. layer.tar-split.json.gz: tar-split metadata (github.com/vbatts/tar-split)
//     of layer.tar, recorded while it was written; with the layer's files it
//     reassembles layer.tar byte for byte.
//  6. SHA256SUMS: "HEX  NAME" lines, in `sha256sum -c` format, over members
//     1 to 5 in that order. Always last.
//
// Every member header has mode 0644, owner 0:0, empty user and group names
// and the envelope's "created" time, so that exporting an unchanged
// container twice with the same SOURCE_DATE_EPOCH gives the same bytes. The
// gzip header carries no name and no time.
//
// A reader reads the stream once, to its end: after the tar's end only zero
// padding may follow, and after a compressed stream nothing at all.
package envelope
