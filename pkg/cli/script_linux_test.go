package cli_test

// End-to-end tests: the scripts in testdata/script (testscript format, see
// https://pkg.go.dev/github.com/rogpeppe/go-internal/testscript) drive the
// real commands against a real Docker daemon. scripts/test.sh starts a
// private one (and a second one with the vfs storage driver) and runs them.
//
// Without a reachable daemon the scripts are skipped, unless
// LAYER_TOOL_E2E=require, which makes that a failure.
//
// Besides testscript's own commands, the scripts can use:
//
//	flipbyte FILE OFFSET...         xor one byte with 0xff at each OFFSET
//	truncatefile FILE SIZE          cut FILE to SIZE bytes
//	filesize FILE VAR               set VAR to FILE's size in bytes
//	hashfile FILE VAR               set VAR to FILE's sha256 (hex)
//	readvar VAR FILE                set VAR to FILE's content (or the last
//	                                stdout or stderr), less trailing space
//	memberoffset TAR MEMBER VAR [SIZEVAR]
//	                                set VAR to the offset of MEMBER's data in
//	                                the uncompressed tar TAR (and SIZEVAR to
//	                                its size)
//	upperdir CONTAINER VAR          set VAR to the container's overlay2 upper dir
//	                                (its snapshot's, on the containerd store)
//	mksock PATH                     leave a unix socket file at PATH
//	jsonmatch FILE PATH REGEXP      the JSON value at PATH in FILE (or stdout)
//	                                matches REGEXP
//	treelisting DIR OUTFILE         write one line per entry below DIR (not
//	                                following symlinks): path, type, mode,
//	                                owner, size, mtime, link target, device,
//	                                xattrs, link count and content sha256
//	holdlock DIR                    take flock(LOCK_EX) on DIR, as an import
//	                                does, until unlock DIR or the script's end
//	unlock DIR                      release holdlock's lock
//	ctr NS ARGS...                  ctr on CONTAINERD_ADDRESS in namespace NS;
//	                                "ctr NS run ..." uses the overlayfs
//	                                snapshotter and LT_CTRD's runc root and
//	                                FIFO dir, "ctr NS start ID" runs a
//	                                stopped container's process again
//	fakedocker29 ...                Docker 29's API from recorded documents
//	                                (docker29_linux_test.go)
//	matchvar VAR FILE REGEXP        set VAR to REGEXP's first submatch (or
//	                                whole match) in FILE (or stdout, stderr)
//	interm CMD                      run sh -c CMD in a 120x10 tmux terminal;
//	                                stdout is the last screen, stderr the
//	                                screens before it (terminal_linux_test.go)
//	nerdctl ARGS...                 the nerdctl that LT_NERDCTL names, on
//	                                CONTAINERD_ADDRESS in namespace default,
//	                                with the overlayfs snapshotter, cgroupfs
//	                                and its data root and CNI config dir in
//	                                LT_CTRD/nerdctl
//	sshserver, s3server             the servers of the pipeline scripts
//	                                (pipeline_linux_test.go)
//	mkrustlayer [flags] FILE ENTRY...
//	                                write FILE in the original layer-tool's
//	                                format (rustformat_linux_test.go)
//	wraplayer, tarlisting           a tar as an envelope's layer, and a
//	                                listing of a tar (wrap_linux_test.go)
//	gocorpus TEMPLATE [ARCHIVE...]  Go's archive/tar test archives, checked
//	                                and imported (gocorpus_linux_test.go)
//
// and the program "throttle BYTES_PER_SECOND", a slow pipe.
//
// OFFSET and SIZE are sums like "1536+10" or "${off}-2"; a term may be "N%"
// of the file's size, and a negative result counts from the end of the file.
// A JSON PATH is dot-separated keys; "[3]" picks an array element and
// "[name=layer]" the array element whose field name is "layer", as in
// "checks[name=layer].status".
//
// Conditions: [vfs] is true when DOCKER_HOST_VFS names a second daemon that
// uses the vfs storage driver; [podman] when PODMAN_HOST names a rootful
// Podman's Docker-compatible API; [root] when the tests run as root;
// [containerd] when CONTAINERD_ADDRESS is the socket of a private
// containerd whose state dir is LT_CTRD (scripts/containerd.sh), with the
// test images in namespaces default and moby; [docker29] when
// DOCKER29_HOST names a real Docker 29 with the containerd image store
// (scripts/engines.sh), which has the test images too; [nerdctl] when
// [containerd] holds and LT_NERDCTL names a nerdctl binary (built by
// scripts/build.sh); [tool:NAME] when a pipeline script's tool is
// here (pipeline_linux_test.go).
//
// TestScript runs every script with containerd 1.6 (Debian's) at
// CONTAINERD_ADDRESS; TestScriptContainerd2 runs the scripts that use
// containerd again with a containerd 2 (CONTAINERD2_ADDRESS, state dir
// LT_CTRD2, its ctr first on PATH from LT_CONTAINERD2_BIN) in their place.
// With LAYER_TOOL_E2E=require, Docker 29 and containerd 2 are required
// unless LT_DOCKER29_TESTS=0 or LT_CONTAINERD2_TESTS=0, and nerdctl
// unless LT_NERDCTL_TESTS=0.
//
// Every script gets $TESTDATA, the repository's testdata directory, and
// $C, a prefix unique to the script (like "lt1a2b3c4d-"),
// for the names of its containers and images; they are removed when the
// script ends, from both daemons.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/layer-tool/layer-tool/pkg/cli"
	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
)

// The images scripts/lib.sh builds; the scripts use them.
var requiredImages = []string{"layer-tool-base:latest", "layer-tool-other:latest"}

func TestMain(m *testing.M) {
	cmd := func(name string) func() {
		return func() { os.Exit(cli.Run(name)) }
	}
	if at := os.Getenv("LAYER_TOOL_KILL_AT"); at != "" {
		failpoint.Set(failpoint.KillAt(at))
	}
	testscript.Main(m, map[string]func(){
		"layer-export": cmd("layer-export"),
		"layer-import": cmd("layer-import"),
		"layer-check":  cmd("layer-check"),
		"layer-tool":   cmd("layer-tool"),
		"throttle":     func() { os.Exit(throttleMain()) },
	})
}

func TestScript(t *testing.T) {
	requireDaemon(t)
	p := scriptParams(nil)
	p.Dir = "../../testdata/script"
	testscript.Run(t, p)
}

// containerdScripts are the scripts that talk to containerd, run against
// each version of it.
var containerdScripts = []string{"engine_containerd.txtar", "engine_docker29.txtar", "compat_containerd.txtar"}

// TestScriptContainerd2 runs containerdScripts against containerd 2.
func TestScriptContainerd2(t *testing.T) {
	requireDaemon(t)
	addr, bin := os.Getenv("CONTAINERD2_ADDRESS"), os.Getenv("LT_CONTAINERD2_BIN")
	if addr == "" || os.Getenv("LT_CTRD2") == "" || bin == "" {
		msg := "no CONTAINERD2_ADDRESS, LT_CTRD2 and LT_CONTAINERD2_BIN: scripts/test.sh starts a containerd 2"
		if os.Getenv("LAYER_TOOL_E2E") == "require" && os.Getenv("LT_CONTAINERD2_TESTS") != "0" {
			t.Fatal("LAYER_TOOL_E2E=require, but " + msg)
		}
		t.Skip(msg)
	}
	p := scriptParams(map[string]string{
		"CONTAINERD_ADDRESS": addr,
		"LT_CTRD":            os.Getenv("LT_CTRD2"),
		"PATH":               bin + string(os.PathListSeparator),
	})
	for _, f := range containerdScripts {
		p.Files = append(p.Files, filepath.Join("../../testdata/script", f))
	}
	testscript.Run(t, p)
}

// scriptParams are the Params of a run in which the variables of over
// stand for those of the environment; over["PATH"] goes in front of PATH.
func scriptParams(over map[string]string) testscript.Params {
	env := func(k string) string {
		if v, ok := over[k]; ok && k != "PATH" {
			return v
		}
		return os.Getenv(k)
	}
	return testscript.Params{
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			if err := setupScript(e, env); err != nil {
				return err
			}
			if p := over["PATH"]; p != "" {
				e.Setenv("PATH", p+e.Getenv("PATH"))
			}
			return nil
		},
		Condition: func(cond string) (bool, error) { return condition(cond, env) },
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"flipbyte":     cmdFlipbyte,
			"truncatefile": cmdTruncatefile,
			"filesize":     cmdFilesize,
			"hashfile":     cmdHashfile,
			"readvar":      cmdReadvar,
			"memberoffset": cmdMemberoffset,
			"upperdir":     cmdUpperdir,
			"mksock":       cmdMksock,
			"jsonmatch":    cmdJSONMatch,
			"treelisting":  cmdTreelisting,
			"holdlock":     cmdHoldlock,
			"unlock":       cmdUnlock,
			"matchvar":     cmdMatchvar,
			"ctr":          cmdCtr,
			"fakedocker29": cmdFakedocker29,
			"interm":       cmdInterm,
			"nerdctl":      cmdNerdctl,
			"sshserver":    cmdSshserver,
			"s3server":     cmdS3server,
			"mkrustlayer":  cmdMkrustlayer,

			// Layers from elsewhere, issue 13 (wrap_linux_test.go,
			// gocorpus_linux_test.go).
			"wraplayer":  cmdWraplayer,
			"tarlisting": cmdTarlisting,
			"gocorpus":   cmdGocorpus,
		},
	}
}

// requireDaemon skips the test (or, with LAYER_TOOL_E2E=require, fails it)
// unless a Docker daemon answers and has the test images.
func requireDaemon(t *testing.T) {
	t.Helper()
	mode := os.Getenv("LAYER_TOOL_E2E")
	if mode == "skip" || mode == "0" || mode == "off" {
		t.Skipf("LAYER_TOOL_E2E=%s", mode)
	}
	problem := daemonProblem()
	if problem == "" {
		return
	}
	if mode == "require" {
		t.Fatalf("LAYER_TOOL_E2E=require, but %s (scripts/test.sh starts the private daemons and builds the images)", problem)
	}
	t.Skipf("no Docker daemon: %s; run scripts/test.sh", problem)
}

// optionalDaemons are the daemons and tools scripts/test.sh builds from
// source, by the variable that names each and the one that leaves it out.
var optionalDaemons = []struct{ addr, optOut string }{
	{"DOCKER29_HOST", "LT_DOCKER29_TESTS"},
	{"CONTAINERD2_ADDRESS", "LT_CONTAINERD2_TESTS"},
	{"LT_NERDCTL", "LT_NERDCTL_TESTS"},
}

// daemonProblem says why the end-to-end tests cannot run, or "".
func daemonProblem() string {
	if os.Getenv("LAYER_TOOL_E2E") == "require" {
		for _, d := range optionalDaemons {
			if os.Getenv(d.addr) == "" && os.Getenv(d.optOut) != "0" {
				return fmt.Sprintf("%s is not set (or set %s=0)", d.addr, d.optOut)
			}
		}
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return "the docker CLI is not on PATH"
	}
	host := os.Getenv("DOCKER_HOST")
	if err := ping(host); err != nil {
		if host == "" {
			host = "(default socket)"
		}
		return fmt.Sprintf("DOCKER_HOST=%s does not answer: %v", host, err)
	}
	hosts := []string{host}
	for _, k := range otherHosts {
		if h := os.Getenv(k); h != "" {
			if err := ping(h); err != nil {
				return fmt.Sprintf("%s=%s does not answer: %v", k, h, err)
			}
			hosts = append(hosts, h)
		}
	}
	for _, k := range []string{"CONTAINERD_ADDRESS", "CONTAINERD2_ADDRESS"} {
		if addr := os.Getenv(k); addr != "" {
			if p := containerdProblem(addr); p != "" {
				return k + "=" + addr + ": " + p
			}
		}
	}
	for _, h := range hosts {
		for _, img := range requiredImages {
			if _, err := docker(context.Background(), h, "image", "inspect", "--format", "{{.Id}}", img); err != nil {
				return fmt.Sprintf("image %s is missing: %v", img, err)
			}
		}
	}
	return ""
}

// otherHosts name the Engine API daemons besides DOCKER_HOST.
var otherHosts = []string{"DOCKER_HOST_VFS", "PODMAN_HOST", "DOCKER29_HOST"}

// containerdProblem says why the containerd at addr cannot serve the
// scripts, or "".
func containerdProblem(addr string) string {
	for _, ns := range ctrNamespaces {
		out, err := runCtr(addr, ns, "images", "ls", "-q")
		if err != nil {
			return fmt.Sprintf("does not answer: %v", err)
		}
		for _, img := range requiredImages {
			if !slices.Contains(strings.Fields(out), "docker.io/library/"+img) {
				return fmt.Sprintf("image %s is missing in namespace %s", img, ns)
			}
		}
	}
	return ""
}

// ping asks the daemon at host (a DOCKER_HOST value; "" is the default
// socket) for /_ping. Hosts other than unix:// and tcp:// are asked through
// the docker CLI.
func ping(host string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	var url string
	tr := &http.Transport{}
	switch {
	case strings.HasPrefix(host, "unix://"):
		sock := strings.TrimPrefix(host, "unix://")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		url = "http://docker/_ping"
	case strings.HasPrefix(host, "tcp://") && os.Getenv("DOCKER_TLS_VERIFY") == "":
		url = "http://" + strings.TrimPrefix(host, "tcp://") + "/_ping"
	default:
		_, err := docker(ctx, host, "version", "--format", "{{.Server.Version}}")
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("/_ping: %s %q", res.Status, body)
	}
	return nil
}

// docker runs the docker CLI against host and returns its trimmed stdout.
func docker(ctx context.Context, host string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_HOST=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if host != "" {
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+host)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// passEnv are the variables a script sees from the test's environment
// (testscript starts from an almost empty one).
var passEnv = []string{
	"DOCKER_HOST", "DOCKER_HOST_VFS", "PODMAN_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY",
	"DOCKER_API_VERSION", "HOME", "CONTAINERD_ADDRESS", "LT_CTRD", "DOCKER29_HOST", "LT_NERDCTL",
}

// setupScript prepares a script's environment from the variables that
// getenv gives.
func setupScript(env *testscript.Env, getenv func(string) string) error {
	for _, k := range passEnv {
		if v := getenv(k); v != "" {
			env.Setenv(k, v)
		}
	}
	// Plain, predictable output from the tools the scripts run.
	env.Setenv("TZ", "UTC")
	env.Setenv("LC_ALL", "C")

	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	prefix := "lt" + hex.EncodeToString(b[:]) + "-"
	env.Setenv("C", prefix)
	// Envelopes that earlier versions wrote, which every later one reads.
	testdata, err := filepath.Abs("../../testdata")
	if err != nil {
		return err
	}
	env.Setenv("TESTDATA", testdata)
	hosts := []string{getenv("DOCKER_HOST")}
	for _, k := range otherHosts {
		if h := getenv(k); h != "" {
			hosts = append(hosts, h)
		}
	}
	t := env.T()
	env.Defer(func() {
		for _, host := range hosts {
			if err := removeByPrefix(host, prefix); err != nil {
				t.Log(err)
			}
		}
		if addr := getenv("CONTAINERD_ADDRESS"); addr != "" {
			// nerdctl's first: its containers have random ids, its
			// volumes and files live in its data root.
			if bin := getenv("LT_NERDCTL"); bin != "" && getenv("LT_CTRD") != "" {
				if err := nerdctlRemoveByPrefix(nerdctlArgs(bin, addr, getenv("LT_CTRD")), prefix); err != nil {
					t.Log(err)
				}
			}
			for _, ns := range ctrNamespaces {
				if err := ctrRemoveByPrefix(addr, ns, prefix); err != nil {
					t.Log(err)
				}
			}
		}
	})
	return nil
}

// removeByPrefix removes the containers (with their anonymous volumes),
// the named volumes and the images whose names start with prefix from the
// daemon at host.
func removeByPrefix(host, prefix string) error {
	ctx := context.Background()
	var errs []error
	out, err := docker(ctx, host, "ps", "-a", "--format", "{{.Names}}")
	if err != nil {
		return err
	}
	var names []string
	for _, n := range strings.Fields(out) {
		if strings.HasPrefix(strings.TrimPrefix(n, "/"), prefix) {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		if _, err := docker(ctx, host, append([]string{"rm", "-f", "-v"}, names...)...); err != nil {
			errs = append(errs, err)
		}
	}
	out, err = docker(ctx, host, "volume", "ls", "-q")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	var volumes []string
	for _, n := range strings.Fields(out) {
		if strings.HasPrefix(n, prefix) {
			volumes = append(volumes, n)
		}
	}
	if len(volumes) > 0 {
		if _, err := docker(ctx, host, append([]string{"volume", "rm", "-f"}, volumes...)...); err != nil {
			errs = append(errs, err)
		}
	}
	out, err = docker(ctx, host, "images", "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	var images []string
	for _, n := range strings.Fields(out) {
		if strings.HasPrefix(n, prefix) {
			images = append(images, n)
		}
	}
	if len(images) > 0 {
		if _, err := docker(ctx, host, append([]string{"rmi", "-f"}, images...)...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func condition(cond string, getenv func(string) string) (bool, error) {
	switch cond {
	case "vfs":
		return getenv("DOCKER_HOST_VFS") != "", nil
	case "podman":
		return getenv("PODMAN_HOST") != "", nil
	case "root":
		return os.Geteuid() == 0, nil
	case "containerd":
		return getenv("CONTAINERD_ADDRESS") != "" && getenv("LT_CTRD") != "", nil
	case "docker29":
		return getenv("DOCKER29_HOST") != "", nil
	case "nerdctl":
		return getenv("CONTAINERD_ADDRESS") != "" && getenv("LT_CTRD") != "" && getenv("LT_NERDCTL") != "", nil
	}
	if name, ok := strings.CutPrefix(cond, "tool:"); ok {
		return toolCondition(name, getenv)
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// offset evaluates a sum such as "1536+10", "-600" or "50%" against a file
// of the given size; a negative result counts back from the end.
func offset(expr string, size int64) (int64, error) {
	var total int64
	rest := expr
	if rest == "" {
		return 0, fmt.Errorf("empty offset")
	}
	for rest != "" {
		sign := int64(1)
		switch rest[0] {
		case '+':
			rest = rest[1:]
		case '-':
			sign, rest = -1, rest[1:]
		}
		end := strings.IndexAny(rest, "+-")
		if end < 0 {
			end = len(rest)
		}
		term := rest[:end]
		rest = rest[end:]
		pct := strings.HasSuffix(term, "%")
		n, err := strconv.ParseInt(strings.TrimSuffix(term, "%"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("offset %q: %v", expr, err)
		}
		if pct {
			n = size * n / 100
		}
		total += sign * n
	}
	if total < 0 {
		total += size
	}
	return total, nil
}

// cmdFlipbyte: flipbyte FILE OFFSET...
func cmdFlipbyte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET...")
	}
	name := ts.MkAbs(args[0])
	data, err := os.ReadFile(name)
	ts.Check(err)
	for _, a := range args[1:] {
		off, err := offset(a, int64(len(data)))
		ts.Check(err)
		if off < 0 || off >= int64(len(data)) {
			ts.Fatalf("flipbyte: offset %s (%d) outside %s (%d bytes)", a, off, args[0], len(data))
		}
		data[off] ^= 0xff
	}
	ts.Check(os.WriteFile(name, data, 0o666))
}

// cmdTruncatefile: truncatefile FILE SIZE
func cmdTruncatefile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: truncatefile FILE SIZE")
	}
	name := ts.MkAbs(args[0])
	fi, err := os.Stat(name)
	ts.Check(err)
	size, err := offset(args[1], fi.Size())
	ts.Check(err)
	if size < 0 || size > fi.Size() {
		ts.Fatalf("truncatefile: size %s (%d) outside 0..%d", args[1], size, fi.Size())
	}
	ts.Check(os.Truncate(name, size))
}

// cmdFilesize: filesize FILE VAR
func cmdFilesize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: filesize FILE VAR")
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Setenv(args[1], strconv.FormatInt(fi.Size(), 10))
}

// cmdHashfile: hashfile FILE VAR
func cmdHashfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hashfile FILE VAR")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	ts.Check(err)
	ts.Setenv(args[1], hex.EncodeToString(h.Sum(nil)))
}

// cmdReadvar: readvar VAR FILE
func cmdReadvar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: readvar VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimRight(ts.ReadFile(args[1]), " \t\r\n"))
}

// countingReader counts the bytes read through it. It has no Seek method,
// so archive/tar reads (and counts) everything it skips.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// cmdMemberoffset: memberoffset TAR MEMBER VAR [SIZEVAR]
func cmdMemberoffset(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: memberoffset TAR MEMBER VAR [SIZEVAR]")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			ts.Fatalf("memberoffset: no member %q in %s", args[1], args[0])
		}
		ts.Check(err)
		if hdr.Name == args[1] {
			ts.Setenv(args[2], strconv.FormatInt(cr.n, 10))
			if len(args) == 4 {
				ts.Setenv(args[3], strconv.FormatInt(hdr.Size, 10))
			}
			return
		}
	}
}

// cmdUpperdir: upperdir CONTAINER VAR
func cmdUpperdir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: upperdir CONTAINER VAR")
	}
	host := ts.Getenv("DOCKER_HOST")
	out, err := docker(context.Background(), host, "container", "inspect", "--format",
		"{{.Id}} {{with .GraphDriver}}{{with .Data}}{{.UpperDir}}{{end}}{{end}}", args[0])
	ts.Check(err)
	id, dir, _ := strings.Cut(out, " ")
	if dir == "" || dir == "<no value>" {
		dir = snapshotUpperdir(ts, host, id)
	}
	ts.Setenv(args[1], dir)
}

// snapshotUpperdir is the upper dir of the container id of a Docker with
// the containerd image store: that of the snapshot whose key is the id, as
// the containerd that /info names mounts it.
func snapshotUpperdir(ts *testscript.TestScript, host, id string) string {
	out, err := docker(context.Background(), host, "info", "--format",
		"{{.Driver}} {{.Containerd.Address}} {{.Containerd.Namespaces.Containers}}")
	ts.Check(err)
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "overlayfs" {
		ts.Fatalf("upperdir: container %s has no overlay2 UpperDir, and the daemon no overlayfs snapshotter (%q)", id, out)
	}
	mounts, err := runCtr(f[1], f[2], "snapshots", "--snapshotter", f[0], "mounts", "/", id)
	ts.Check(err)
	m := regexp.MustCompile(`upperdir=([^,\s]+)`).FindStringSubmatch(mounts)
	if m == nil {
		ts.Fatalf("upperdir: snapshot %s has no upperdir: %s", id, mounts)
	}
	return m[1]
}

// cmdMksock: mksock PATH. The socket is closed but its file stays.
func cmdMksock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mksock PATH")
	}
	name := ts.MkAbs(args[0])
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	ts.Check(err)
	defer syscall.Close(fd)
	addr := name
	if len(addr) >= 100 {
		// Too long for sun_path (108 bytes with its NUL): bind through
		// the directory's /proc/self/fd link instead, without a chdir,
		// which would be process-wide while scripts run in parallel.
		dir, err := os.Open(filepath.Dir(name))
		ts.Check(err)
		defer dir.Close()
		addr = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(name))
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: addr}); err != nil {
		ts.Fatalf("mksock %s: %v", name, err)
	}
}

// cmdJSONMatch: jsonmatch FILE PATH REGEXP. FILE "stdout" or "stderr" is
// the last command's output. With !, the value must be missing or not match.
func cmdJSONMatch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonmatch FILE PATH REGEXP")
	}
	re, err := regexp.Compile(`(?m)` + args[2])
	ts.Check(err)
	var doc any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &doc); err != nil {
		ts.Fatalf("jsonmatch: %s: %v", args[0], err)
	}
	v, err := jsonPath(doc, args[1])
	if err != nil {
		if neg {
			return
		}
		ts.Fatalf("jsonmatch: %s: %v", args[0], err)
	}
	s := jsonString(v)
	switch ok := re.MatchString(s); {
	case ok && neg:
		ts.Fatalf("jsonmatch: %s %s = %q matches %q", args[0], args[1], s, args[2])
	case !ok && !neg:
		ts.Fatalf("jsonmatch: %s %s = %q does not match %q", args[0], args[1], s, args[2])
	}
}

var pathSegment = regexp.MustCompile(`^([^\[\]]*)((?:\[[^\]]*\])*)$`)

// jsonPath follows a path like "checks[name=layer].status" through doc.
func jsonPath(doc any, path string) (any, error) {
	v := doc
	for _, seg := range strings.Split(path, ".") {
		m := pathSegment.FindStringSubmatch(seg)
		if m == nil {
			return nil, fmt.Errorf("bad path segment %q", seg)
		}
		if m[1] != "" {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: %q is not in an object", path, m[1])
			}
			if v, ok = obj[m[1]]; !ok {
				return nil, fmt.Errorf("%s: no field %q", path, m[1])
			}
		}
		for _, sel := range strings.SplitAfter(m[2], "]") {
			sel = strings.TrimSuffix(strings.TrimPrefix(sel, "["), "]")
			if sel == "" {
				continue
			}
			arr, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: [%s] on a non-array", path, sel)
			}
			if k, want, isField := strings.Cut(sel, "="); isField {
				found := false
				for _, el := range arr {
					if obj, ok := el.(map[string]any); ok && jsonString(obj[k]) == want {
						v, found = el, true
						break
					}
				}
				if !found {
					return nil, fmt.Errorf("%s: no element with %s", path, sel)
				}
				continue
			}
			i, err := strconv.Atoi(sel)
			if err != nil || i < 0 || i >= len(arr) {
				return nil, fmt.Errorf("%s: no element [%s]", path, sel)
			}
			v = arr[i]
		}
	}
	return v, nil
}

// jsonString shows a JSON value as a script compares it: strings as they
// are, everything else as compact JSON.
func jsonString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// cmdTreelisting: treelisting DIR OUTFILE. One line per entry below DIR
// (DIR itself left out: an import gives it the target's own attributes),
// depth first in bytewise name order, never following symlinks:
//
//	PATH TYPE MODE UID:GID SIZE MTIME LINK RDEV XATTRS NLINK SHA256
//
// tab-separated; PATH and LINK Go-quoted (names need not be UTF-8). MODE is
// octal with the setuid, setgid and sticky bits; SIZE only for regular
// files and symlinks (a directory's size depends on its history); MTIME in
// nanoseconds. XATTRS are "name=hex" sorted by name, without the overlay's
// bookkeeping (trusted.overlay.* and user.overlay.*, which the kernel sets
// on copy-up) but with its opaque marker. NLINK is "-" for whiteouts
// (character devices 0:0), which the kernel may give one shared inode.
func cmdTreelisting(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: treelisting DIR OUTFILE")
	}
	root := ts.MkAbs(args[0])
	var b strings.Builder
	var walk func(rel string)
	walk = func(rel string) {
		abs := root
		if rel != "" {
			abs = filepath.Join(root, rel)
		}
		ents, err := os.ReadDir(abs)
		ts.Check(err)
		names := make([]string, len(ents))
		for i, e := range ents {
			names[i] = e.Name()
		}
		sort.Strings(names)
		for _, n := range names {
			r := n
			if rel != "" {
				r = rel + "/" + n
			}
			isDir := treeEntry(ts, &b, filepath.Join(root, r), r)
			if isDir {
				walk(r)
			}
		}
	}
	walk("")
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(b.String()), 0o666))
}

// treeEntry writes the line of one entry and tells whether it is a directory.
func treeEntry(ts *testscript.TestScript, b *strings.Builder, abs, rel string) bool {
	var st unix.Stat_t
	ts.Check(unix.Lstat(abs, &st))
	typ, size, link, rdev, nlink, sum := "?", "-", "-", "-", strconv.FormatUint(uint64(st.Nlink), 10), "-"
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		typ, size = "reg", strconv.FormatInt(st.Size, 10)
		f, err := os.Open(abs)
		ts.Check(err)
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		ts.Check(err)
		sum = hex.EncodeToString(h.Sum(nil))
	case unix.S_IFDIR:
		typ = "dir"
	case unix.S_IFLNK:
		typ, size = "symlink", strconv.FormatInt(st.Size, 10)
		target, err := os.Readlink(abs)
		ts.Check(err)
		link = strconv.Quote(target)
	case unix.S_IFIFO:
		typ = "fifo"
	case unix.S_IFCHR, unix.S_IFBLK:
		typ = "char"
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			typ = "block"
		}
		rdev = fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		if typ == "char" && st.Rdev == 0 {
			nlink = "-"
		}
	case unix.S_IFSOCK:
		typ = "socket"
	}
	fmt.Fprintf(b, "%s\t%s\t%04o\t%d:%d\t%s\t%d.%09d\t%s\t%s\t%s\t%s\t%s\n",
		strconv.Quote(rel), typ, st.Mode&0o7777, st.Uid, st.Gid, size,
		st.Mtim.Sec, st.Mtim.Nsec, link, rdev, treeXattrs(ts, abs), nlink, sum)
	return typ == "dir"
}

// treeXattrs lists abs's extended attributes as sorted "name=hex" pairs.
func treeXattrs(ts *testscript.TestScript, abs string) string {
	size, err := unix.Llistxattr(abs, nil)
	ts.Check(err)
	if size == 0 {
		return "-"
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(abs, buf)
	ts.Check(err)
	var pairs []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if (strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")) &&
			!strings.HasSuffix(name, ".overlay.opaque") {
			continue
		}
		n, err := unix.Lgetxattr(abs, name, nil)
		ts.Check(err)
		v := make([]byte, n)
		n, err = unix.Lgetxattr(abs, name, v)
		ts.Check(err)
		pairs = append(pairs, name+"="+hex.EncodeToString(v[:n]))
	}
	if len(pairs) == 0 {
		return "-"
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// heldLocks are holdlock's open directories, by script and path.
var heldLocks = struct {
	sync.Mutex
	fds map[*testscript.TestScript]map[string]int
}{fds: map[*testscript.TestScript]map[string]int{}}

// cmdHoldlock: holdlock DIR. The lock is on an open file description of
// DIR, so an import (another process) that flocks DIR finds it taken.
func cmdHoldlock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdlock DIR")
	}
	dir := filepath.Clean(ts.MkAbs(args[0]))
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	ts.Check(err)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		ts.Fatalf("holdlock %s: %v", dir, err)
	}
	heldLocks.Lock()
	defer heldLocks.Unlock()
	m := heldLocks.fds[ts]
	if m == nil {
		m = map[string]int{}
		heldLocks.fds[ts] = m
		ts.Defer(func() {
			heldLocks.Lock()
			defer heldLocks.Unlock()
			for _, fd := range heldLocks.fds[ts] {
				unix.Close(fd)
			}
			delete(heldLocks.fds, ts)
		})
	}
	if _, ok := m[dir]; ok {
		unix.Close(fd)
		ts.Fatalf("holdlock %s: already held", dir)
	}
	m[dir] = fd
}

// cmdUnlock: unlock DIR
func cmdUnlock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: unlock DIR")
	}
	dir := filepath.Clean(ts.MkAbs(args[0]))
	heldLocks.Lock()
	defer heldLocks.Unlock()
	fd, ok := heldLocks.fds[ts][dir]
	if !ok {
		ts.Fatalf("unlock %s: not held", dir)
	}
	delete(heldLocks.fds[ts], dir)
	ts.Check(unix.Close(fd))
}

// cmdMatchvar: matchvar VAR FILE REGEXP
func cmdMatchvar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: matchvar VAR FILE REGEXP")
	}
	re, err := regexp.Compile(`(?m)` + args[2])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[1]))
	if m == nil {
		ts.Fatalf("matchvar: no match for %q in %s", args[2], args[1])
	}
	v := m[0]
	if len(m) > 1 {
		v = m[1]
	}
	ts.Setenv(args[0], v)
}

// ctrNamespaces are the containerd namespaces the scripts use: the
// default one, and Docker's.
var ctrNamespaces = []string{"default", "moby"}

func cmdCtr(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: ctr NS ARGS...")
	}
	state := ts.Getenv("LT_CTRD")
	ctrArgs := []string{"-a", ts.Getenv("CONTAINERD_ADDRESS"), "-n", args[0]}
	switch args[1] {
	case "run":
		ctrArgs = append(ctrArgs, "run", "--snapshotter", "overlayfs",
			"--runc-root", filepath.Join(state, "runc"), "--fifo-dir", filepath.Join(state, "fifo"))
		ctrArgs = append(ctrArgs, args[2:]...)
	case "start":
		ctrArgs = append(ctrArgs, "tasks", "start", "--fifo-dir", filepath.Join(state, "fifo"))
		ctrArgs = append(ctrArgs, args[2:]...)
	default:
		ctrArgs = append(ctrArgs, args[1:]...)
	}
	err := ts.Exec("ctr", ctrArgs...)
	if err != nil && !neg {
		ts.Fatalf("ctr %s: %v", strings.Join(args, " "), err)
	}
	if err == nil && neg {
		ts.Fatalf("ctr %s: unexpected success", strings.Join(args, " "))
	}
}

// runCtr runs ctr against the containerd at addr, in namespace ns, and
// returns its output.
func runCtr(addr, ns string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"-a", addr, "-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ctr -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// ctrRemoveByPrefix kills and removes the containers (with their tasks and
// snapshots) whose ids start with prefix in containerd namespace ns.
func ctrRemoveByPrefix(addr, ns, prefix string) error {
	ctr := func(args ...string) (string, error) { return runCtr(addr, ns, args...) }
	out, err := ctr("containers", "ls", "-q")
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range strings.Fields(out) {
		if !strings.HasPrefix(id, prefix) {
			continue
		}
		// A paused task takes SIGKILL only once resumed; errors here mean
		// there was no such task.
		ctr("tasks", "resume", id)
		ctr("tasks", "delete", "--force", id)
		if _, err := ctr("containers", "delete", id); err != nil {
			errs = append(errs, err)
		}
	}
	// Images the script imported or tagged: docker.io/library/PREFIX...
	if out, err = ctr("images", "ls", "-q"); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, name := range strings.Fields(out) {
		if strings.Contains(name, "/"+prefix) {
			if _, err := ctr("images", "rm", name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// nerdctlArgs is the command line of the nerdctl bin on the containerd at
// addr whose state dir is state, less the command: namespace default, the
// overlayfs snapshotter (the only one the tool reads), cgroupfs (no systemd
// here), and a data root and CNI config dir of its own under state, so that
// nothing of a nerdctl of the host's is touched. runc's root is the shim's
// default (/run/containerd/runc/default): nerdctl has no flag for it.
func nerdctlArgs(bin, addr, state string) []string {
	root := filepath.Join(state, "nerdctl")
	return []string{bin, "--address", addr, "--namespace", "default", "--snapshotter", "overlayfs",
		"--cgroup-manager", "cgroupfs", "--data-root", filepath.Join(root, "data"),
		"--cni-netconfpath", filepath.Join(root, "cni")}
}

// cmdNerdctl: nerdctl ARGS...
func cmdNerdctl(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: nerdctl ARGS...")
	}
	cmd := nerdctlArgs(ts.Getenv("LT_NERDCTL"), ts.Getenv("CONTAINERD_ADDRESS"), ts.Getenv("LT_CTRD"))
	err := ts.Exec(cmd[0], append(cmd[1:], args...)...)
	if err != nil && !neg {
		ts.Fatalf("nerdctl %s: %v", strings.Join(args, " "), err)
	}
	if err == nil && neg {
		ts.Fatalf("nerdctl %s: unexpected success", strings.Join(args, " "))
	}
}

// nerdctlRemoveByPrefix removes, with nerdctl (cmd: nerdctlArgs), the
// containers whose names start with prefix, with their anonymous volumes,
// and the named volumes whose names do.
func nerdctlRemoveByPrefix(cmd []string, prefix string) error {
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, cmd[0], append(slices.Clone(cmd[1:]), args...)...)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		if err != nil {
			return "", fmt.Errorf("nerdctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return string(out), nil
	}
	var errs []error
	for _, kind := range [][]string{{"ps", "-a", "--format", "{{.Names}}"}, {"volume", "ls", "-q"}} {
		out, err := run(kind...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var names []string
		for _, n := range strings.Fields(out) {
			if strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			continue
		}
		rm := []string{"rm", "-f", "-v"}
		if kind[0] == "volume" {
			rm = []string{"volume", "rm", "-f"}
		}
		if _, err := run(append(rm, names...)...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
