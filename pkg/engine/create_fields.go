package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// fieldPolicy is what becomes of a setting of the source's inspect document.
type fieldPolicy int

const (
	// carry: the new container gets it as the source had it.
	carry fieldPolicy = iota
	// engineSets: the engine derives it (from the image, from other
	// settings, from the new container's id); never listed.
	engineSets
	// notCarried: left out, and listed in Dropped when set.
	notCarried
	// refuse: it cannot hold on another host: listed in Refused when set
	// (in Dropped with DropHostConfig, and left out).
	refuse
	// elsewhere: a step of its own decides (mounts, networks).
	elsewhere
)

// field is the rule for one setting.
type field struct {
	policy fieldPolicy
	// reason goes with a Dropped or Refused entry.
	reason string
	// defaults are values, as compact JSON, that mean the engine's
	// default, besides null, "", 0, false, [] and {}: such a value is not
	// a setting and is neither carried nor listed.
	defaults []string
	// decide, when set, rules on the value instead of policy.
	decide func(pl *planner, name string, v json.RawMessage)
}

// createFields is the field policy of PlanCreate, by the name of the field
// in the inspect document. A field of Config or HostConfig that it does not
// name is dropped, and listed as "not carried", when it is set, so that
// nothing is left out silently.
//
// Carried:
//   - Config: Cmd, Entrypoint, Env (less the HOSTNAME and container=podman
//     that Podman adds), WorkingDir, User, Labels, ExposedPorts,
//     Healthcheck, StopSignal, StopTimeout, Tty, OpenStdin, StdinOnce,
//     AttachStdin/out/err, Volumes (anonymous mount points, which are
//     made fresh), Domainname, Hostname unless it is the source's short id
//     (the engine's default, left to the engine).
//   - HostConfig: RestartPolicy, PortBindings, PublishAllPorts, Memory,
//     MemorySwap, MemoryReservation, NanoCpus, CpuShares, CpuQuota,
//     CpuPeriod, CpusetCpus, CpusetMems, PidsLimit, BlkioWeight, CapAdd,
//     CapDrop, Privileged, SecurityOpt, ReadonlyRootfs, Sysctls, Ulimits
//     (Podman's RLIMIT_NOFILE named nofile), ExtraHosts, Dns, DnsOptions,
//     DnsSearch, ShmSize, Init, LogConfig when this engine has the log
//     driver (else dropped: the engine's default), IpcMode/PidMode/UTSMode
//     "host" or "none", Runtime when this engine has it.
//   - Mounts (HostConfig.Binds, HostConfig.Mounts, HostConfig.Tmpfs and
//     the mount points): named volumes, made here unless they exist (an
//     error unless ReuseVolumes); anonymous volumes, made fresh through
//     Config.Volumes; tmpfs; host-path binds only with Binds (else
//     dropped), refused when the path does not exist here. Bind and tmpfs
//     options that the Docker API does not take (Podman's nosuid, rbind,
//     tmpcopyup, ...) are dropped and listed.
//   - Networks: NetworkMode "none", "host", the default network, or the
//     source's user-defined networks that exist here, with their aliases;
//     when none exists, the default network, and the others are Missing.
//
// Refused (Dropped with DropHostConfig): Devices, DeviceRequests,
// DeviceCgroupRules, CgroupParent, Cgroup, IpcMode/PidMode/UTSMode of
// another container or a namespace path, NetworkMode "container:...",
// Links (also an endpoint's), VolumesFrom, Runtime this engine lacks,
// Isolation, binds of paths that do not exist here.
//
// Left to the engine, not listed: Config.Image (the image found here),
// Shell, OnBuild and ArgsEscaped (the image's), HostConfig.ConsoleSize,
// MaskedPaths and ReadonlyPaths (from Privileged and SecurityOpt),
// CgroupnsMode "private" or "host" (the default for the cgroup version),
// IpcMode "private"/"shareable", PidMode/UTSMode "private", Runtime runc
// (Podman calls every runtime "oci"), an endpoint's operational data
// (addresses, ids, DNSNames).
//
// Dropped and listed: everything else that is set, among them
// MacAddress and an endpoint's IPAMConfig (addresses are the network's
// here), GroupAdd, OomScoreAdj, OomKillDisable, MemorySwappiness,
// UsernsMode, AutoRemove, ContainerIDFile, Annotations, StorageOpt,
// VolumeDriver (used for the named volumes made), the blkio device
// throttles and Windows' CPU and IO limits.
var createFields = map[string]field{
	"Config.Cmd":          {policy: carry},
	"Config.Entrypoint":   {policy: carry},
	"Config.Env":          {decide: decideEnv},
	"Config.WorkingDir":   {policy: carry},
	"Config.User":         {policy: carry},
	"Config.Labels":       {policy: carry},
	"Config.ExposedPorts": {policy: carry},
	"Config.Healthcheck":  {policy: carry},
	"Config.StopSignal":   {policy: carry},
	"Config.StopTimeout":  {policy: carry},
	"Config.Tty":          {policy: carry},
	"Config.OpenStdin":    {policy: carry},
	"Config.StdinOnce":    {policy: carry},
	"Config.AttachStdin":  {policy: carry},
	"Config.AttachStdout": {policy: carry},
	"Config.AttachStderr": {policy: carry},
	"Config.Volumes":      {policy: carry},
	"Config.Hostname":     {decide: decideHostname},
	"Config.Domainname":   {policy: carry},
	"Config.Image":        {policy: engineSets, reason: "the image found here"},
	"Config.Shell":        {policy: engineSets, reason: "the image's"},
	"Config.OnBuild":      {policy: engineSets, reason: "the image's"},
	"Config.ArgsEscaped":  {policy: engineSets, reason: "the image's"},
	"Config.MacAddress":   {policy: notCarried, reason: "addresses are the network's here"},

	"HostConfig.RestartPolicy":     {policy: carry, defaults: []string{`{"Name":"no","MaximumRetryCount":0}`, `{"Name":"","MaximumRetryCount":0}`}},
	"HostConfig.PortBindings":      {policy: carry},
	"HostConfig.PublishAllPorts":   {policy: carry},
	"HostConfig.Memory":            {policy: carry},
	"HostConfig.MemorySwap":        {policy: carry},
	"HostConfig.MemoryReservation": {policy: carry},
	"HostConfig.NanoCpus":          {policy: carry},
	"HostConfig.CpuShares":         {policy: carry},
	"HostConfig.CpuQuota":          {policy: carry},
	"HostConfig.CpuPeriod":         {policy: carry},
	"HostConfig.CpusetCpus":        {policy: carry},
	"HostConfig.CpusetMems":        {policy: carry},
	"HostConfig.PidsLimit":         {policy: carry, defaults: []string{"-1"}},
	"HostConfig.BlkioWeight":       {policy: carry},
	"HostConfig.CapAdd":            {policy: carry},
	"HostConfig.CapDrop":           {policy: carry},
	"HostConfig.Privileged":        {policy: carry},
	"HostConfig.SecurityOpt":       {policy: carry},
	"HostConfig.ReadonlyRootfs":    {policy: carry},
	"HostConfig.Sysctls":           {policy: carry},
	"HostConfig.Ulimits":           {decide: decideUlimits},
	"HostConfig.ExtraHosts":        {policy: carry},
	"HostConfig.Dns":               {policy: carry},
	"HostConfig.DnsOptions":        {policy: carry},
	"HostConfig.DnsSearch":         {policy: carry},
	"HostConfig.LogConfig":         {decide: decideLogConfig},
	"HostConfig.ShmSize":           {policy: carry},
	"HostConfig.Init":              {policy: carry},
	"HostConfig.Runtime":           {decide: decideRuntime},
	"HostConfig.IpcMode":           {decide: decideNamespace},
	"HostConfig.PidMode":           {decide: decideNamespace},
	"HostConfig.UTSMode":           {decide: decideNamespace},

	"HostConfig.Binds":        {policy: elsewhere},
	"HostConfig.Mounts":       {policy: elsewhere},
	"HostConfig.Tmpfs":        {policy: elsewhere},
	"HostConfig.NetworkMode":  {policy: elsewhere},
	"HostConfig.VolumeDriver": {policy: notCarried, reason: "not carried (the named volumes are made with it)"},

	"HostConfig.Devices":           {policy: refuse, reason: "devices of the source host"},
	"HostConfig.DeviceRequests":    {policy: refuse, reason: "devices of the source host (--gpus)"},
	"HostConfig.DeviceCgroupRules": {policy: refuse, reason: "rules for devices of the source host"},
	"HostConfig.CgroupParent":      {policy: refuse, reason: "a cgroup of the source host"},
	"HostConfig.Cgroup":            {policy: refuse, reason: "the cgroup of another container"},
	"HostConfig.Links":             {policy: refuse, reason: "links to other containers"},
	"HostConfig.VolumesFrom":       {policy: refuse, reason: "the volumes of other containers"},
	"HostConfig.Isolation":         {policy: refuse, reason: "Windows isolation", defaults: []string{`"default"`}},

	"HostConfig.ConsoleSize":       {policy: engineSets, reason: "the terminal's"},
	"HostConfig.MaskedPaths":       {policy: engineSets, reason: "from Privileged and SecurityOpt"},
	"HostConfig.ReadonlyPaths":     {policy: engineSets, reason: "from Privileged and SecurityOpt"},
	"HostConfig.CgroupnsMode":      {policy: notCarried, reason: "not carried", defaults: []string{`"private"`, `"host"`}},
	"HostConfig.MemorySwappiness":  {policy: notCarried, reason: "not carried", defaults: []string{"-1"}},
	"HostConfig.ContainerIDFile":   {policy: notCarried, reason: "a file on the source host"},
	"HostConfig.BlkioWeightDevice": {policy: notCarried, reason: "devices of the source host"},
}

// inspectDoc is what PlanCreate reads of an inspect document; Config and
// HostConfig stay raw, field by field, so that a field the API types
// cannot read (an engine's variant) costs that field alone.
type inspectDoc struct {
	ID              string `json:"Id"`
	Name            string
	Config          map[string]json.RawMessage
	HostConfig      map[string]json.RawMessage
	Mounts          []mountPointDoc
	NetworkSettings *struct {
		Networks map[string]endpointDoc
	}
}

type mountPointDoc struct {
	Type, Name, Source, Destination, Driver string
	RW                                      bool
}

type endpointDoc struct {
	Aliases    []string
	Links      []string
	IPAMConfig json.RawMessage
}

func readInspect(raw json.RawMessage) (*inspectDoc, error) {
	var doc inspectDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("read the source's inspect document: %w", err)
	}
	if doc.Config == nil && doc.HostConfig == nil {
		var rec struct {
			SnapshotKey string `json:"snapshotKey"`
		}
		if json.Unmarshal(raw, &rec) == nil && rec.SnapshotKey != "" {
			return nil, fmt.Errorf("container.json is a containerd record, not an Engine API inspect document: a container can only be made from an envelope of Docker or Podman")
		}
		return nil, fmt.Errorf("container.json has neither Config nor HostConfig: not an Engine API inspect document")
	}
	return &doc, nil
}

// planner maps one inspect document onto a create request.
type planner struct {
	ctx  context.Context
	e    *Docker
	doc  *inspectDoc
	opts CreateOptions
	p    *CreatePlan

	cfg, hc  map[string]json.RawMessage // the request's Config and HostConfig
	binds    []string
	mounts   []mount.Mount
	anon     map[string]bool // destinations of anonymous volumes
	dests    map[string]bool // destinations mounted
	vols     map[string]bool // named volumes looked at
	info     *system.Info
	infoErr  error
	problems []error
}

func newPlanner(ctx context.Context, e *Docker, doc *inspectDoc, opts CreateOptions, p *CreatePlan) *planner {
	return &planner{ctx: ctx, e: e, doc: doc, opts: opts, p: p,
		cfg: map[string]json.RawMessage{}, hc: map[string]json.RawMessage{},
		anon: map[string]bool{}, dests: map[string]bool{}, vols: map[string]bool{}}
}

// plan fills in p and returns what stops a create, other than Refused.
func (pl *planner) plan(image string) []error {
	pl.section("Config", pl.doc.Config)
	pl.section("HostConfig", pl.doc.HostConfig)
	pl.mountsStep()
	pl.networksStep()
	if err := pl.finish(image); err != nil {
		pl.problems = append(pl.problems, err)
	}
	return pl.problems
}

func (pl *planner) section(sec string, in map[string]json.RawMessage) {
	for _, k := range sortedKeys(in) {
		name, v := sec+"."+k, in[k]
		f, ok := createFields[name]
		if !ok {
			f = field{policy: notCarried, reason: "not carried"}
		}
		if f.decide != nil {
			f.decide(pl, name, v)
			continue
		}
		if f.policy == elsewhere || f.policy == engineSets || unset(v, f.defaults) {
			continue
		}
		switch f.policy {
		case carry:
			pl.carry(name, v)
		case notCarried:
			pl.drop(name, f.reason)
		case refuse:
			pl.refuse(name, f.reason)
		}
	}
}

// label is how the lists name a field: Config's without the section.
func label(name string) string { return strings.TrimPrefix(name, "Config.") }

// carry puts v in the request, if the API's types can read it there.
func (pl *planner) carry(name string, v json.RawMessage) {
	sec, key, _ := strings.Cut(name, ".")
	probe, _ := json.Marshal(map[string]json.RawMessage{key: v})
	var err error
	if sec == "Config" {
		err = json.Unmarshal(probe, new(container.Config))
	} else {
		err = json.Unmarshal(probe, new(container.HostConfig))
	}
	if err != nil {
		pl.drop(name, "cannot be read: "+err.Error())
		return
	}
	if sec == "Config" {
		pl.cfg[key] = v
	} else {
		pl.hc[key] = v
	}
	pl.p.Carried = append(pl.p.Carried, label(name))
}

func (pl *planner) carryValue(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		pl.drop(name, "cannot be read: "+err.Error())
		return
	}
	pl.carry(name, b)
}

func (pl *planner) drop(name, reason string) {
	pl.p.Dropped = append(pl.p.Dropped, label(name)+": "+reason)
}

// refuse lists a setting that cannot hold here: in Refused, or in Dropped
// when the caller said to drop such settings.
func (pl *planner) refuse(name, reason string) {
	if pl.opts.DropHostConfig {
		pl.drop(name, reason)
		return
	}
	pl.p.Refused = append(pl.p.Refused, label(name)+": "+reason)
}

// unset tells whether v is empty or one of the engine's defaults.
func unset(v json.RawMessage, defaults []string) bool {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return false
	}
	switch x := x.(type) {
	case nil:
		return true
	case string:
		if x == "" {
			return true
		}
	case float64:
		if x == 0 {
			return true
		}
	case bool:
		if !x {
			return true
		}
	case []any:
		if len(x) == 0 {
			return true
		}
	case map[string]any:
		if len(x) == 0 {
			return true
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return false
	}
	return slices.Contains(defaults, b.String())
}

func str(v json.RawMessage) string {
	var s string
	json.Unmarshal(v, &s)
	return s
}

// decideHostname leaves to the engine the hostname it gave the source,
// its short id: the new container gets its own.
func decideHostname(pl *planner, name string, v json.RawMessage) {
	if h := str(v); h != "" && h != shortID(pl.doc.ID) {
		pl.carry(name, v)
	}
}

// decideEnv carries the environment less what Podman puts in it of its
// own, which its inspect shows: HOSTNAME (the source's hostname, which
// would override the new container's) and container=podman.
func decideEnv(pl *planner, name string, v json.RawMessage) {
	var env []string
	if err := json.Unmarshal(v, &env); err != nil {
		pl.drop(name, "cannot be read: "+err.Error())
		return
	}
	host := str(pl.doc.Config["Hostname"])
	var keep []string
	for _, kv := range env {
		switch {
		case host != "" && kv == "HOSTNAME="+host:
			pl.drop("Env "+kv, "the engine sets HOSTNAME to the new container's hostname")
		case kv == "container=podman":
			pl.drop("Env "+kv, "Podman sets it itself")
		default:
			keep = append(keep, kv)
		}
	}
	if len(keep) > 0 {
		pl.carryValue(name, keep)
	}
}

// decideUlimits carries the ulimits under the names Docker takes: Podman
// reports RLIMIT_NOFILE where Docker says nofile.
func decideUlimits(pl *planner, name string, v json.RawMessage) {
	if unset(v, nil) {
		return
	}
	var ls []struct {
		Name       string
		Soft, Hard int64
	}
	if err := json.Unmarshal(v, &ls); err != nil {
		pl.drop(name, "cannot be read: "+err.Error())
		return
	}
	for i := range ls {
		ls[i].Name = strings.ToLower(strings.TrimPrefix(ls[i].Name, "RLIMIT_"))
	}
	pl.carryValue(name, ls)
}

// decideLogConfig carries the log driver when this engine has it (Podman's
// k8s-file is not Docker's, nor Docker's local Podman's); otherwise the
// engine's default driver logs.
func decideLogConfig(pl *planner, name string, v json.RawMessage) {
	var lc container.LogConfig
	if err := json.Unmarshal(v, &lc); err != nil {
		pl.drop(name, "cannot be read: "+err.Error())
		return
	}
	if lc.Type == "" {
		return
	}
	if info := pl.hostInfo(); info != nil && len(info.Plugins.Log) > 0 && !slices.Contains(info.Plugins.Log, lc.Type) {
		pl.drop(name, fmt.Sprintf("log driver %q is not one of this engine's (%s); its default logs", lc.Type, strings.Join(info.Plugins.Log, ", ")))
		return
	}
	pl.carryValue(name, lc)
}

// decideRuntime carries a runtime other than the default when this engine
// has one of that name.
func decideRuntime(pl *planner, name string, v json.RawMessage) {
	r := str(v)
	switch r {
	case "", "runc", "oci", "io.containerd.runc.v2":
		// Docker's default, and Podman's name for whichever runtime.
		return
	}
	info := pl.hostInfo()
	if info == nil || r == info.DefaultRuntime {
		pl.carry(name, v)
		return
	}
	if _, ok := info.Runtimes[r]; ok {
		pl.carry(name, v)
		return
	}
	pl.refuse(name, fmt.Sprintf("runtime %q is not one of this engine's (%s)", r, strings.Join(sortedKeys(info.Runtimes), ", ")))
}

// decideNamespace rules on IpcMode, PidMode and UTSMode: the host's
// namespace holds on any host; another container's, or a namespace path,
// does not.
func decideNamespace(pl *planner, name string, v json.RawMessage) {
	m := str(v)
	switch {
	case m == "" || m == "private" || m == "shareable":
	case m == "host" || m == "none":
		pl.carry(name, v)
	case strings.HasPrefix(m, "container:"):
		pl.refuse(name, "the namespace of another container ("+m+")")
	default:
		pl.refuse(name, fmt.Sprintf("%q is a namespace of the source host", m))
	}
}

// hostInfo is /info, asked once; nil when the daemon did not answer, and
// then what depends on it is carried for the create to judge.
func (pl *planner) hostInfo() *system.Info {
	if pl.info == nil && pl.infoErr == nil {
		res, err := pl.e.c.Info(pl.ctx, client.InfoOptions{})
		if err != nil {
			pl.infoErr = err
			pl.problems = append(pl.problems, fmt.Errorf("docker info: %w", err))
			return nil
		}
		pl.info = &res.Info
	}
	return pl.info
}

// Bind options the Docker API takes (volume/mounts parser for Linux), which
// Podman takes too; Podman reports more (nosuid, nodev, rbind, ...).
var bindOptions = map[string]bool{
	"rw": true, "ro": true, "z": true, "Z": true, "nocopy": true,
	"shared": true, "rshared": true, "slave": true, "rslave": true, "private": true, "rprivate": true,
	"consistent": true, "cached": true, "delegated": true,
}

// tmpfsOption tells whether Docker takes o as a tmpfs option; Podman adds
// its own (tmpcopyup, notmpcopyup) and propagation.
func tmpfsOption(o string) bool {
	k, _, _ := strings.Cut(o, "=")
	switch k {
	case "rw", "ro", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks":
		return true
	}
	return false
}

// filterOptions keeps the options ok takes and lists the others.
func (pl *planner) filterOptions(what string, opts []string, ok func(string) bool) []string {
	var keep, out []string
	for _, o := range opts {
		if o == "" {
			continue
		}
		if ok(o) {
			keep = append(keep, o)
		} else {
			out = append(out, o)
		}
	}
	if len(out) > 0 {
		pl.drop(what+" options "+strings.Join(out, ","), "not options the Docker API takes")
	}
	return keep
}

// mountsStep maps the source's mounts: -v (HostConfig.Binds), --mount
// (HostConfig.Mounts), --tmpfs (HostConfig.Tmpfs), then the mount points
// that none of them names (an image's VOLUME; Podman lists some volumes
// only there).
func (pl *planner) mountsStep() {
	hc := pl.doc.HostConfig
	var binds []string
	if err := json.Unmarshal(orNull(hc["Binds"]), &binds); err != nil {
		pl.drop("HostConfig.Binds", "cannot be read: "+err.Error())
	}
	for _, b := range binds {
		pl.bind(b)
	}
	var ms []json.RawMessage
	if err := json.Unmarshal(orNull(hc["Mounts"]), &ms); err != nil {
		pl.drop("HostConfig.Mounts", "cannot be read: "+err.Error())
	}
	for _, raw := range ms {
		var m mount.Mount
		if err := json.Unmarshal(raw, &m); err != nil {
			pl.drop("HostConfig.Mounts "+string(raw), "cannot be read: "+err.Error())
			continue
		}
		pl.mountSpec(m)
	}
	var tmpfs map[string]string
	if err := json.Unmarshal(orNull(hc["Tmpfs"]), &tmpfs); err != nil {
		pl.drop("HostConfig.Tmpfs", "cannot be read: "+err.Error())
	}
	out := map[string]string{}
	for _, dst := range sortedKeys(tmpfs) {
		if pl.dests[path.Clean(dst)] {
			continue
		}
		pl.dests[path.Clean(dst)] = true
		opts := pl.filterOptions("Mounts "+dst, strings.Split(tmpfs[dst], ","), tmpfsOption)
		out[dst] = strings.Join(opts, ",")
		pl.p.Carried = append(pl.p.Carried, "Mounts "+dst+" (tmpfs)")
	}
	if len(out) > 0 {
		b, _ := json.Marshal(out)
		pl.hc["Tmpfs"] = b
	}
	for _, mp := range pl.doc.Mounts {
		pl.mountPoint(mp)
	}
}

func orNull(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return json.RawMessage("null")
	}
	return v
}

// bind maps one -v: "SRC:DST[:OPTIONS]", SRC a volume name or a host path.
func (pl *planner) bind(b string) {
	parts := strings.Split(b, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[1] == "" {
		pl.drop("HostConfig.Binds "+b, "cannot be read")
		return
	}
	src, dst := parts[0], path.Clean(parts[1])
	var opts []string
	if len(parts) == 3 {
		opts = strings.Split(parts[2], ",")
	}
	pl.dests[dst] = true
	what := "Binds " + src + ":" + dst
	switch {
	case src == "":
		pl.anonymous(dst)
		return
	case !strings.HasPrefix(src, "/"):
		if generatedName(src) {
			pl.anonymous(dst)
			return
		}
		if !pl.named(src, pl.driverAt(dst), dst) {
			return
		}
	default:
		if !pl.hostBind(what, src, dst) {
			return
		}
	}
	opts = pl.filterOptions(what, opts, func(o string) bool { return bindOptions[o] })
	spec := src + ":" + dst
	if len(opts) > 0 {
		spec += ":" + strings.Join(opts, ",")
	}
	pl.binds = append(pl.binds, spec)
}

// mountSpec maps one --mount.
func (pl *planner) mountSpec(m mount.Mount) {
	dst := path.Clean(m.Target)
	pl.dests[dst] = true
	switch m.Type {
	case mount.TypeVolume:
		if m.Source == "" || generatedName(m.Source) {
			pl.anonymous(dst)
			return
		}
		driver := ""
		if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
			driver = m.VolumeOptions.DriverConfig.Name
		}
		if driver == "" {
			driver = pl.driverAt(dst)
		}
		if !pl.named(m.Source, driver, dst) {
			return
		}
	case mount.TypeBind:
		if !pl.hostBind("Mounts "+m.Source+":"+dst, m.Source, dst) {
			return
		}
	case mount.TypeTmpfs:
		pl.p.Carried = append(pl.p.Carried, "Mounts "+dst+" (tmpfs)")
	default:
		pl.drop("Mounts "+dst, fmt.Sprintf("a mount of type %q is not carried", m.Type))
		return
	}
	pl.mounts = append(pl.mounts, m)
}

// mountPoint maps a mount point that neither -v, --mount nor --tmpfs
// named.
func (pl *planner) mountPoint(mp mountPointDoc) {
	dst := path.Clean(mp.Destination)
	if pl.dests[dst] || engineFile(dst) || pl.anon[dst] {
		return
	}
	if mp.Type == "" { // API < 1.25
		mp.Type = MountBind
		if mp.Name != "" {
			mp.Type = MountVolume
		}
	}
	pl.dests[dst] = true
	m := mount.Mount{Type: mount.Type(mp.Type), Source: mp.Source, Target: dst, ReadOnly: !mp.RW}
	switch mp.Type {
	case MountVolume:
		if mp.Name == "" || generatedName(mp.Name) {
			pl.anonymous(dst)
			return
		}
		if !pl.named(mp.Name, mp.Driver, dst) {
			return
		}
		m.Source = mp.Name
	case MountBind:
		if !pl.hostBind("Mounts "+mp.Source+":"+dst, mp.Source, dst) {
			return
		}
	case MountTmpfs:
		m.Source = ""
		pl.p.Carried = append(pl.p.Carried, "Mounts "+dst+" (tmpfs)")
	default:
		pl.drop("Mounts "+dst, fmt.Sprintf("a mount of type %q is not carried", mp.Type))
		return
	}
	pl.mounts = append(pl.mounts, m)
}

// driverAt is the driver of the volume the source had at dst: its mount
// point's, else HostConfig.VolumeDriver; "" for the default, local.
func (pl *planner) driverAt(dst string) string {
	d := ""
	for _, mp := range pl.doc.Mounts {
		if path.Clean(mp.Destination) == dst {
			d = mp.Driver
		}
	}
	if d == "" {
		d = str(pl.doc.HostConfig["VolumeDriver"])
	}
	if d == DriverLocal {
		d = ""
	}
	return d
}

// anonymous makes an anonymous volume fresh at dst, as the engine makes one
// for each of Config.Volumes.
func (pl *planner) anonymous(dst string) {
	if !pl.anon[dst] {
		pl.anon[dst] = true
		pl.p.Carried = append(pl.p.Carried, "Mounts "+dst+" (anonymous volume, made fresh)")
	}
}

// named plans the named volume name at dst: made here, or reused with
// ReuseVolumes. It tells whether the mount is carried.
func (pl *planner) named(name, driver, dst string) bool {
	desc := "Mounts " + dst + " (volume " + name + ")"
	if pl.vols[name] {
		pl.p.Carried = append(pl.p.Carried, desc)
		return true
	}
	pl.vols[name] = true
	_, err := pl.e.c.VolumeInspect(pl.ctx, name, client.VolumeInspectOptions{})
	switch {
	case err == nil && pl.opts.ReuseVolumes:
		desc = "Mounts " + dst + " (volume " + name + ", reused)"
	case err == nil:
		pl.problems = append(pl.problems, fmt.Errorf("volume %s exists here: remove it, or reuse it (--reuse-volumes): %w", name, ErrVolumeExists))
	case cerrdefs.IsNotFound(err):
		pl.p.NewVolumes = append(pl.p.NewVolumes, name)
		pl.p.volumes[name] = &newVolume{driver: driver}
	default:
		pl.problems = append(pl.problems, fmt.Errorf("inspect volume %q: %w", name, err))
	}
	pl.p.Carried = append(pl.p.Carried, desc)
	return true
}

// hostBind rules on a bind of the host path src: carried only with Binds,
// and only when src exists here (on the daemon's host, which is this one:
// an import writes to its disk).
func (pl *planner) hostBind(what, src, dst string) bool {
	if !pl.opts.Binds {
		pl.drop(what, "host path, needs --binds")
		return false
	}
	if _, err := os.Stat(src); err != nil {
		pl.refuse(what, src+" does not exist here")
		return false
	}
	pl.p.Carried = append(pl.p.Carried, "Mounts "+dst+" (bind "+src+")")
	return true
}

// defaultNetworks are the names of the engines' default networks: Docker's
// bridge, Podman's podman. A container on one joins this engine's default.
var defaultNetworks = map[string]bool{"bridge": true, "podman": true, "default": true, "": true}

// networksStep joins the source's networks that exist here.
func (pl *planner) networksStep() {
	const field = "HostConfig.NetworkMode"
	mode := str(pl.doc.HostConfig["NetworkMode"])
	switch {
	case mode == "host" || mode == "none":
		pl.carry(field, pl.doc.HostConfig["NetworkMode"])
		return
	case strings.HasPrefix(mode, "container:"):
		pl.refuse(field, "the network of another container ("+mode+")")
		pl.hc["NetworkMode"], _ = json.Marshal("default")
		return
	}
	var eps map[string]endpointDoc
	if pl.doc.NetworkSettings != nil {
		eps = pl.doc.NetworkSettings.Networks
	}
	names := sortedKeys(eps)
	// The network of NetworkMode first: the create joins it.
	if i := slices.Index(names, mode); i > 0 {
		names = append(append([]string{mode}, names[:i]...), names[i+1:]...)
	} else if i < 0 && !defaultNetworks[mode] {
		names = append([]string{mode}, names...)
	}
	pl.p.endpoints = map[string]*network.EndpointSettings{}
	for _, n := range names {
		here, err := pl.network(n)
		if err != nil {
			pl.problems = append(pl.problems, err)
			continue
		}
		if here == "" {
			if !defaultNetworks[n] {
				pl.p.Missing = append(pl.p.Missing, n)
			}
			continue
		}
		if pl.p.endpoints[here] != nil {
			continue
		}
		pl.p.endpoints[here] = pl.endpoint(n, eps[n])
		pl.p.Networks = append(pl.p.Networks, here)
	}
	if len(pl.p.Networks) == 0 {
		pl.hc["NetworkMode"], _ = json.Marshal("default")
		return
	}
	pl.hc["NetworkMode"], _ = json.Marshal(pl.p.Networks[0])
	pl.p.Carried = append(pl.p.Carried, field)
}

// network finds the network called n here: its name, or "" when there is
// none. Docker resolves a network by id, name or id prefix; only a name
// counts, but a default network may answer under this engine's own name
// (Podman's compatible API calls its default podman).
func (pl *planner) network(n string) (string, error) {
	if n == "" || n == "default" {
		return "", nil
	}
	res, err := pl.e.c.NetworkInspect(pl.ctx, n, client.NetworkInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			if n == "podman" {
				return pl.network("bridge")
			}
			return "", nil
		}
		return "", fmt.Errorf("inspect network %q: %w", n, err)
	}
	if got := res.Network.Name; got != n && !(defaultNetworks[n] && defaultNetworks[got]) {
		return "", nil
	}
	return res.Network.Name, nil
}

// endpoint is what the new container's endpoint on network n keeps of the
// source's: the aliases the user gave, less the short id the engines add.
func (pl *planner) endpoint(n string, ep endpointDoc) *network.EndpointSettings {
	es := &network.EndpointSettings{}
	short, name := shortID(pl.doc.ID), strings.TrimPrefix(pl.doc.Name, "/")
	for _, a := range ep.Aliases {
		if a != short && a != name && a != pl.doc.ID {
			es.Aliases = append(es.Aliases, a)
		}
	}
	if len(es.Aliases) > 0 {
		pl.p.Carried = append(pl.p.Carried, "Networks "+n+" aliases "+strings.Join(es.Aliases, ","))
	}
	if !unset(ep.IPAMConfig, []string{`{"IPv4Address":"","IPv6Address":""}`}) {
		pl.drop("Networks "+n+" IPAMConfig", "addresses are the network's here")
	}
	if len(ep.Links) > 0 {
		pl.refuse("Networks "+n+" Links", "links to other containers")
	}
	return es
}

// finish builds the request from what was carried.
func (pl *planner) finish(image string) error {
	if len(pl.anon) > 0 {
		vols := map[string]struct{}{}
		json.Unmarshal(orNull(pl.cfg["Volumes"]), &vols)
		for d := range pl.anon {
			vols[d] = struct{}{}
		}
		pl.cfg["Volumes"], _ = json.Marshal(vols)
	}
	cfg, err := json.Marshal(pl.cfg)
	if err != nil {
		return fmt.Errorf("encode the container's config: %w", err)
	}
	pl.p.config = new(container.Config)
	if err := json.Unmarshal(cfg, pl.p.config); err != nil {
		return fmt.Errorf("encode the container's config: %w", err)
	}
	pl.p.config.Image = image
	hc, err := json.Marshal(pl.hc)
	if err != nil {
		return fmt.Errorf("encode the container's host config: %w", err)
	}
	pl.p.host = new(container.HostConfig)
	if err := json.Unmarshal(hc, pl.p.host); err != nil {
		return fmt.Errorf("encode the container's host config: %w", err)
	}
	pl.p.host.Binds, pl.p.host.Mounts = pl.binds, pl.mounts
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
