package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// ErrCreateUnsupported: the engine cannot make a container from an
// envelope (containerd used directly).
var ErrCreateUnsupported = errors.New("--create is not supported for containerd yet: create the container with nerdctl (same image, volumes), then layer-import into it")

// What PlanCreate finds that stops a create. It reports every finding at
// once (errors.Join), so errors.Is tells each.
var (
	// ErrImageMissing: no image here has the source's layers.
	ErrImageMissing = errors.New("image not here")
	// ErrNameTaken: a container of the new container's name exists.
	ErrNameTaken = errors.New("name taken")
	// ErrVolumeExists: a named volume of the source exists here, and
	// CreateOptions.ReuseVolumes was not given.
	ErrVolumeExists = errors.New("volume exists")
	// ErrRefused: settings of the source cannot hold on this host, and
	// CreateOptions.DropHostConfig was not given (CreatePlan.Refused).
	ErrRefused = errors.New("settings cannot hold on this host")
)

// CreateOptions say how a container is made from an envelope's inspect document.
type CreateOptions struct {
	Name           string // the new container's name (required)
	Binds          bool   // carry host-directory bind mounts (otherwise they are dropped and listed)
	ReuseVolumes   bool   // an existing named volume of the same name is used instead of refused
	DropHostConfig bool   // settings that cannot hold on this host are dropped and listed instead of refused
}

// CreatePlan is what creating the container would do here, decided without changing anything.
//
// The lists name settings as the inspect document does, Config's without
// their section ("Cmd", "Env"), the others with it
// ("HostConfig.RestartPolicy"); a mount as "Mounts DEST (what)". Values
// that are empty or the engine's own default are not settings and are not
// listed. createFields says which list each field goes to.
type CreatePlan struct {
	Image      string   // the local image id to create from
	Carried    []string // names of the settings carried (e.g. "Cmd", "Env", "HostConfig.RestartPolicy", "Mounts /data (volume db)")
	Dropped    []string // settings left out, each "FIELD: reason"
	Refused    []string // settings that cannot hold here, each "FIELD: reason" (an error unless DropHostConfig)
	Networks   []string // networks joined (names that exist here)
	Missing    []string // networks of the source that do not exist here (joined the default network instead; warn)
	NewVolumes []string // named volumes to create

	name   string
	config *container.Config
	host   *container.HostConfig
	// endpoints are the settings for each network in Networks; the first
	// is joined by the create (HostConfig.NetworkMode), the others by a
	// connect after it.
	endpoints map[string]*network.EndpointSettings
	volumes   map[string]*newVolume // of NewVolumes
	// problems are what PlanCreate returned: a plan with problems is not
	// carried out.
	problems error
}

// newVolume is how Create makes a named volume.
type newVolume struct {
	driver string // "" for the engine's default (local)
	labels map[string]string
}

// SetVolumeLabels gives a named volume that Create makes (one of
// NewVolumes) the labels the source's volume had, as the envelope's
// volume metadata carries them (envelope.Volume.Labels): the inspect
// document alone does not say what a volume's labels are, so without this
// the volumes are made with none. A volume the plan reuses is left as it
// is.
func (p *CreatePlan) SetVolumeLabels(name string, labels map[string]string) {
	if v := p.volumes[name]; v != nil {
		v.labels = maps.Clone(labels)
	}
}

// PlanCreate reads the inspect document of the source container (raw) and
// the envelope's image id, reference and rootfs diffIDs, and decides what
// Create would do here: it finds the image (by id, else by reference, else
// by an image whose rootfs diffIDs equal layers), maps the configuration
// (createFields), checks that the name is free and that no named volume
// to make exists (unless opts.ReuseVolumes), and lists the networks
// present or missing.
//
// Every finding that stops a create is reported at once, joined:
// ErrImageMissing, ErrNameTaken, ErrVolumeExists, ErrRefused. The plan is
// returned with that error whenever the document could be read, so that a
// check can show all it would do; Create refuses such a plan.
//
// The document is taken as the source sent it and may be hostile: what it
// can ask for that reaches outside the container (host paths, devices,
// other containers' namespaces) is refused or needs an option, but the
// privileges it carries (Privileged, CapAdd, SecurityOpt) are the
// source's, listed in Carried for the caller to show.
func (e *Docker) PlanCreate(ctx context.Context, raw json.RawMessage, imageID, imageRef string, layers []string, opts CreateOptions) (*CreatePlan, error) {
	if opts.Name == "" {
		return nil, errors.New("plan create: the new container needs a name")
	}
	doc, err := readInspect(raw)
	if err != nil {
		return nil, err
	}
	p := &CreatePlan{name: opts.Name, volumes: map[string]*newVolume{}}
	var problems []error
	img, err := e.findImage(ctx, imageID, imageRef, layers)
	if err != nil {
		problems = append(problems, err)
	}
	p.Image = img.id
	if err := e.nameFree(ctx, opts.Name); err != nil {
		problems = append(problems, err)
	}
	pl := newPlanner(ctx, e, doc, opts, p)
	problems = append(problems, pl.plan(img.name())...)
	if len(p.Refused) > 0 {
		problems = append(problems, fmt.Errorf("%s: %w (--drop-host-config leaves them out)", strings.Join(p.Refused, "; "), ErrRefused))
	}
	p.problems = errors.Join(problems...)
	return p, p.problems
}

// Create makes the stopped container (and the named volumes it needs) as planned, and returns its id and an undo that removes what Create made (the container with its anonymous volumes, and the named volumes it created — never a volume it reused).
//
// When Create fails it removes what it made before returning.
func (e *Docker) Create(ctx context.Context, p *CreatePlan) (id string, undo func(context.Context) error, err error) {
	if p == nil || p.config == nil {
		return "", nil, errors.New("create container: no plan")
	}
	if p.problems != nil {
		return "", nil, fmt.Errorf("create container %s: %w", p.name, p.problems)
	}
	made := &made{e: e}
	defer func() {
		if err != nil {
			if uerr := made.undo(context.WithoutCancel(ctx)); uerr != nil {
				err = fmt.Errorf("%w; removing what was made: %v", err, uerr)
			}
		}
	}()
	for _, name := range p.NewVolumes {
		// Docker answers a create of an existing local volume with that
		// volume: one made since the plan would be taken for ours, and
		// an undo would remove it.
		if _, err := e.c.VolumeInspect(ctx, name, client.VolumeInspectOptions{}); err == nil {
			return "", nil, fmt.Errorf("volume %q was made since the plan: %w", name, ErrVolumeExists)
		}
		v := p.volumes[name]
		if _, err := e.c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Driver: v.driver, Labels: v.labels}); err != nil {
			return "", nil, fmt.Errorf("create volume %q: %w", name, err)
		}
		made.volumes = append(made.volumes, name)
	}
	var netcfg *network.NetworkingConfig
	if len(p.Networks) > 0 {
		first := p.Networks[0]
		netcfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{first: p.endpoints[first]}}
	}
	res, err := e.c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: p.name, Config: p.config, HostConfig: p.host, NetworkingConfig: netcfg,
	})
	if err != nil {
		return "", nil, fmt.Errorf("create container %s: %w", p.name, err)
	}
	made.id = res.ID
	// Connected one at a time: an API before 1.44 takes one network at
	// the create.
	for _, n := range p.Networks[min(1, len(p.Networks)):] {
		if _, err := e.c.NetworkConnect(ctx, n, client.NetworkConnectOptions{Container: res.ID, EndpointConfig: p.endpoints[n]}); err != nil {
			return "", nil, fmt.Errorf("connect container %s to network %s: %w", p.name, n, err)
		}
	}
	return res.ID, made.undo, nil
}

// made is what a Create made, for its undo.
type made struct {
	e       *Docker
	id      string
	volumes []string
}

// undo removes the container with its anonymous volumes (v=1, which
// Docker and Podman both take to leave named volumes alone), then the
// named volumes that were made. What is already gone is not an error.
func (m *made) undo(ctx context.Context) error {
	var errs []error
	if m.id != "" {
		_, err := m.e.c.ContainerRemove(ctx, m.id, client.ContainerRemoveOptions{RemoveVolumes: true, Force: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", m.id, err))
		}
	}
	for _, name := range slices.Backward(m.volumes) {
		_, err := m.e.c.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// nameFree checks that no container here is called name. The daemon
// resolves a reference as an id, a name, then an id prefix: a container
// found only by prefix does not hold the name.
func (e *Docker) nameFree(ctx context.Context, name string) error {
	res, err := e.c.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("inspect container %q: %w", name, err)
	}
	if strings.TrimPrefix(res.Container.Name, "/") != name {
		return nil
	}
	return fmt.Errorf("container %s exists here (%s): choose another name or remove it: %w", name, shortID(res.Container.ID), ErrNameTaken)
}

// foundImage is the image a create uses: its id, and the reference it is
// known by when the envelope's reference names that same image here.
type foundImage struct{ id, ref string }

// name is what the create asks for: the reference, so that the new
// container shows it as the source did, else the id.
func (f foundImage) name() string {
	if f.ref != "" {
		return f.ref
	}
	return f.id
}

// findImage finds the image with the source's rootfs diffIDs: by id, else
// by reference, else among every image here. An id or a reference that
// answers with other layers (a tag moved, another platform of an index)
// does not count. When layers is empty (an envelope that did not record
// them) the id or the reference alone decides.
func (e *Docker) findImage(ctx context.Context, id, ref string, layers []string) (foundImage, error) {
	var notes []string
	var byRef string
	look := func(x string) (string, bool, error) {
		res, err := e.c.ImageInspect(ctx, x)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("inspect image %q: %w", x, err)
		}
		if len(layers) > 0 && !slices.Equal(res.RootFS.Layers, layers) {
			notes = append(notes, fmt.Sprintf("%s here is image %s, with other layers", x, res.ID))
			return "", false, nil
		}
		return res.ID, true, nil
	}
	if ref != "" {
		var err error
		if byRef, _, err = look(ref); err != nil {
			return foundImage{}, err
		}
	}
	if id != "" {
		found, ok, err := look(id)
		if err != nil {
			return foundImage{}, err
		}
		if ok {
			return foundImage{id: found, ref: refIf(ref, byRef == found)}, nil
		}
	}
	if byRef != "" {
		return foundImage{id: byRef, ref: ref}, nil
	}
	if len(layers) > 0 {
		list, err := e.c.ImageList(ctx, client.ImageListOptions{})
		if err != nil {
			return foundImage{}, fmt.Errorf("list images: %w", err)
		}
		for _, s := range list.Items {
			res, err := e.c.ImageInspect(ctx, s.ID)
			if err != nil {
				continue // removed since the list
			}
			if slices.Equal(res.RootFS.Layers, layers) {
				return foundImage{id: res.ID}, nil
			}
		}
	}
	return foundImage{}, missingImage(id, ref, layers, notes)
}

func refIf(ref string, ok bool) string {
	if ok {
		return ref
	}
	return ""
}

// missingImage says which image is missing and how to get it here.
func missingImage(id, ref string, layers, notes []string) error {
	what := ref
	if what == "" {
		what = id
	}
	var b strings.Builder
	fmt.Fprintf(&b, "image %s (id %s, diffIDs %s) is not here", what, orNone(id), orNone(strings.Join(layers, ", ")))
	for _, n := range notes {
		b.WriteString("; " + n)
	}
	if ref != "" && !strings.HasPrefix(ref, "sha256:") {
		fmt.Fprintf(&b, ": pull it (docker pull %s) or copy it from the source host (docker save %s | docker load)", ref, ref)
	} else {
		fmt.Fprintf(&b, ": copy it from the source host (docker save %s | docker load)", what)
	}
	return fmt.Errorf("%s: %w", b.String(), ErrImageMissing)
}

func orNone(s string) string {
	if s == "" {
		return "none recorded"
	}
	return s
}

// shortID is the 12 hex digits of an id that the engines show, and give a
// container as its hostname.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// PlanCreate: containerd used directly has no API that makes a container
// from a Docker inspect document; nerdctl makes one from its own flags.
func (e *Containerd) PlanCreate(context.Context, json.RawMessage, string, string, []string, CreateOptions) (*CreatePlan, error) {
	return nil, ErrCreateUnsupported
}

// Create: see PlanCreate.
func (e *Containerd) Create(context.Context, *CreatePlan) (string, func(context.Context) error, error) {
	return "", nil, ErrCreateUnsupported
}
