// Package engine talks to the engine that keeps a container: it finds a
// container by name, id or unique id prefix, reads where its read-write
// layer lives, pauses and unpauses it, and describes the engine and the
// container's image.
//
// Two implementations share the Engine interface:
//
//   - Docker: a Docker-compatible Engine API (Docker, rootful Podman)
//     through the official client (github.com/moby/moby/client).
//     DOCKER_HOST and the other DOCKER_* variables are honoured, and the API
//     version is negotiated. On Docker's classic store the inspect document
//     names the upper dir (GraphDriver.Data.UpperDir). On Docker 29's
//     containerd image store it names only the snapshotter
//     (Storage.RootFS.Snapshot at API 1.52+, GraphDriver {"Name":
//     "overlayfs"} without data before); the upper dir is then the
//     upperdir= option of the mounts that containerd's snapshot service
//     gives for the snapshot whose key is the container id, in the
//     namespace and at the socket /info's Containerd names.
//   - Containerd: containerd's API used directly (nerdctl, ctr), through
//     the generated gRPC clients of github.com/containerd/containerd/api,
//     in one namespace: the container record, its task (state, pause,
//     resume), its snapshot's mounts, and the image's diffIDs read from the
//     content store.
//
// What each file owns:
//
//   - engine.go: the Engine interface, Open, Container, Host and the
//     errors callers branch on.
//   - docker.go: the Docker-compatible engine; for Docker 29's containerd
//     image store it borrows containerd_conn.go's connection.
//   - containerd.go: the containerd engine: container records and their
//     tasks, the checked image of a container, image lookups, Host.
//   - containerd_conn.go: the gRPC connection to containerd and what it
//     says about snapshots: the snapshotters and their roots, a snapshot's
//     mounts and from them its upper dir (which must lie below the
//     snapshotter's root), the chain a snapshot sits on. Shared by both
//     engines.
//   - containerd_conn_linux.go (stubs in containerd_conn_other.go): the
//     socket checks before dialing, by SO_PEERCRED, because whoever answers
//     on the socket says which directory an import replaces.
//   - containerd_image.go: images in containerd's content store: an image's
//     target through index and manifest to its config, either for this
//     platform (configForPlatform) or by the chain of layers a snapshot
//     sits on (configOnChain); bounded, digest-checked blob reads; chain
//     IDs.
//   - host_linux.go (stub in host_other.go): the kernel release.
package engine
