// Package engine talks to the engine that keeps a container: it finds a
// container by name, id or unique id prefix, reads where its read-write
// layer lives and what is mounted in it, finds the other containers that
// use a volume, pauses and unpauses it, and describes the engine and the
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
// # Mounts
//
// Container.Mounts are the user's mounts, sorted by destination; what the
// engine or the runtime mounts for itself (proc, sysfs, devpts, mqueue,
// cgroup, /dev, /dev/shm, /run of containerd's default spec, /etc/hosts,
// /etc/resolv.conf, /etc/hostname, /.dockerenv, /run/.containerenv) is
// left out. Where each engine says what is mounted:
//
//   - Docker: the inspect document's Mounts (container.MountPoint), plus
//     HostConfig.Tmpfs, where alone `--tmpfs` mounts appear. Each local
//     volume is inspected once (GET /volumes/{name}) for its driver
//     options and labels; it is anonymous when it has the label
//     com.docker.volume.anonymous (Docker 23 and later; moby's
//     daemon/volume/service AnonymousLabel) or, as Docker before 23 made
//     them without a label, when its name is a 64-hex id.
//   - Podman, through its Docker-compatible API: the same Mounts, without
//     tmpfs (libpod's GetMounts leaves them out), which HostConfig.Tmpfs
//     lists. Its compatible volume inspect says nothing of anonymity, so a
//     volume is inspected through Podman's own API (GET
//     /v4.0.0/libpod/volumes/{name}/json, define.InspectVolumeData, whose
//     Anonymous field is what `podman volume inspect` shows), on the
//     connection the client dials; a Podman that refuses libpod API 4.0.0
//     (3.x) is asked through the compatible API, and a 64-hex name tells.
//   - containerd: the labels nerdctl puts on the container's record:
//     nerdctl/mounts, a JSON list of Docker-style mount points, or from
//     nerdctl 2.3.2 on, one mount point in each of nerdctl/mounts.0,
//     nerdctl/mounts.1, ...; nerdctl/anonymous-volumes lists the volumes it
//     made. nerdctl keeps no driver options, and its labels of a volume are
//     in its data root, not in containerd: a containerd volume has neither.
//     The mounts of the runtime spec that nerdctl did not record and the
//     runtime does not make (a ctr container's --mount) follow, as a bind
//     or a tmpfs, so that nothing mounted goes unlisted.
//
// VolumeUsers asks Docker and Podman for the containers, stopped or not,
// that the "volume" filter of GET /containers/json matches, and reads the
// nerdctl labels of every container of the namespace for containerd, as
// nerdctl's `volume rm` does.
//
// # Creating a container from an envelope
//
// PlanCreate decides, without changing anything, how a Docker or Podman
// container like the source of an envelope would be made here: the image
// (by id, else by reference, else by an image with the same rootfs
// diffIDs), the settings of its inspect document that are carried,
// dropped or refused (createFields, one table), its mounts and networks,
// whether the name and the named volumes are free. Create carries the
// plan out through POST /volumes/create, /containers/create and
// /networks/{id}/connect, and returns an undo that removes exactly what it
// made. Containerd used directly returns ErrCreateUnsupported.
//
// What each file owns:
//
//   - engine.go: the Engine interface, Open, Container, Host and the
//     errors callers branch on.
//   - docker.go: the Docker-compatible engine; for Docker 29's containerd
//     image store it borrows containerd_conn.go's connection.
//   - mount.go: Mount and VolumeUser, and what is not a user's mount.
//   - docker_mounts.go: a Docker or Podman container's mounts, volume
//     inspects (Podman's through its own API), a volume's users.
//   - containerd_mounts.go: a containerd container's mounts from nerdctl's
//     labels and the runtime spec, a volume's users.
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
//   - create.go: CreateOptions, CreatePlan, PlanCreate's image and name
//     checks, Create and its undo; containerd's refusal.
//   - create_fields.go: the field policy (createFields) and the mapping
//     of an inspect document's settings, mounts and networks onto a
//     create request.
//   - host_linux.go (stub in host_other.go): the kernel release.
package engine
