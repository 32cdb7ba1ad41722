// Package engine talks to the Docker Engine API through the official client
// (github.com/moby/moby/client): it finds a container by name, id or unique
// id prefix, reads where its read-write layer lives, and describes the
// daemon and the container's image. DOCKER_HOST and the other DOCKER_*
// variables are honoured, and the API version is negotiated with the daemon.
package engine
