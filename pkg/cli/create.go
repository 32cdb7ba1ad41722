package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/overlay"
	"github.com/layer-tool/layer-tool/pkg/transfer"
)

// importCreate makes a stopped container from the envelope's metadata and
// imports the layer and volumes into it: a migration in one command. The
// container (and the volumes it made) is removed again if anything fails
// after it was made.
func importCreate(ctx context.Context, prog, name string, f importFlags, s Streams) (err error) {
	eng, err := engine.Open(ctx, *f.engine)
	if err != nil {
		return err
	}
	defer eng.Close()
	host, err := eng.Host(ctx)
	if err != nil {
		return err
	}
	var (
		c    *engine.Container
		t    *overlay.Target
		vols volumeTargets
		undo func(context.Context) error
	)
	defer func() {
		vols.close()
		if t != nil {
			t.Close()
		}
		// After the swap's commit point the data is in the container:
		// the next run finishes the swap, and nothing is undone.
		if err != nil && undo != nil && !errors.Is(err, overlay.ErrSwapped) {
			// ctx may be cancelled; the daemon must still be told.
			uctx := context.WithoutCancel(ctx)
			if uerr := undo(uctx); uerr != nil {
				err = fmt.Errorf("%w (and removing the container it made: %v)", err, uerr)
			} else {
				err = fmt.Errorf("%w (the container it made is removed)", err)
			}
			if ctx.Err() != nil {
				// run prints only "interrupted" then: say it here.
				fmt.Fprintf(s.Stderr, "%s: %s: %s\n", prog, name, oneLine(err.Error()))
			}
		}
	}()
	// create plans and makes the container once container.json is read.
	create := func(ctx context.Context, m *envelope.Meta, raw []byte) (*overlay.Target, error) {
		plan, err := eng.PlanCreate(ctx, raw, m.Container.ImageID, m.Container.Image, m.Container.ImageLayers, engine.CreateOptions{
			Name: name, Binds: f.binds, ReuseVolumes: f.reuseVolumes, DropHostConfig: f.dropHostConfig,
		})
		if err != nil {
			return nil, err
		}
		for _, v := range m.Volumes {
			if v.Type == "volume" && !v.Anonymous {
				plan.SetVolumeLabels(v.Name, v.Labels)
			}
		}
		for _, d := range plan.Dropped {
			fmt.Fprintf(s.Stderr, "%s: warning: %s: not carried: %s\n", prog, name, d)
		}
		for _, n := range plan.Missing {
			fmt.Fprintf(s.Stderr, "%s: warning: %s: network %s is not here; the container joins the default network\n", prog, name, n)
		}
		// An envelope may come from anyone: say what it asks for
		// beyond an ordinary container.
		for _, setting := range plan.Carried {
			if privileged(setting) {
				fmt.Fprintf(s.Stderr, "%s: %s: carries %s\n", prog, name, setting)
			}
		}
		id, u, err := eng.Create(ctx, plan)
		if err != nil {
			return nil, err
		}
		undo = u
		if c, err = eng.Container(ctx, id); err != nil {
			return nil, err
		}
		upper, err := c.Layer()
		if err != nil {
			return nil, err
		}
		if t, err = overlay.OpenTarget(upper); err != nil {
			return nil, fmt.Errorf("container %s: %w", c.Name, err)
		}
		fmt.Fprintf(s.Stderr, "%s: created container %s (%s) from image %s\n", prog, name, short(id), short(plan.Image))
		return t, nil
	}
	opts := transfer.ImportOptions{
		Opts: overlay.Options{UserXattr: host.UserXattr, Warn: warnTo(prog, s)},
		Gate: func(ctx context.Context, m *envelope.Meta) error {
			if envelope.IsLegacy(m) {
				return errLegacyCreate
			}
			if name == "" {
				name = strings.TrimPrefix(m.Container.Name, "/")
			}
			// The image is found by its layers when the container is
			// planned; the rest of the host checks are import's.
			skip := *f.skip
			skip.image = true
			if err := gateImport(ctx, eng, nil, host, skip, m); err != nil {
				return err
			}
			// A --volumes name the envelope lacks, before anything is made.
			for _, v := range m.Volumes {
				f.volumes.picks(v.Name, v.Destination)
			}
			return f.volumes.unused("the envelope")
		},
		Create: func(ctx context.Context, m *envelope.Meta, raw []byte) (*overlay.Target, overlay.Options, error) {
			t, err := create(ctx, m, raw)
			if err != nil {
				return nil, overlay.Options{}, err
			}
			return t, overlay.Options{UserXattr: host.UserXattr || c.UserXattr}, nil
		},
		Volumes: func(ctx context.Context, m *envelope.Meta) ([]*overlay.Target, error) {
			return vols.open(ctx, prog, eng, c, m, f, s)
		},
	}
	res, err := runImport(ctx, nil, opts, f, s)
	if err != nil {
		return err
	}
	printImported(prog, name, res, s)
	return nil
}

// privileged tells whether a carried setting gives the container more
// than an ordinary one has: host privileges, or a host directory (a bind
// the envelope names) mounted in it.
func privileged(setting string) bool {
	if strings.HasPrefix(setting, "Mounts ") && strings.Contains(setting, "(bind ") {
		return true
	}
	for _, p := range []string{"HostConfig.Privileged", "HostConfig.CapAdd", "HostConfig.SecurityOpt", "HostConfig.IpcMode", "HostConfig.PidMode", "HostConfig.UTSMode", "HostConfig.Sysctls"} {
		if strings.HasPrefix(setting, p) {
			return true
		}
	}
	return false
}

// errCreateFlags: flags that only --create takes, given without it.
var errCreateFlags = errors.New("--name, --reuse-volumes and --drop-host-config go with --create")
