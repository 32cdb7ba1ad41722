package engine

import (
	"path"
	"sort"
)

// Mount types, as the engines name them (Mount.Type). An engine may report
// others (npipe, image, cluster); they are passed on as it spells them.
const (
	// MountVolume: a volume the engine keeps, named, with a driver.
	MountVolume = "volume"
	// MountBind: a host path bound into the container.
	MountBind = "bind"
	// MountTmpfs: a tmpfs, whose contents live only while the container
	// runs.
	MountTmpfs = "tmpfs"
)

// DriverLocal is the volume driver that keeps a volume as a directory on
// the engine's host (Docker's and Podman's "local"; nerdctl's volumes are
// all local).
const DriverLocal = "local"

// Mount is something a container's user had mounted in it: a volume (named,
// or anonymous from an image's VOLUME or `-v /dest`), a bind mount, a
// tmpfs. What the engine mounts for itself (proc, sysfs, /dev, /etc/hosts,
// /etc/resolv.conf, /etc/hostname, /.dockerenv, /run/.containerenv) is not
// a Mount.
type Mount struct {
	// Type is MountVolume, MountBind, MountTmpfs, or another type as the
	// engine reports it.
	Type string
	// Name is the volume's name (volumes only).
	Name string
	// Source is the directory on the host: a volume's _data dir or a bind
	// mount's source. Empty for a tmpfs.
	Source string
	// Destination is where the container sees it.
	Destination string
	// Driver is the volume's driver (volumes only): DriverLocal, or a
	// plugin's name.
	Driver string
	// RW: the container may write to it.
	RW bool
	// Anonymous: a volume the engine named itself, for an image's VOLUME
	// or a `-v /dest` without a name.
	Anonymous bool
	// Options are the volume driver's options (volumes only). For the
	// local driver, "type", "device" and "o" ask it to mount something
	// (nfs, tmpfs, a bind) on the volume's _data dir, which it does only
	// while a container that uses the volume runs: a stopped container's
	// _data dir is then empty, and reading it would lose the data.
	Options map[string]string
	// Labels are the volume's labels (volumes only).
	Labels map[string]string
}

// VolumeUser is a container that mounts a volume.
type VolumeUser struct {
	ID   string
	Name string
	// Running: the container is running, paused or restarting, so the
	// volume can change under a reader.
	Running bool
}

// engineFiles are the files an engine mounts into every container for
// itself; they are not the user's mounts even where an inspect document
// lists them.
var engineFiles = map[string]bool{
	"/etc/hosts":         true,
	"/etc/resolv.conf":   true,
	"/etc/hostname":      true,
	"/.dockerenv":        true,
	"/run/.containerenv": true,
}

// engineFile tells whether dest is one of engineFiles.
func engineFile(dest string) bool {
	return engineFiles[path.Clean(dest)]
}

// sortMounts puts mounts in the order of their destinations: Docker lists
// a container's mounts in map order, which changes from one inspect to the
// next, and two exports of one container must list them alike.
func sortMounts(ms []Mount) {
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Destination < ms[j].Destination })
}
