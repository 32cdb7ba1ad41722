package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/moby/moby/client"
)

// dockerAnonymousLabel is the label Docker 23 and later give a volume it
// named itself (moby daemon/volume/service: AnonymousLabel, set with an
// empty value when a volume is created without a name).
const dockerAnonymousLabel = "com.docker.volume.anonymous"

// maxVolumeDoc bounds a volume inspect document read past the client.
const maxVolumeDoc = 1 << 20

// dockerMount is what the Docker-compatible API says of one mount point
// (container.MountPoint), as far as a Mount needs it.
type dockerMount struct {
	Type, Name, Source, Destination, Driver string
	RW                                      bool
}

// mounts turns an inspect document's Mounts, and HostConfig.Tmpfs, into
// the container's Mounts, with each local volume's options, labels and
// anonymity from one volume inspect.
//
// Docker lists `--tmpfs` mounts only in HostConfig.Tmpfs, Podman every
// tmpfs (libpod's GetMounts drops them from Mounts); both list the files
// they manage themselves only where the user mounted something over them,
// and those stay out.
func (e *Docker) mounts(ctx context.Context, points []dockerMount, tmpfs map[string]string) ([]Mount, error) {
	var ms []Mount
	seen := map[string]bool{}
	for _, p := range points {
		if engineFile(p.Destination) {
			continue
		}
		seen[path.Clean(p.Destination)] = true
		m := Mount{Type: p.Type, Name: p.Name, Source: p.Source, Destination: p.Destination, Driver: p.Driver, RW: p.RW}
		if m.Type == "" { // API < 1.25 has no Type
			m.Type = MountBind
			if m.Name != "" {
				m.Type = MountVolume
			}
		}
		// A plugin's volume is not inspected: its plugin may be gone,
		// and a layer-only export must not fail for it.
		if m.Type == MountVolume && m.Name != "" && (m.Driver == DriverLocal || m.Driver == "") {
			if err := e.volume(ctx, &m); err != nil {
				return nil, err
			}
		}
		ms = append(ms, m)
	}
	for dest, opts := range tmpfs {
		if seen[path.Clean(dest)] || engineFile(dest) {
			continue
		}
		ms = append(ms, Mount{Type: MountTmpfs, Destination: dest, RW: !hasOption(strings.Split(opts, ","), "ro")})
	}
	sortMounts(ms)
	return ms, nil
}

func hasOption(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// volumeDoc is a volume inspect document: Docker's (volume.Volume) or
// libpod's (define.InspectVolumeData, which adds Anonymous).
type volumeDoc struct {
	Driver    string
	Options   map[string]string
	Labels    map[string]string
	Anonymous bool
}

// volume fills in what a volume inspect says of m's volume.
func (e *Docker) volume(ctx context.Context, m *Mount) error {
	podman, err := e.isPodman(ctx)
	if err != nil {
		return err
	}
	var v *volumeDoc
	if podman {
		v, err = e.libpodVolume(ctx, m.Name)
		if err != nil {
			return fmt.Errorf("inspect volume %q: %w", m.Name, err)
		}
	} else {
		res, err := e.c.VolumeInspect(ctx, m.Name, client.VolumeInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect volume %q: %w", m.Name, err)
		}
		v = &volumeDoc{Driver: res.Volume.Driver, Options: res.Volume.Options, Labels: res.Volume.Labels}
		_, v.Anonymous = v.Labels[dockerAnonymousLabel]
		// Docker before 23 labels nothing; it names an anonymous volume
		// with a random 64-hex id (stringid.GenerateRandomID), as it
		// names containers.
		v.Anonymous = v.Anonymous || generatedName(m.Name)
	}
	if v.Driver != "" {
		m.Driver = v.Driver
	}
	m.Options, m.Labels, m.Anonymous = nonEmpty(v.Options), nonEmpty(v.Labels), v.Anonymous
	return nil
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// generatedName tells whether name is a 64-hex id such as Docker and
// Podman make up for a volume that has no name.
func generatedName(name string) bool {
	return len(name) == 64 && strings.Trim(name, "0123456789abcdef") == ""
}

// isPodman tells whether the daemon is Podman, which names itself among the
// components of its version.
func (e *Docker) isPodman(ctx context.Context) (bool, error) {
	if e.podman == nil {
		ver, err := e.c.ServerVersion(ctx, client.ServerVersionOptions{})
		if err != nil {
			return false, fmt.Errorf("docker version: %w", err)
		}
		podman := isPodmanVersion(ver)
		e.podman = &podman
	}
	return *e.podman, nil
}

func isPodmanVersion(ver client.ServerVersionResult) bool {
	for _, c := range ver.Components {
		if strings.HasPrefix(c.Name, "Podman") {
			return true
		}
	}
	return false
}

// libpodVolumePath is where Podman's own API inspects a volume. Podman's
// Docker-compatible volume inspect (compat.InspectVolume) leaves out
// whether the volume is anonymous, and labels nothing for it; its own
// (define.InspectVolumeData) has an Anonymous field since Podman 3.0.
// Podman 4 and later take libpod API version 4.0.0.
const libpodVolumePath = "/v4.0.0/libpod/volumes/"

// libpodVolume inspects a volume through Podman's own API, on the
// connection the client dials; a Podman that does not answer there (3.x)
// is asked through the Docker-compatible API, where an anonymous volume
// can only be told by its made-up name.
func (e *Docker) libpodVolume(ctx context.Context, name string) (*volumeDoc, error) {
	dial := e.c.Dialer()
	hc := &http.Client{Transport: &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://podman"+libpodVolumePath+url.PathEscape(name)+"/json", nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body := io.LimitReader(res.Body, maxVolumeDoc)
	if res.StatusCode != http.StatusOK {
		io.Copy(io.Discard, body)
		compat, err := e.c.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		if err != nil {
			return nil, err
		}
		return &volumeDoc{Driver: compat.Volume.Driver, Options: compat.Volume.Options, Labels: compat.Volume.Labels,
			Anonymous: generatedName(name)}, nil
	}
	var v volumeDoc
	if err := json.NewDecoder(body).Decode(&v); err != nil {
		return nil, fmt.Errorf("decode podman's answer: %w", err)
	}
	return &v, nil
}

// VolumeUsers asks the daemon for every container, stopped or not, that
// mounts volume name (the "volume" filter of GET /containers/json, which
// Docker and Podman both match against volume names and mount
// destinations; a volume's name is never an absolute path).
func (e *Docker) VolumeUsers(ctx context.Context, name, except string) ([]VolumeUser, error) {
	res, err := e.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("volume", name)})
	if err != nil {
		return nil, fmt.Errorf("list containers using volume %q: %w", name, err)
	}
	var users []VolumeUser
	for _, s := range res.Items {
		if s.ID == except {
			continue
		}
		u := VolumeUser{ID: s.ID, Name: s.ID, Running: s.State == "running" || s.State == "paused" || s.State == "restarting"}
		// Names holds "/name", and "/other/alias" for each link to it.
		for _, n := range s.Names {
			if n = strings.TrimPrefix(n, "/"); n != "" && !strings.Contains(n, "/") {
				u.Name = n
				break
			}
		}
		users = append(users, u)
	}
	sortUsers(users)
	return users, nil
}

// sortUsers orders users by name, so that a message naming them is the
// same from one run to the next.
func sortUsers(us []VolumeUser) {
	sort.Slice(us, func(i, j int) bool { return us[i].Name < us[j].Name })
}
