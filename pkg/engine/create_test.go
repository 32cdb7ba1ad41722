package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/client"
)

// createDaemon is a Docker-compatible daemon with state: the part of the
// API that PlanCreate and Create use. It records every request, and the
// bodies of the creates.
type createDaemon struct {
	mu         sync.Mutex
	containers map[string]string // name → inspect document
	images     map[string]string // id or reference → image inspect document
	list       []string          // ids that GET /images/json lists
	volumes    map[string]bool
	networks   map[string]string // name → network inspect document
	info       string
	failCreate bool

	requests []string          // "METHOD /path?query"
	created  []json.RawMessage // bodies of POST /containers/create
	volBody  []json.RawMessage // bodies of POST /volumes/create
	connects []string          // "network container"
}

func serveCreate(t *testing.T, f *createDaemon) *Docker {
	t.Helper()
	route := regexp.MustCompile(`^/v[0-9.]+(/.*)$`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		p := r.URL.Path
		if m := route.FindStringSubmatch(p); m != nil {
			p = m[1]
		}
		req := r.Method + " " + p
		if r.URL.RawQuery != "" {
			req += "?" + r.URL.RawQuery
		}
		f.requests = append(f.requests, req)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		reply := func(code int, doc string) {
			w.WriteHeader(code)
			w.Write([]byte(doc))
		}
		notFound := func() { reply(http.StatusNotFound, `{"message":"no such object"}`) }
		between := func(prefix, suffix string) (string, bool) {
			if !strings.HasPrefix(p, prefix) || !strings.HasSuffix(p, suffix) || len(p) <= len(prefix)+len(suffix) {
				return "", false
			}
			return p[len(prefix) : len(p)-len(suffix)], true
		}
		switch r.Method {
		case http.MethodGet:
			if p == "/info" {
				reply(http.StatusOK, f.info)
				return
			}
			if p == "/images/json" {
				var items []string
				for _, id := range f.list {
					items = append(items, `{"Id":"`+id+`"}`)
				}
				reply(http.StatusOK, "["+strings.Join(items, ",")+"]")
				return
			}
			if n, ok := between("/containers/", "/json"); ok {
				if doc, ok := f.containers[n]; ok {
					reply(http.StatusOK, doc)
					return
				}
			} else if n, ok := between("/images/", "/json"); ok {
				if doc, ok := f.images[n]; ok {
					reply(http.StatusOK, doc)
					return
				}
			} else if n, ok := between("/volumes/", ""); ok {
				if f.volumes[n] {
					reply(http.StatusOK, `{"Name":"`+n+`","Driver":"local"}`)
					return
				}
			} else if n, ok := between("/networks/", ""); ok {
				if doc, ok := f.networks[n]; ok {
					reply(http.StatusOK, doc)
					return
				}
			}
			notFound()
		case http.MethodPost:
			switch {
			case p == "/containers/create":
				f.created = append(f.created, body)
				if f.failCreate {
					reply(http.StatusInternalServerError, `{"message":"injected failure"}`)
					return
				}
				name := r.URL.Query().Get("name")
				id := strings.Repeat("c", 64)
				f.containers[name] = `{"Id":"` + id + `","Name":"/` + name + `"}`
				f.containers[id] = f.containers[name]
				reply(http.StatusCreated, `{"Id":"`+id+`","Warnings":[]}`)
			case p == "/volumes/create":
				f.volBody = append(f.volBody, body)
				var v struct{ Name string }
				json.Unmarshal(body, &v)
				f.volumes[v.Name] = true
				reply(http.StatusCreated, `{"Name":"`+v.Name+`","Driver":"local"}`)
			default:
				if n, ok := between("/networks/", "/connect"); ok {
					var c struct{ Container string }
					json.Unmarshal(body, &c)
					f.connects = append(f.connects, n+" "+c.Container)
					reply(http.StatusOK, ``)
					return
				}
				reply(http.StatusNotImplemented, `{"message":"not in the fake"}`)
			}
		case http.MethodDelete:
			if n, ok := between("/volumes/", ""); ok && f.volumes[n] {
				delete(f.volumes, n)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if n, ok := between("/containers/", ""); ok {
				if doc, ok := f.containers[n]; ok {
					for k, d := range f.containers {
						if d == doc {
							delete(f.containers, k)
						}
					}
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
			notFound()
		default:
			reply(http.StatusNotImplemented, `{"message":"not in the fake"}`)
		}
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

const (
	srcID   = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2"
	imgID   = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	otherID = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

var srcLayers = []string{"sha256:aaaa", "sha256:bbbb"}

func imageInspectDoc(id string, layers []string) string {
	b, _ := json.Marshal(map[string]any{"Id": id, "RootFS": map[string]any{"Type": "layers", "Layers": layers}})
	return string(b)
}

// webInspect is Docker 27's inspect of `docker run --name web -u app -w
// /srv/app -e MODE=prod -l tier=front --restart unless-stopped -p
// 18080:8080 --cap-add NET_ADMIN -m 256m --network appnet --network-alias
// web-alias -v db:/data -v /cache -v CONF:/conf:ro --device /dev/fuse
// web:1 serve --port 8080`, CONF standing for a host directory.
func webInspect(conf string) string {
	return `{
  "Id": "` + srcID + `",
  "Name": "/web",
  "Image": "` + imgID + `",
  "Config": {"Hostname": "a1b2c3d4e5f6", "Domainname": "", "User": "app",
    "AttachStdin": false, "AttachStdout": true, "AttachStderr": true,
    "ExposedPorts": {"8080/tcp": {}}, "Tty": false, "OpenStdin": false, "StdinOnce": false,
    "Env": ["MODE=prod", "PATH=/usr/local/bin:/usr/bin:/bin"],
    "Cmd": ["serve", "--port", "8080"], "Image": "web:1",
    "Volumes": {"/cache": {}}, "WorkingDir": "/srv/app", "Entrypoint": null,
    "OnBuild": null, "Labels": {"tier": "front"}},
  "HostConfig": {"Binds": ["db:/data", "` + conf + `:/conf:ro"], "ContainerIDFile": "",
    "LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "appnet",
    "PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": "18080"}]},
    "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
    "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0],
    "CapAdd": ["NET_ADMIN"], "CapDrop": null, "CgroupnsMode": "private",
    "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": null, "GroupAdd": null,
    "IpcMode": "private", "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "",
    "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null,
    "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864, "Runtime": "runc", "Isolation": "",
    "CpuShares": 0, "Memory": 268435456, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
    "BlkioWeightDevice": [], "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "", "CpusetMems": "",
    "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}],
    "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 536870912,
    "MemorySwappiness": null, "OomKillDisable": null, "PidsLimit": null, "Ulimits": [],
    "MaskedPaths": ["/proc/asound", "/proc/acpi"], "ReadonlyPaths": ["/proc/bus"]},
  "Mounts": [
    {"Type": "volume", "Name": "db", "Source": "/var/lib/docker/volumes/db/_data", "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true},
    {"Type": "volume", "Name": "` + anonID + `", "Source": "/var/lib/docker/volumes/` + anonID + `/_data", "Destination": "/cache", "Driver": "local", "Mode": "", "RW": true},
    {"Type": "bind", "Source": "` + conf + `", "Destination": "/conf", "Mode": "ro", "RW": false, "Propagation": "rprivate"}
  ],
  "NetworkSettings": {"Networks": {"appnet": {"IPAMConfig": null, "Links": null,
    "Aliases": ["web-alias", "a1b2c3d4e5f6"], "NetworkID": "n1", "IPAddress": "172.18.0.2", "DNSNames": ["web", "a1b2c3d4e5f6", "web-alias"]}}}
}`
}

const dockerInfo = `{"Runtimes": {"runc": {"path": "runc"}}, "DefaultRuntime": "runc", "Plugins": {"Log": ["json-file", "local", "journald"]}}`

// newWebDaemon is a Docker with web's image and network, and nothing else.
func newWebDaemon() *createDaemon {
	return &createDaemon{
		containers: map[string]string{},
		images:     map[string]string{imgID: imageInspectDoc(imgID, srcLayers), "web:1": imageInspectDoc(imgID, srcLayers)},
		list:       []string{imgID},
		volumes:    map[string]bool{},
		networks: map[string]string{
			"appnet": `{"Name": "appnet", "Id": "n1", "Driver": "bridge"}`,
			"bridge": `{"Name": "bridge", "Id": "n0", "Driver": "bridge"}`,
		},
		info: dockerInfo,
	}
}

// setKeys are the keys of a request section whose values are set.
func setKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var ks []string
	for k, v := range m {
		if !unset(v, []string{"[0,0]"}) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

func jsonEq(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want: %v", what, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("%s = %s, want %s", what, gb, wb)
	}
}

func TestCreateCarries(t *testing.T) {
	ctx := context.Background()
	conf := t.TempDir()
	f := newWebDaemon()
	e := serveCreate(t, f)
	opts := CreateOptions{Name: "web2", Binds: true}

	// The device cannot hold: refused, and nothing is made.
	p, err := e.PlanCreate(ctx, json.RawMessage(webInspect(conf)), imgID, "web:1", srcLayers, opts)
	if !errors.Is(err, ErrRefused) || p == nil {
		t.Fatalf("plan with a device: %v, want ErrRefused and a plan", err)
	}
	if want := []string{"HostConfig.Devices: devices of the source host"}; !slices.Equal(p.Refused, want) {
		t.Errorf("Refused = %q, want %q", p.Refused, want)
	}
	if _, _, err := e.Create(ctx, p); !errors.Is(err, ErrRefused) {
		t.Errorf("create of a refused plan: %v", err)
	}
	if len(f.created) != 0 || len(f.volBody) != 0 {
		t.Fatalf("a refused plan made something: %q", f.requests)
	}

	opts.DropHostConfig = true
	p, err = e.PlanCreate(ctx, json.RawMessage(webInspect(conf)), imgID, "web:1", srcLayers, opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Image != imgID || len(p.Refused) != 0 {
		t.Errorf("image %q, refused %q", p.Image, p.Refused)
	}
	wantCarried := []string{
		"AttachStderr", "AttachStdout", "Cmd", "Env", "ExposedPorts", "Labels", "User", "Volumes", "WorkingDir",
		"HostConfig.CapAdd", "HostConfig.LogConfig", "HostConfig.Memory", "HostConfig.MemorySwap",
		"HostConfig.PortBindings", "HostConfig.RestartPolicy", "HostConfig.ShmSize",
		"Mounts /data (volume db)", "Mounts /conf (bind " + conf + ")", "Mounts /cache (anonymous volume, made fresh)",
		"Networks appnet aliases web-alias", "HostConfig.NetworkMode",
	}
	if !slices.Equal(p.Carried, wantCarried) {
		t.Errorf("Carried =\n%q, want\n%q", p.Carried, wantCarried)
	}
	if want := []string{"HostConfig.Devices: devices of the source host"}; !slices.Equal(p.Dropped, want) {
		t.Errorf("Dropped = %q, want %q", p.Dropped, want)
	}
	if !slices.Equal(p.Networks, []string{"appnet"}) || len(p.Missing) != 0 || !slices.Equal(p.NewVolumes, []string{"db"}) {
		t.Errorf("networks %q, missing %q, new volumes %q", p.Networks, p.Missing, p.NewVolumes)
	}
	p.SetVolumeLabels("db", map[string]string{"app": "web"})

	id, undo, err := e.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.created) != 1 || len(f.volBody) != 1 {
		t.Fatalf("%d container creates, %d volume creates", len(f.created), len(f.volBody))
	}
	jsonEq(t, "volume create", f.volBody[0], `{"Name": "db", "Labels": {"app": "web"}}`)
	// The body is Config's fields, with HostConfig and NetworkingConfig
	// beside them (container.CreateRequest embeds Config).
	var req struct{ Config, HostConfig, NetworkingConfig json.RawMessage }
	var body map[string]json.RawMessage
	if err := json.Unmarshal(f.created[0], &body); err != nil {
		t.Fatal(err)
	}
	req.HostConfig, req.NetworkingConfig = body["HostConfig"], body["NetworkingConfig"]
	delete(body, "HostConfig")
	delete(body, "NetworkingConfig")
	req.Config, _ = json.Marshal(body)
	if got, want := setKeys(t, req.Config), []string{"AttachStderr", "AttachStdout", "Cmd", "Env", "ExposedPorts", "Image", "Labels", "User", "Volumes", "WorkingDir"}; !slices.Equal(got, want) {
		t.Errorf("Config sets %q, want %q", got, want)
	}
	if got, want := setKeys(t, req.HostConfig), []string{"Binds", "CapAdd", "LogConfig", "Memory", "MemorySwap", "NetworkMode", "PortBindings", "RestartPolicy", "ShmSize"}; !slices.Equal(got, want) {
		t.Errorf("HostConfig sets %q, want %q", got, want)
	}
	var cfg, hc map[string]json.RawMessage
	json.Unmarshal(req.Config, &cfg)
	json.Unmarshal(req.HostConfig, &hc)
	for k, want := range map[string]string{
		"Cmd": `["serve","--port","8080"]`, "Env": `["MODE=prod","PATH=/usr/local/bin:/usr/bin:/bin"]`,
		"User": `"app"`, "WorkingDir": `"/srv/app"`, "Labels": `{"tier":"front"}`, "Image": `"web:1"`,
		"Volumes": `{"/cache":{}}`, "ExposedPorts": `{"8080/tcp":{}}`,
	} {
		jsonEq(t, "Config."+k, cfg[k], want)
	}
	for k, want := range map[string]string{
		"Binds": `["db:/data","` + conf + `:/conf:ro"]`, "CapAdd": `["CAP_NET_ADMIN"]`, "Memory": `268435456`,
		"NetworkMode": `"appnet"`, "PortBindings": `{"8080/tcp":[{"HostIp":"","HostPort":"18080"}]}`,
		"RestartPolicy": `{"Name":"unless-stopped","MaximumRetryCount":0}`, "LogConfig": `{"Type":"json-file","Config":{}}`,
	} {
		jsonEq(t, "HostConfig."+k, hc[k], want)
	}
	jsonEq(t, "NetworkingConfig", req.NetworkingConfig, `{"EndpointsConfig":{"appnet":{"IPAMConfig":null,"Links":null,"Aliases":["web-alias"],"DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}`)

	// The undo removes the container with its anonymous volumes, and the
	// volume it made.
	f.requests = nil
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"DELETE /containers/" + id + "?force=1&v=1", "DELETE /volumes/db"}
	if !slices.Equal(f.requests, want) {
		t.Errorf("undo asked %q, want %q", f.requests, want)
	}
	if len(f.volumes) != 0 || f.containers["web2"] != "" {
		t.Errorf("left behind: volumes %v, containers %v", f.volumes, f.containers)
	}
}

func TestCreateBindsAndNetworks(t *testing.T) {
	ctx := context.Background()
	f := newWebDaemon()
	delete(f.networks, "appnet")
	e := serveCreate(t, f)
	// Without --binds the host directory is dropped; a missing network
	// leaves the container on the default one.
	p, err := e.PlanCreate(ctx, json.RawMessage(webInspect("/srv/conf")), imgID, "web:1", srcLayers, CreateOptions{Name: "web2", DropHostConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Dropped, "Binds /srv/conf:/conf: host path, needs --binds") {
		t.Errorf("Dropped = %q", p.Dropped)
	}
	if len(p.Networks) != 0 || !slices.Equal(p.Missing, []string{"appnet"}) || p.host.NetworkMode != "default" {
		t.Errorf("networks %q, missing %q, mode %q", p.Networks, p.Missing, p.host.NetworkMode)
	}
	// With --binds, a host directory that is not here is refused.
	p, err = e.PlanCreate(ctx, json.RawMessage(webInspect("/nonexistent/conf")), imgID, "web:1", srcLayers, CreateOptions{Name: "web2", Binds: true})
	if !errors.Is(err, ErrRefused) || !slices.Contains(p.Refused, "Binds /nonexistent/conf:/conf: /nonexistent/conf does not exist here") {
		t.Errorf("plan: %v, refused %q", err, p.Refused)
	}
}

func TestCreateTaken(t *testing.T) {
	ctx := context.Background()
	raw := json.RawMessage(webInspect("/srv/conf"))
	opts := CreateOptions{Name: "web2", DropHostConfig: true}

	t.Run("name", func(t *testing.T) {
		f := newWebDaemon()
		f.containers["web2"] = `{"Id": "` + strings.Repeat("e", 64) + `", "Name": "/web2"}`
		// A container whose id starts with the name does not hold it.
		f.containers["ab12"] = `{"Id": "ab12` + strings.Repeat("0", 60) + `", "Name": "/other"}`
		e := serveCreate(t, f)
		_, err := e.PlanCreate(ctx, raw, imgID, "web:1", srcLayers, opts)
		if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "container web2 exists here (eeeeeeeeeeee)") {
			t.Errorf("got %v", err)
		}
		if _, err := e.PlanCreate(ctx, raw, imgID, "web:1", srcLayers, CreateOptions{Name: "ab12", DropHostConfig: true}); err != nil {
			t.Errorf("a name that is an id prefix: %v", err)
		}
	})
	t.Run("volume", func(t *testing.T) {
		f := newWebDaemon()
		f.volumes["db"] = true
		e := serveCreate(t, f)
		_, err := e.PlanCreate(ctx, raw, imgID, "web:1", srcLayers, opts)
		if !errors.Is(err, ErrVolumeExists) || !strings.Contains(err.Error(), "volume db exists here") {
			t.Errorf("got %v", err)
		}
		reuse := opts
		reuse.ReuseVolumes = true
		p, err := e.PlanCreate(ctx, raw, imgID, "web:1", srcLayers, reuse)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.NewVolumes) != 0 || !slices.Contains(p.Carried, "Mounts /data (volume db, reused)") {
			t.Errorf("new volumes %q, carried %q", p.NewVolumes, p.Carried)
		}
		_, undo, err := e.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := undo(ctx); err != nil {
			t.Fatal(err)
		}
		if !f.volumes["db"] || len(f.volBody) != 0 {
			t.Errorf("a reused volume was made or removed: %q", f.requests)
		}
	})
}

func TestCreateImage(t *testing.T) {
	ctx := context.Background()
	raw := json.RawMessage(webInspect("/srv/conf"))
	opts := CreateOptions{Name: "web2", DropHostConfig: true}

	t.Run("missing", func(t *testing.T) {
		f := newWebDaemon()
		// The tag names another image now.
		f.images = map[string]string{"web:1": imageInspectDoc(otherID, []string{"sha256:cccc"})}
		f.list = []string{otherID}
		e := serveCreate(t, f)
		_, err := e.PlanCreate(ctx, raw, imgID, "web:1", srcLayers, opts)
		if !errors.Is(err, ErrImageMissing) {
			t.Fatalf("got %v", err)
		}
		for _, want := range []string{"image web:1 (id " + imgID, "diffIDs sha256:aaaa, sha256:bbbb", "web:1 here is image " + otherID + ", with other layers", "docker pull web:1", "docker save web:1 | docker load"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q does not say %q", err, want)
			}
		}
	})
	t.Run("by layers", func(t *testing.T) {
		f := newWebDaemon()
		f.images = map[string]string{otherID: imageInspectDoc(otherID, srcLayers)}
		f.list = []string{otherID}
		e := serveCreate(t, f)
		p, err := e.PlanCreate(ctx, raw, imgID, "web:1", srcLayers, opts)
		if err != nil {
			t.Fatal(err)
		}
		if p.Image != otherID || p.config.Image != otherID {
			t.Errorf("image %q, create from %q; want %s", p.Image, p.config.Image, otherID)
		}
	})
}

// A failure after the volumes are made removes them.
func TestCreateFails(t *testing.T) {
	ctx := context.Background()
	f := newWebDaemon()
	f.failCreate = true
	e := serveCreate(t, f)
	p, err := e.PlanCreate(ctx, json.RawMessage(webInspect("/srv/conf")), imgID, "web:1", srcLayers, CreateOptions{Name: "web2", DropHostConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, undo, err := e.Create(ctx, p); err == nil || undo != nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("create: %v", err)
	}
	if len(f.volumes) != 0 || !slices.Contains(f.requests, "DELETE /volumes/db") {
		t.Errorf("left volumes %v: %q", f.volumes, f.requests)
	}
}

// podmanWebInspect is how Podman 4's compatible API shows a container:
// every HostConfig field, its own options in Binds and Tmpfs, HOSTNAME
// and container=podman in Env, rlimits by their kernel names, runtime
// "oci", the k8s-file log driver, the default network called podman.
var podmanWebInspect = `{
  "Id": "` + srcID + `",
  "Name": "pweb",
  "Config": {"Hostname": "a1b2c3d4e5f6", "Domainname": "", "User": "", "AttachStdin": false,
    "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false,
    "Env": ["PATH=/usr/bin", "container=podman", "HOSTNAME=a1b2c3d4e5f6"], "Cmd": ["serve"],
    "Image": "docker.io/library/web:1", "Volumes": null, "WorkingDir": "/", "Entrypoint": [],
    "Labels": null, "StopSignal": "SIGTERM", "StopTimeout": 10},
  "HostConfig": {"Binds": ["db:/data:rw,rprivate,nosuid,nodev,rbind"], "CgroupManager": "systemd",
    "CgroupMode": "private", "ContainerIDFile": "", "LogConfig": {"Type": "k8s-file", "Config": null},
    "NetworkMode": "bridge", "PortBindings": {}, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
    "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "CapAdd": [], "CapDrop": ["CAP_AUDIT_WRITE"],
    "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": [], "GroupAdd": [], "IpcMode": "shareable",
    "Cgroup": "", "Cgroups": "default", "Links": null, "OomScoreAdj": 0, "PidMode": "private",
    "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": [],
    "Tmpfs": {"/run/x": "rw,rprivate,nosuid,nodev,tmpcopyup"}, "UTSMode": "private", "UsernsMode": "",
    "ShmSize": 65536000, "Runtime": "oci", "ConsoleSize": [0, 0], "Isolation": "", "CpuShares": 0,
    "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": null,
    "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "",
    "CpusetMems": "", "Devices": [], "DiskQuota": 0, "KernelMemory": 0, "MemoryReservation": 0,
    "MemorySwap": 0, "MemorySwappiness": 0, "OomKillDisable": false, "PidsLimit": 2048,
    "Ulimits": [{"Name": "RLIMIT_NOFILE", "Soft": 1048576, "Hard": 1048576}], "CpuCount": 0,
    "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "CgroupConf": null},
  "Mounts": [
    {"Type": "volume", "Name": "db", "Source": "/var/lib/containers/storage/volumes/db/_data", "Destination": "/data", "Driver": "local", "Mode": "", "RW": true, "Propagation": "rprivate"}
  ],
  "NetworkSettings": {"Networks": {"podman": {"IPAMConfig": null, "Links": null, "Aliases": ["a1b2c3d4e5f6"], "NetworkID": "podman"}}}
}`

func TestCreateFromPodman(t *testing.T) {
	ctx := context.Background()
	f := newWebDaemon()
	f.images["docker.io/library/web:1"] = imageInspectDoc(imgID, srcLayers)
	e := serveCreate(t, f)
	p, err := e.PlanCreate(ctx, json.RawMessage(podmanWebInspect), imgID, "docker.io/library/web:1", srcLayers, CreateOptions{Name: "web2"})
	if err != nil {
		t.Fatal(err)
	}
	wantCarried := []string{"Cmd", "Env", "StopSignal", "StopTimeout", "WorkingDir",
		"HostConfig.CapDrop", "HostConfig.PidsLimit", "HostConfig.ShmSize", "HostConfig.Ulimits",
		"Mounts /data (volume db)", "Mounts /run/x (tmpfs)", "HostConfig.NetworkMode"}
	if !slices.Equal(p.Carried, wantCarried) {
		t.Errorf("Carried =\n%q, want\n%q", p.Carried, wantCarried)
	}
	wantDropped := []string{
		"Env container=podman: Podman sets it itself",
		"Env HOSTNAME=a1b2c3d4e5f6: the engine sets HOSTNAME to the new container's hostname",
		`HostConfig.CgroupManager: not carried`, `HostConfig.CgroupMode: not carried`, `HostConfig.Cgroups: not carried`,
		`HostConfig.LogConfig: log driver "k8s-file" is not one of this engine's (json-file, local, journald); its default logs`,
		"Binds db:/data options nosuid,nodev,rbind: not options the Docker API takes",
		"Mounts /run/x options rprivate,tmpcopyup: not options the Docker API takes",
	}
	if !slices.Equal(p.Dropped, wantDropped) {
		t.Errorf("Dropped =\n%q, want\n%q", p.Dropped, wantDropped)
	}
	if len(p.Refused) != 0 || !slices.Equal(p.Networks, []string{"bridge"}) || len(p.Missing) != 0 {
		t.Errorf("refused %q, networks %q, missing %q", p.Refused, p.Networks, p.Missing)
	}
	if !slices.Equal(p.host.Binds, []string{"db:/data:rw,rprivate"}) || p.host.Tmpfs["/run/x"] != "rw,nosuid,nodev" ||
		p.host.Ulimits[0].Name != "nofile" || !slices.Equal(p.config.Env, []string{"PATH=/usr/bin"}) || p.config.Hostname != "" {
		t.Errorf("binds %q, tmpfs %q, ulimit %q, env %q, hostname %q", p.host.Binds, p.host.Tmpfs, p.host.Ulimits[0].Name, p.config.Env, p.config.Hostname)
	}
}

func TestCreateOtherDocuments(t *testing.T) {
	ctx := context.Background()
	e := serveCreate(t, newWebDaemon())
	rec := `{"id": "web", "namespace": "default", "image": "docker.io/library/web:1", "snapshotter": "overlayfs", "snapshotKey": "web"}`
	if _, err := e.PlanCreate(ctx, json.RawMessage(rec), imgID, "web:1", srcLayers, CreateOptions{Name: "web2"}); err == nil || !strings.Contains(err.Error(), "containerd record") {
		t.Errorf("a containerd record: %v", err)
	}
	if _, err := e.PlanCreate(ctx, json.RawMessage(webInspect("/x")), imgID, "web:1", srcLayers, CreateOptions{}); err == nil {
		t.Error("a plan without a name")
	}
	var ctrd Containerd
	if _, err := ctrd.PlanCreate(ctx, json.RawMessage(rec), imgID, "web:1", srcLayers, CreateOptions{Name: "web2"}); !errors.Is(err, ErrCreateUnsupported) {
		t.Errorf("containerd: %v", err)
	}
	if _, _, err := ctrd.Create(ctx, &CreatePlan{}); !errors.Is(err, ErrCreateUnsupported) {
		t.Errorf("containerd: %v", err)
	}
}
