// Package envelope reads and writes envelopes, the stream that carries a
// container's read-write layer, its volumes (v2) and its metadata.
//
// It owns the wire format, and reads the files of the original
// layer-tool too (below): [Write]; one walker of the members (walk.go)
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
//     "layer": {size, entries, skipped?}}. "created" is RFC 3339 and honours
//     SOURCE_DATE_EPOCH; "imageLayers" are the image's rootfs diffIDs;
//     "layer.size" is the byte size of layer.tar and "layer.entries" its
//     number of entries; "layer.skipped" (from this version on) names the
//     entries of the upper dir that the tar cannot hold (sockets), at most
//     256, the last saying how many more if there were. Fields marked ? may be absent. "store" says where
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
//     uncompressed, so its sha256 is the layer's diffID. layer-export
//     writes the canonical form package overlay describes; a reader takes
//     any valid OCI layer (overlay.Validator has the rules), and after the
//     tar's end only zeros (record padding).
//  5. layer.tar-split.json.gz: tar-split metadata (github.com/vbatts/tar-split)
//     of layer.tar, recorded while it was written; with the layer's files it
//     reassembles layer.tar byte for byte. Verify checks it against
//     layer.tar; Extract does not read it (an import restores a tree).
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
//
// # The envelope's digest
//
// An envelope's digest is "sha256:" and the hex sha256 of its SHA256SUMS
// member's bytes ([Root]): a root over every member, as an OCI manifest's
// digest is over its layers. layer-export prints it, and --expect checks
// it (layer-check's report names it "root"). It needs no hash over the
// stream, and compressing or recompressing the envelope keeps it. Digests
// printed by earlier versions are the sha256 of the stream as stored;
// --expect still takes those, hashing the stream when it is given one.
//
// # Envelope v2
//
// v2 carries the container's volumes too. A writer writes v2 when the
// container has any mount besides the files the engine manages (carried
// or not), and v1 otherwise, so that the envelope of a container without
// mounts is what it always was. Readers read both. The members, in order:
//
//  1. envelope.json as in v1, with "format": "layer-tool.envelope/v2" and
//     two more fields:
//     "volumes": [{type, name?, anonymous, source?, destination, driver?,
//     rw, labels?, tar, tarSplit, size, entries, skipped?}], the trees carried after
//     the layer, in member order. "type" is "volume" (a volume the engine
//     keeps as a plain directory) or "bind" (a directory bind mount,
//     exported with --binds; "source" is its host path at the source).
//     "tar" and "tarSplit" of the i-th volume (from 0) must be
//     "volumes/i.tar" and "volumes/i.tar-split.json.gz": the writer fixes
//     them from the position, and a reader refuses any other name rather
//     than trust one. "destination" is a clean absolute path, each at most
//     once; "size" and "entries" are its tar's, as for the layer.
//     "omitted": [{type, name?, source?, destination, reason}], every mount
//     of the container that the envelope does not carry, and why (a bind
//     mount without --binds, a tmpfs, another driver's volume, a local
//     volume with mount options, one left out by --volumes).
//  2. container.json, 3. docker-info.json, 4. layer.tar and
//  5. layer.tar-split.json.gz as in v1.
//  6. For each volume in turn: "volumes/i.tar", the volume's directory as
//     a plain tree (package overlay: the same canonical form as the layer,
//     with the directory's root as a first entry "./" and no overlay
//     conversion in either direction: a character device 0:0 is a device,
//     a file named ".wh.x" is a file), then "volumes/i.tar-split.json.gz",
//     its tar-split metadata.
//  7. SHA256SUMS over every member before it, in order. Always last.
//
// A v2 envelope.json with no volumes and no omitted mounts is valid; a v1
// envelope.json with either is not. The performance work on the format
// (issue 14) reads v1 and v2 as they are: any change it makes to how
// members are encoded comes as a new version.
//
// # Files of the original layer-tool
//
// The tool this one re-implements, written in Rust, wrote another file;
// [Extract] and [Verify] read it too (legacy.go), told apart from an
// envelope by its first member's name once the compression is known. A
// report's "format", and the format of the [Meta] made for it, is
// "layer-tool-rs/VERSION" ([FormatLegacy], then metadata.json's version),
// or just "layer-tool-rs" when metadata.json cannot be read.
//
// The file is a tar, uncompressed or gzip (zstd is read too: the
// compression is told from the first bytes), of exactly these members, in
// this order, and then the tar's end, with the trailing rules of an
// envelope:
//
//  1. metadata.json, at most [MaxJSONMember] bytes, one JSON object with
//     no key twice (keys match regardless of case): "version" (a string
//     or a number, of letters, digits and .+_- only, at most 64),
//     "created" (RFC 3339), "container_metadata": {id, name, image,
//     image_id, image_sha256, created (RFC 3339), state, status, labels,
//     mounts: [{type, name, source, destination}, ...]}, "docker_info"
//     (Docker's /info in snake case; os_type, architecture,
//     kernel_version, server_version and driver are used),
//     "layer_checksum" (64 hex digits, either case, "sha256:" in front or
//     not) and "compressed" (a boolean, read and not compared: a file
//     gunzipped since is as good). version, created, container_metadata.id
//     and layer_checksum are required; other fields are ignored.
//  2. layer.tar: the container's upper directory as the Rust tar crate
//     wrote it (GNU or ustar headers, seconds mtimes, directories and
//     regular files, symlinks followed, no whiteouts), read by the same
//     handler and rules as an envelope's layer.tar; besides, an entry named
//     like a whiteout (".wh.NAME") is refused: this format has no deleted
//     files, and a layer reader would take one for a deletion.
//
// layer_checksum is the lower-case hex sha256 of this byte stream: for
// each regular file and directory entry of layer.tar, in the order of
// their paths compared component by component, bytewise (the order of
// Rust's Path; a directory right before what it holds, so "a", "a/b",
// "a-b"), the bytes of the path, relative, without "./" in front or "/"
// behind, and then for a regular file its contents. There is nothing
// between entries: no separator, no length. The root directory ("./"),
// if the tar has it, and entries of other types, which the tool never
// wrote, are not part of it. The sum is recomputed as layer.tar streams
// past, in constant memory, as long as its entries come in that order;
// the Rust tar crate writes them in directory order, and then the sum
// cannot be recomputed without holding the layer: layer-check warns
// (check "checksums", status warn, saying why) and layer-import goes on
// and warns ([Extracted] Unchecked). A sum that differs fails the check
// and the import. It guards against corruption, not forgery: it stands
// in the same file as the layer.
//
// For the handler, metadata.json becomes, once layer.tar's size is known,
// the envelope.json and container.json of an envelope: [Handler] Meta gets
// a [Meta] with container {id, name, image, imageId (image_id, else
// image_sha256, as "sha256:HEX"), created, storageDriver (docker_info's
// driver), store "graphdriver"}, host {engine "docker", os (os_type), arch
// (architecture as Go names it: x86_64 amd64, aarch64 arm64, i386 and
// i686 386, armv5tel, armv6l and armv7l arm, others as they are), kernel,
// dockerVersion (server_version), storageDriver}, "omitted" listing the
// source's mounts (this format carries no volumes) and layer {size:
// layer.tar's size, entries: size/512}. It declares no entry count; since
// every entry takes a 512-byte header inside the member, size/512 bounds
// it, which an import uses for its entry limit and free-space check
// (asking for more room than needed, never less); a progress line shows
// no entry total for it. Extract's result and
// the report give the count as read. What the file does not say stays
// empty: imageLayers (nil, which no envelope.json has), apiVersion, and
// without docker_info the host's os, arch and storage driver, whose host
// checks then fail, each with its --skip flag. The image check compares
// the target's image id with imageId instead of rootfs layers: an image
// id is the digest of a configuration that lists the layers, so the same
// id is the same layers; another id fails (--skip-image). A [ContainerHandler]
// gets a container.json in the Engine API's shape (Id, Name, Image,
// Created, Config.Image, Config.Labels, State.Status, Driver, Mounts).
// layer-import --create refuses such a file: it holds no configuration
// to create a container from.
//
// The format cannot carry deleted files (whiteouts), symlinks (the tool
// followed them: copies of their targets stand in their place), reliable
// owners, special files (devices, fifos, sockets), extended attributes,
// sub-second mtimes or volumes ([LegacyNotCarried]). Nothing of it is
// dropped silently: a report always has the warning [CheckNotCarried],
// and layer-import prints it once before it imports.
package envelope
