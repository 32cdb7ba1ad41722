package engine

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/client"
)

// fakeDaemon serves the part of the Docker-compatible Engine API that
// Container and VolumeUsers use, from documents shaped as Docker and
// Podman send them, on a unix socket, and records the paths asked for.
type fakeDaemon struct {
	version    string                     // GET /version
	containers map[string]string          // GET /containers/{id}/json
	volumes    map[string]string          // GET /volumes/{name}
	libpod     map[string]string          // GET /v4.0.0/libpod/volumes/{name}/json
	list       string                     // GET /containers/json
	query      map[string]json.RawMessage // the filters of the last list
	mu         sync.Mutex
	paths      []string
}

const dockerVersion = `{"Platform":{"Name":"Docker Engine - Community"},"Components":[{"Name":"Engine","Version":"27.3.1"}],"Version":"27.3.1","ApiVersion":"1.47","Os":"linux","Arch":"amd64"}`

const podmanVersion = `{"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1","Details":{"APIVersion":"4.3.1","MinAPIVersion":"4.0.0"}}],"Version":"4.3.1","ApiVersion":"1.41","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}`

func serveDaemon(t *testing.T, f *fakeDaemon) *Docker {
	t.Helper()
	route := regexp.MustCompile(`^/v[0-9.]+(/.*)$`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.Path)
		f.mu.Unlock()
		p := r.URL.Path
		if strings.HasPrefix(p, "/v4.0.0/libpod/") {
			p = strings.TrimPrefix(p, "/v4.0.0")
		} else if m := route.FindStringSubmatch(p); m != nil {
			p = m[1]
		}
		var doc string
		var ok bool
		switch {
		case p == "/version":
			doc, ok = f.version, true
		case p == "/containers/json":
			f.query = nil
			if q := r.URL.Query().Get("filters"); q != "" {
				if err := json.Unmarshal([]byte(q), &f.query); err != nil {
					t.Errorf("filters %q: %v", q, err)
				}
			}
			if r.URL.Query().Get("all") != "1" {
				t.Errorf("container list without all=1: %s", r.URL.RawQuery)
			}
			doc, ok = f.list, true
		case strings.HasPrefix(p, "/containers/") && strings.HasSuffix(p, "/json"):
			doc, ok = f.containers[strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/json")]
		case strings.HasPrefix(p, "/libpod/volumes/") && strings.HasSuffix(p, "/json"):
			if f.libpod == nil {
				// Podman 3 takes no libpod API 4.0.0.
				http.Error(w, `{"cause":"API version not supported","message":"API version not supported","response":400}`, http.StatusBadRequest)
				return
			}
			doc, ok = f.libpod[strings.TrimSuffix(strings.TrimPrefix(p, "/libpod/volumes/"), "/json")]
		case strings.HasPrefix(p, "/volumes/"):
			doc, ok = f.volumes[strings.TrimPrefix(p, "/volumes/")]
		default:
			http.Error(w, `{"message":"not in the fake"}`, http.StatusNotImplemented)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			doc = `{"message":"no such object"}`
		}
		w.Write([]byte(doc))
	})
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := client.New(client.WithHost("unix://"+sock), client.WithAPIVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	e := &Docker{c: c}
	t.Cleanup(func() { e.Close() })
	return e
}

// A container of Docker 27, as `docker run -v named1:/named -v
// OLDANON:/old (an anonymous volume of Docker 20.10) -v tmpvol:/cache -v /srv/conf:/conf:ro --mount
// type=tmpfs,dst=/scratch --tmpfs /run/t -v /srv/hosts:/etc/hosts
// --mount type=volume,src=shared,dst=/shared,volume-driver=vieux/sshfs` of
// an image with VOLUME /data makes it: Mounts in map order, the --tmpfs
// only in HostConfig.Tmpfs.
const (
	anonID   = "3f1c5e1a0b9d4c2e8f7a6b5d4c3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e"
	oldAnon  = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
	dockerID = "d0d767f2e68caddfae4f0aea00abea373439c1dd3c01000e9ab07b6d149b68ac"
)

var dockerInspect = `{
  "Id": "` + dockerID + `",
  "Created": "2026-11-27T05:21:04.277385176Z",
  "State": {"Status": "exited", "Running": false, "Paused": false},
  "Image": "sha256:ba353c5c18ed42fb7da988e7d013a471c3d79a7efb15f9696e0d37e1ccb1b6c8",
  "ResolvConfPath": "/var/lib/docker/containers/` + dockerID + `/resolv.conf",
  "HostsPath": "/var/lib/docker/containers/` + dockerID + `/hosts",
  "Name": "/db",
  "Driver": "overlay2",
  "HostConfig": {"Binds": ["named1:/named", "` + oldAnon + `:/old", "tmpvol:/cache", "/srv/conf:/conf:ro", "/srv/hosts:/etc/hosts"],
    "Tmpfs": {"/run/t": "rw,size=64m"}},
  "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": "/var/lib/docker/overlay2/abc/diff"}},
  "Mounts": [
    {"Type": "volume", "Name": "tmpvol", "Source": "/var/lib/docker/volumes/tmpvol/_data", "Destination": "/cache", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""},
    {"Type": "bind", "Source": "/srv/conf", "Destination": "/conf", "Mode": "ro", "RW": false, "Propagation": "rprivate"},
    {"Type": "volume", "Name": "` + anonID + `", "Source": "/var/lib/docker/volumes/` + anonID + `/_data", "Destination": "/data", "Driver": "local", "Mode": "", "RW": true, "Propagation": ""},
    {"Type": "bind", "Source": "/srv/hosts", "Destination": "/etc/hosts", "Mode": "", "RW": true, "Propagation": "rprivate"},
    {"Type": "volume", "Name": "named1", "Source": "/var/lib/docker/volumes/named1/_data", "Destination": "/named", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""},
    {"Type": "tmpfs", "Source": "", "Destination": "/scratch", "Mode": "", "RW": true, "Propagation": ""},
    {"Type": "volume", "Name": "` + oldAnon + `", "Source": "/var/lib/docker/volumes/` + oldAnon + `/_data", "Destination": "/old", "Driver": "local", "Mode": "", "RW": true, "Propagation": ""},
    {"Type": "volume", "Name": "shared", "Source": "/var/lib/docker/plugins/abc/propagated-mount/shared", "Destination": "/shared", "Driver": "vieux/sshfs:latest", "Mode": "z", "RW": true, "Propagation": ""}
  ],
  "Config": {"Image": "db:1", "Volumes": {"/data": {}}}
}`

func dockerVolume(name string, labels, options string) string {
	return `{"CreatedAt": "2026-11-27T05:21:04Z", "Driver": "local", "Labels": ` + labels + `, "Mountpoint": "/var/lib/docker/volumes/` + name + `/_data", "Name": "` + name + `", "Options": ` + options + `, "Scope": "local"}`
}

func TestDockerMounts(t *testing.T) {
	f := &fakeDaemon{
		version:    dockerVersion,
		containers: map[string]string{"db": dockerInspect},
		volumes: map[string]string{
			"named1": dockerVolume("named1", `{"com.docker.compose.project": "app"}`, "null"),
			anonID:   dockerVolume(anonID, `{"com.docker.volume.anonymous": ""}`, "null"),
			// Made by Docker 20.10, which labelled nothing.
			oldAnon:  dockerVolume(oldAnon, "null", "null"),
			"tmpvol": dockerVolume("tmpvol", "{}", `{"device": "tmpfs", "o": "size=100m", "type": "tmpfs"}`),
		},
	}
	e := serveDaemon(t, f)
	c, err := e.Container(context.Background(), "db")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Type: MountVolume, Name: "tmpvol", Source: "/var/lib/docker/volumes/tmpvol/_data", Destination: "/cache", Driver: DriverLocal, RW: true,
			Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=100m"}},
		{Type: MountBind, Source: "/srv/conf", Destination: "/conf"},
		{Type: MountVolume, Name: anonID, Source: "/var/lib/docker/volumes/" + anonID + "/_data", Destination: "/data", Driver: DriverLocal, RW: true,
			Anonymous: true, Labels: map[string]string{dockerAnonymousLabel: ""}},
		{Type: MountVolume, Name: "named1", Source: "/var/lib/docker/volumes/named1/_data", Destination: "/named", Driver: DriverLocal, RW: true,
			Labels: map[string]string{"com.docker.compose.project": "app"}},
		{Type: MountVolume, Name: oldAnon, Source: "/var/lib/docker/volumes/" + oldAnon + "/_data", Destination: "/old", Driver: DriverLocal, RW: true,
			Anonymous: true},
		{Type: MountTmpfs, Destination: "/run/t", RW: true},
		{Type: MountTmpfs, Destination: "/scratch", RW: true},
		// Not inspected: the fake has no such volume.
		{Type: MountVolume, Name: "shared", Source: "/var/lib/docker/plugins/abc/propagated-mount/shared", Destination: "/shared", Driver: "vieux/sshfs:latest", RW: true},
	}
	checkMounts(t, c.Mounts, want)
	if c.UpperDir != "/var/lib/docker/overlay2/abc/diff" || c.Name != "db" {
		t.Errorf("got upper dir %q, name %q: the mounts changed the rest", c.UpperDir, c.Name)
	}
	// One volume inspect per volume, and Docker's API, not libpod's.
	var volumeCalls int
	for _, p := range f.paths {
		if strings.Contains(p, "/libpod/") {
			t.Errorf("asked Docker %s", p)
		}
		if strings.Contains(p, "/volumes/") {
			volumeCalls++
		}
	}
	if volumeCalls != 4 {
		t.Errorf("%d volume inspects, want 4: %q", volumeCalls, f.paths)
	}
}

// podmanInspect is Podman 4.3's compat inspect of `podman run -v
// data1:/var/lib/data -v /srv:/srv --tmpfs /tmp/x -v cachevol:/cache` of
// an image with VOLUME /data: no tmpfs in Mounts, a 64-hex name for the
// anonymous volume and no label to tell it.
var podmanInspect = `{
  "Id": "5b1e0c4c0a5e0d1b6f1a9b4f7a0e7c6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a",
  "Created": "2026-11-27T05:21:04.277385176Z",
  "State": {"Status": "running", "Running": true, "Paused": false},
  "Image": "sha256:ba353c5c18ed42fb7da988e7d013a471c3d79a7efb15f9696e0d37e1ccb1b6c8",
  "Name": "pg",
  "Driver": "overlay",
  "HostConfig": {"Binds": ["data1:/var/lib/data:rw,rprivate,nosuid,nodev,rbind", "/srv:/srv:rw,rprivate,rbind"],
    "Tmpfs": {"/tmp/x": "rw,rprivate,nosuid,nodev,tmpcopyup"}},
  "GraphDriver": {"Name": "overlay", "Data": {"UpperDir": "/var/lib/containers/storage/overlay/abc/diff"}},
  "Mounts": [
    {"Type": "volume", "Name": "data1", "Source": "/var/lib/containers/storage/volumes/data1/_data", "Destination": "/var/lib/data", "Driver": "local", "Mode": "", "RW": true, "Propagation": "rprivate"},
    {"Type": "bind", "Source": "/srv", "Destination": "/srv", "Driver": "", "Mode": "", "RW": true, "Propagation": "rprivate"},
    {"Type": "volume", "Name": "` + anonID + `", "Source": "/var/lib/containers/storage/volumes/` + anonID + `/_data", "Destination": "/data", "Driver": "local", "Mode": "", "RW": true, "Propagation": "rprivate"},
    {"Type": "volume", "Name": "cachevol", "Source": "/var/lib/containers/storage/volumes/cachevol/_data", "Destination": "/cache", "Driver": "local", "Mode": "", "RW": true, "Propagation": "rprivate"},
    {"Type": "bind", "Source": "/run/user/0/containers/overlay-containers/x/userdata/.containerenv", "Destination": "/run/.containerenv", "Driver": "", "Mode": "", "RW": false, "Propagation": "rprivate"}
  ],
  "Config": {"Image": "docker.io/library/postgres:16"}
}`

func libpodVolume(name string, anonymous bool, labels, options string) string {
	anon := ""
	if anonymous {
		anon = `"Anonymous": true, `
	}
	return `{"Name": "` + name + `", "Driver": "local", "Mountpoint": "/var/lib/containers/storage/volumes/` + name + `/_data", "CreatedAt": "2026-11-27T05:21:04.2773Z", "Labels": ` + labels + `, "Scope": "local", "Options": ` + options + `, ` + anon + `"MountCount": 0, "NeedsCopyUp": true, "LockNumber": 3}`
}

func podmanVolume(name, labels, options string) string {
	return `{"CreatedAt": "2026-11-27T05:21:04Z", "Driver": "local", "Labels": ` + labels + `, "Mountpoint": "/var/lib/containers/storage/volumes/` + name + `/_data", "Name": "` + name + `", "Options": ` + options + `, "Scope": "local"}`
}

func TestPodmanMounts(t *testing.T) {
	podmanMounts := func(anonymous bool) []Mount {
		return []Mount{
			{Type: MountVolume, Name: "cachevol", Source: "/var/lib/containers/storage/volumes/cachevol/_data", Destination: "/cache", Driver: DriverLocal, RW: true,
				Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}},
			{Type: MountVolume, Name: anonID, Source: "/var/lib/containers/storage/volumes/" + anonID + "/_data", Destination: "/data", Driver: DriverLocal, RW: true,
				Anonymous: anonymous},
			{Type: MountBind, Source: "/srv", Destination: "/srv", RW: true},
			{Type: MountTmpfs, Destination: "/tmp/x", RW: true},
			{Type: MountVolume, Name: "data1", Source: "/var/lib/containers/storage/volumes/data1/_data", Destination: "/var/lib/data", Driver: DriverLocal, RW: true,
				Labels: map[string]string{"app": "pg"}},
		}
	}
	compat := map[string]string{
		"data1":    podmanVolume("data1", `{"app": "pg"}`, "{}"),
		anonID:     podmanVolume(anonID, "{}", "{}"),
		"cachevol": podmanVolume("cachevol", "{}", `{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}`),
	}
	t.Run("libpod", func(t *testing.T) {
		f := &fakeDaemon{
			version:    podmanVersion,
			containers: map[string]string{"pg": podmanInspect},
			volumes:    compat,
			libpod: map[string]string{
				"data1":    libpodVolume("data1", false, `{"app": "pg"}`, "{}"),
				anonID:     libpodVolume(anonID, true, "{}", "{}"),
				"cachevol": libpodVolume("cachevol", false, "{}", `{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}`),
			},
		}
		c, err := serveDaemon(t, f).Container(context.Background(), "pg")
		if err != nil {
			t.Fatal(err)
		}
		checkMounts(t, c.Mounts, podmanMounts(true))
		for _, p := range f.paths {
			if strings.HasPrefix(p, "/v1.41/volumes/") {
				t.Errorf("asked Podman's compatible API %s; its own says more", p)
			}
		}
	})
	// A Podman that refuses libpod API 4.0.0 (3.x) is asked through the
	// compatible API, where the anonymous volume is known by its name.
	t.Run("compat", func(t *testing.T) {
		f := &fakeDaemon{version: podmanVersion, containers: map[string]string{"pg": podmanInspect}, volumes: compat}
		c, err := serveDaemon(t, f).Container(context.Background(), "pg")
		if err != nil {
			t.Fatal(err)
		}
		checkMounts(t, c.Mounts, podmanMounts(true))
	})
	// A volume gone between the container's inspect and its own.
	t.Run("gone", func(t *testing.T) {
		f := &fakeDaemon{version: podmanVersion, containers: map[string]string{"pg": podmanInspect}, libpod: map[string]string{}}
		_, err := serveDaemon(t, f).Container(context.Background(), "pg")
		if err == nil || !strings.Contains(err.Error(), `container pg: inspect volume "data1": Error response from daemon: no such object`) {
			t.Errorf("error %v, want one naming the volume", err)
		}
	})
}

func TestDockerVolumeUsers(t *testing.T) {
	f := &fakeDaemon{version: dockerVersion, list: `[
  {"Id": "aaa", "Names": ["/web/db", "/db"], "State": "running", "Mounts": [{"Type": "volume", "Name": "named1", "Destination": "/named"}]},
  {"Id": "bbb", "Names": ["/backup"], "State": "paused"},
  {"Id": "ccc", "Names": ["/old"], "State": "exited"},
  {"Id": "ddd", "Names": ["/next"], "State": "created"},
  {"Id": "eee", "Names": ["/flaky"], "State": "restarting"}
]`}
	users, err := serveDaemon(t, f).VolumeUsers(context.Background(), "named1", "aaa")
	if err != nil {
		t.Fatal(err)
	}
	want := []VolumeUser{
		{ID: "bbb", Name: "backup", Running: true},
		{ID: "eee", Name: "flaky", Running: true},
		{ID: "ddd", Name: "next"},
		{ID: "ccc", Name: "old"},
	}
	if !reflect.DeepEqual(users, want) {
		t.Errorf("got %+v, want %+v", users, want)
	}
	if got := string(f.query["volume"]); got != `{"named1":true}` {
		t.Errorf("volume filter %s, want {\"named1\":true}", got)
	}
	users, err = serveDaemon(t, &fakeDaemon{list: `[{"Id": "aaa", "Names": ["/db"], "State": "running"}]`}).VolumeUsers(context.Background(), "named1", "aaa")
	if err != nil || len(users) != 0 {
		t.Errorf("only the container itself: got %+v, %v; want none", users, err)
	}
}

func checkMounts(t *testing.T, got, want []Mount) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d mounts, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
		return
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("mount %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
