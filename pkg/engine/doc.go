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
package engine
