package engine

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	"github.com/containerd/containerd/api/types/task"
	"google.golang.org/protobuf/types/known/anypb"
)

// nerdctlRoot is where a nerdctl keeps the volumes of namespace ns1.
const nerdctlRoot = "/var/lib/nerdctl/1935db59/volumes/ns1/"

// runtimeSpecMounts are the mounts that containerd's default spec and
// nerdctl put in every container's runtime spec.
var runtimeSpecMounts = []specMount{
	{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
	{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
	{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
	{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
	{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
	{Destination: "/etc/resolv.conf", Type: "bind", Source: "/var/lib/nerdctl/1935db59/containers/ns1/x/resolv.conf", Options: []string{"bind", "private"}},
	{Destination: "/etc/hosts", Type: "bind", Source: "/var/lib/nerdctl/1935db59/etchosts/ns1/x/hosts", Options: []string{"bind", "private"}},
	{Destination: "/etc/hostname", Type: "bind", Source: "/var/lib/nerdctl/1935db59/containers/ns1/x/hostname", Options: []string{"bind", "private"}},
}

// nerdctlContainer is a container record as nerdctl makes it: the mounts
// in labels (in one, or numbered ones as nerdctl 2.3.2 has them) and in
// the runtime spec, after the runtime's own.
func nerdctlContainer(t *testing.T, id, name string, chunked bool, points []dockerMount, anon []string, user []specMount) *containersapi.Container {
	t.Helper()
	labels := map[string]string{nerdctlName: name, "nerdctl/platform": "linux/amd64"}
	if len(points) > 0 {
		b, err := json.Marshal(points)
		if err != nil {
			t.Fatal(err)
		}
		if chunked {
			var raw []json.RawMessage
			json.Unmarshal(b, &raw)
			for i, r := range raw {
				labels[nerdctlMountN+strconv.Itoa(i)] = string(r)
			}
		} else {
			labels[nerdctlMounts] = string(b)
		}
	}
	if len(anon) > 0 {
		b, _ := json.Marshal(anon)
		labels[nerdctlAnonymous] = string(b)
	}
	spec, err := json.Marshal(map[string]any{"ociVersion": "1.1.0", "mounts": append(append([]specMount(nil), runtimeSpecMounts...), user...)})
	if err != nil {
		t.Fatal(err)
	}
	return &containersapi.Container{
		ID: id, Labels: labels, Image: "docker.io/library/postgres:16",
		Spec:        &anypb.Any{TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec", Value: spec},
		Snapshotter: "native", SnapshotKey: id,
	}
}

func volumePoint(name, dest string) dockerMount {
	return dockerMount{Type: MountVolume, Name: name, Source: nerdctlRoot + name + "/_data", Destination: dest, Driver: DriverLocal, RW: true}
}

func volumeSpec(name, dest string) specMount {
	return specMount{Destination: dest, Type: "none", Source: nerdctlRoot + name + "/_data", Options: []string{"rbind"}}
}

func nerdctlFake(t *testing.T) *fakeContainerd {
	// db: `nerdctl run --name db -v vol1:/named --mount
	// type=bind,src=/tmp,dst=/app --tmpfs /scratch` of an image with
	// VOLUME /data. nerdctl 2.2.2 records the tmpfs's source as "tmpfs".
	db := nerdctlContainer(t, "db0", "db", false,
		[]dockerMount{
			volumePoint("vol1", "/named"),
			{Type: MountBind, Source: "/tmp", Destination: "/app", RW: true},
			{Type: MountTmpfs, Source: "tmpfs", Destination: "/scratch", RW: true},
			volumePoint(anonID, "/data"),
		},
		[]string{anonID},
		[]specMount{
			volumeSpec("vol1", "/named"),
			{Destination: "/app", Type: "bind", Source: "/tmp", Options: []string{"rprivate", "rbind"}},
			{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"rw", "nosuid"}},
			volumeSpec(anonID, "/data"),
		})
	web := nerdctlContainer(t, "web0", "web", true,
		[]dockerMount{volumePoint("vol1", "/srv/named"), volumePoint("vol2", "/srv/other")}, nil,
		[]specMount{volumeSpec("vol1", "/srv/named"), volumeSpec("vol2", "/srv/other")})
	paused := nerdctlContainer(t, "paused0", "backup", false, []dockerMount{volumePoint("vol1", "/named")}, nil, []specMount{volumeSpec("vol1", "/named")})
	stopped := nerdctlContainer(t, "stopped0", "", false, []dockerMount{volumePoint("vol1", "/named")}, nil, []specMount{volumeSpec("vol1", "/named")})
	delete(stopped.Labels, nerdctlName)
	other := nerdctlContainer(t, "other0", "other", false, []dockerMount{volumePoint("vol2", "/v")}, nil, []specMount{volumeSpec("vol2", "/v")})
	// ctr run --mount type=bind,src=/srv/data,dst=/data,options=rbind:ro
	// --mount type=tmpfs,dst=/mnt/t: no labels, mounts only in the spec.
	ctrc := nerdctlContainer(t, "ctrc", "", false, nil, nil, []specMount{
		{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro"}},
		{Destination: "/mnt/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
		{Destination: "/mnt/n", Type: "none", Source: "/srv/n", Options: []string{"rbind"}},
	})
	delete(ctrc.Labels, nerdctlName)
	return &fakeContainerd{
		containers: []*containersapi.Container{db, web, paused, stopped, other, ctrc},
		tasks: map[string]task.Status{
			"db0": task.Status_STOPPED, "web0": task.Status_RUNNING, "paused0": task.Status_PAUSED, "other0": task.Status_RUNNING,
		},
	}
}

func TestContainerdMounts(t *testing.T) {
	e := &Containerd{c: serveFake(t, nerdctlFake(t))}
	ctx := context.Background()
	vol := func(name, dest string) Mount {
		return Mount{Type: MountVolume, Name: name, Source: nerdctlRoot + name + "/_data", Destination: dest, Driver: DriverLocal, RW: true}
	}
	anon := vol(anonID, "/data")
	anon.Anonymous = true
	for _, tc := range []struct {
		ref  string
		want []Mount
	}{
		{ref: "db", want: []Mount{
			{Type: MountBind, Source: "/tmp", Destination: "/app", RW: true},
			anon,
			vol("vol1", "/named"),
			{Type: MountTmpfs, Destination: "/scratch", RW: true},
		}},
		{ref: "web", want: []Mount{vol("vol1", "/srv/named"), vol("vol2", "/srv/other")}},
		{ref: "ctrc", want: []Mount{
			{Type: MountBind, Source: "/srv/data", Destination: "/data"},
			{Type: MountBind, Source: "/srv/n", Destination: "/mnt/n", RW: true},
			{Type: MountTmpfs, Destination: "/mnt/t", RW: true},
		}},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			c, err := e.Container(ctx, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			checkMounts(t, c.Mounts, tc.want)
		})
	}
}

func TestContainerdVolumeUsers(t *testing.T) {
	f := nerdctlFake(t)
	e := &Containerd{c: serveFake(t, f)}
	ctx := context.Background()
	users, err := e.VolumeUsers(ctx, "vol1", "db0")
	if err != nil {
		t.Fatal(err)
	}
	want := []VolumeUser{
		{ID: "paused0", Name: "backup", Running: true},
		{ID: "stopped0", Name: "stopped0"},
		{ID: "web0", Name: "web", Running: true},
	}
	if !reflect.DeepEqual(users, want) {
		t.Errorf("vol1: got %+v, want %+v", users, want)
	}
	if users, err := e.VolumeUsers(ctx, anonID, "db0"); err != nil || len(users) != 0 {
		t.Errorf("a volume only db0 uses: got %+v, %v; want none", users, err)
	}
	if users, err := e.VolumeUsers(ctx, "vol2", "other0"); err != nil || !reflect.DeepEqual(users, []VolumeUser{{ID: "web0", Name: "web", Running: true}}) {
		t.Errorf("vol2, a numbered label: got %+v, %v; want web0", users, err)
	}

	// A label that cannot be read could hide a user: no answer then.
	f.containers[4].Labels[nerdctlMounts] = `[{"Type": "volume", "Name": `
	if _, err := e.VolumeUsers(ctx, "vol1", "db0"); err == nil || !strings.Contains(err.Error(), `containers using volume "vol1": container other0: label nerdctl/mounts: unexpected end of JSON input`) {
		t.Errorf("corrupt label: error %v", err)
	}
	if _, err := e.Container(ctx, "other"); err == nil || !strings.Contains(err.Error(), "container other: label nerdctl/mounts") {
		t.Errorf("corrupt label: error %v", err)
	}
}
