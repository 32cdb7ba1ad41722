package cli_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// cmdGocorpus: gocorpus TEMPLATE [ARCHIVE...]. Each archive of Go's
// archive/tar tests ($GOROOT/src/archive/tar/testdata/*.tar, read at test
// time; or only those named), wrapped as the layer of an envelope v1 made
// from TEMPLATE (wrapLayer), goes through layer-check --offline and then
// layer-import into a stopped container of layer-tool-base:
//
//   - check calls it valid: the import into a fresh container succeeds,
//     and docker export of it is a fresh container's export with the
//     archive's entries applied as the README's "Layers from elsewhere"
//     has them (corpusExpected); and the xattrs of the target's upper
//     directory are the archive's (docker export drops all but one);
//   - check calls it invalid: the import refuses it, and its message (less
//     "layer-import: ") is the message of a check that failed. These go,
//     one after the other, into one container, whose docker diff is empty
//     at the end: no refusal changed it. As in pkg/transfer's
//     TestGoTarCorpus, an archive whose only fault is that tar-split
//     cannot record it may import (layer-import does not read that
//     member): it goes into a fresh container, as a valid one.
//
// It writes the table "| archive | check | import | reason |" on stdout,
// or fails with every disagreement and the table. The valid archives run a few at a time, and beside
// the refused ones: each takes a container, an import and an export.
func cmdGocorpus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: gocorpus TEMPLATE [ARCHIVE...]")
	}
	dir := filepath.Join(runtime.GOROOT(), "src", "archive", "tar", "testdata")
	files, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	ts.Check(err)
	if len(files) < 30 {
		ts.Fatalf("gocorpus: %d archives in %s; want Go's archive/tar test archives", len(files), dir)
	}
	if len(args) > 1 {
		files = files[:0]
		for _, a := range args[1:] {
			files = append(files, filepath.Join(dir, a))
		}
	}
	api, err := newEngineAPI(ts.Getenv("DOCKER_HOST"))
	ts.Check(err)
	c := &corpusRun{
		api:      api,
		host:     ts.Getenv("DOCKER_HOST"),
		template: ts.MkAbs(args[0]),
		dir:      ts.MkAbs("gocorpus"),
		prefix:   ts.Getenv("C") + "go-",
	}
	ts.Check(os.MkdirAll(c.dir, 0o755))
	ctx := context.Background()
	c.base, err = c.baseTree(ctx)
	ts.Check(err)

	results := make([]corpusResult, len(files))
	parallel(len(files), 4, func(i int) { results[i] = c.check(ctx, files[i]) })
	refused := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		parallel(len(files), 3, func(i int) {
			if r := &results[i]; r.fresh {
				c.importFresh(ctx, r)
			}
		})
	}()
	shared := c.prefix + "refused"
	err = c.api.create(ctx, shared)
	for i := range results {
		if r := &results[i]; err == nil && !r.fresh && r.check != "" {
			c.importInvalid(ctx, r, shared)
			refused++
		}
	}
	wg.Wait()
	ts.Check(err)
	changes, err := c.api.changes(ctx, shared)
	ts.Check(err)

	var table strings.Builder
	table.WriteString("| archive | check | import | reason |\n|---|---|---|---|\n")
	var problems []string
	for _, r := range results {
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", r.name, r.check, r.imp, strings.ReplaceAll(r.reason, "|", `\|`))
		for _, p := range r.problems {
			problems = append(problems, r.name+": "+p)
		}
	}
	if len(changes) > 0 {
		problems = append(problems, fmt.Sprintf("the %d refused imports changed their target: %v", refused, changes))
	}
	if len(problems) > 0 {
		ts.Fatalf("gocorpus: %d problems:\n%s\n%s", len(problems), strings.Join(problems, "\n"), table.String())
	}
	_, err = io.WriteString(ts.Stdout(), table.String())
	ts.Check(err)
}

// parallel runs f(0) ... f(n-1), at most k at a time.
func parallel(n, k int, f func(i int)) {
	sem := make(chan struct{}, k)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// corpusRun is one run of gocorpus.
type corpusRun struct {
	api                         *engineAPI
	host, template, dir, prefix string
	// base is what docker export shows of a fresh container of the base
	// image.
	base tarTree
}

// corpusResult is a row of the table, what went wrong, and what the
// import needs.
type corpusResult struct {
	name, check, imp, reason string
	problems                 []string

	data       []byte   // the archive
	env        string   // its envelope's file
	valid      bool     // check's verdict
	fails      []string // the messages of the checks that failed
	splitFault bool     // only the tar-split check failed
	// fresh: the archive goes into a container of its own; check calls it
	// valid, or invalid for its tar-split member alone, which the import
	// does not read.
	fresh bool
}

func (r *corpusResult) fail(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// corpusReport is what gocorpus reads of layer-check's report.
type corpusReport struct {
	Valid bool `json:"valid"`
	Layer struct {
		Canonical    *bool  `json:"canonical"`
		NotCanonical string `json:"notCanonical"`
	} `json:"layer"`
	Checks []struct {
		Name, Status, Message string
	} `json:"checks"`
}

// baseTree exports a fresh container of the base image.
func (c *corpusRun) baseTree(ctx context.Context) (tarTree, error) {
	name := c.prefix + "base"
	if err := c.api.create(ctx, name); err != nil {
		return nil, err
	}
	return c.exportTree(ctx, name)
}

// exportTree is docker export of container name, as a tree.
func (c *corpusRun) exportTree(ctx context.Context, name string) (tarTree, error) {
	rc, err := c.api.export(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	t, err := readTarTree(rc)
	if err != nil {
		return nil, fmt.Errorf("docker export %s: %w", name, err)
	}
	return t, nil
}

// run runs a program and returns its stdout, stderr and exit code; err
// only when it could not run or was killed.
func (c *corpusRun) run(ctx context.Context, prog string, args ...string) (stdout, stderr string, code int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_HOST=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "DOCKER_HOST="+c.host)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() >= 0 {
		return o.String(), e.String(), exit.ExitCode(), nil
	}
	return o.String(), e.String(), 0, err
}

// check wraps an archive as an envelope and runs layer-check on it.
func (c *corpusRun) check(ctx context.Context, file string) (r corpusResult) {
	r.name = filepath.Base(file)
	data, err := os.ReadFile(file)
	if err != nil {
		r.fail("%v", err)
		return r
	}
	r.data = data
	r.env = filepath.Join(c.dir, r.name+".layer")
	wrapped, err := wrapLayer(c.template, data)
	if err == nil {
		err = os.WriteFile(r.env, wrapped, 0o644)
	}
	if err != nil {
		r.fail("wrap: %v", err)
		return r
	}
	out, _, code, err := c.run(ctx, "layer-check", "--offline", r.env)
	var rep corpusReport
	if err == nil {
		err = json.Unmarshal([]byte(out), &rep)
	}
	if err == nil && (code == 0) != rep.Valid {
		err = fmt.Errorf("valid is %v", rep.Valid)
	}
	if err != nil || code > 1 {
		r.fail("layer-check: exit %d, %v", code, err)
		return r
	}
	r.valid, r.splitFault = rep.Valid, !rep.Valid
	for _, ch := range rep.Checks {
		if ch.Status == "fail" {
			r.fails = append(r.fails, ch.Message)
			r.splitFault = r.splitFault && ch.Name == "tar-split"
		}
	}
	r.check = "invalid"
	if rep.Valid {
		r.check = "valid"
		if cn := rep.Layer.Canonical; cn != nil && !*cn {
			r.check = "valid, not canonical"
			r.reason = rep.Layer.NotCanonical
		}
	}
	r.fresh = r.valid || r.splitFault
	return r
}

// importInvalid imports an archive check calls invalid into target,
// which it must leave as it was.
func (c *corpusRun) importInvalid(ctx context.Context, r *corpusResult, target string) {
	switch code, msg := c.importEnvelope(ctx, r, target); code {
	case 0:
		r.imp = "imported"
		r.fail("import takes it, check calls it invalid: %q", r.fails)
	case 1:
		r.imp, r.reason = "refused", msg
		if !slices.Contains(r.fails, msg) {
			r.fail("import refuses it with %q; the failed checks say %q", msg, r.fails)
		}
	}
}

// importFresh imports an archive check calls valid (or invalid for its
// tar-split member alone) into a fresh container and compares what docker
// export shows.
func (c *corpusRun) importFresh(ctx context.Context, r *corpusResult) {
	target := c.prefix + strings.TrimSuffix(r.name, ".tar")
	if err := c.api.create(ctx, target); err != nil {
		r.fail("%v", err)
		return
	}
	switch code, msg := c.importEnvelope(ctx, r, target); {
	case code == 0:
		r.imp = "imported"
		if !r.valid {
			r.reason = "check: " + strings.Join(r.fails, "; ")
		}
		r.problems = append(r.problems, c.compare(ctx, target, r.data)...)
		if len(r.problems) == 0 {
			r.imp = "imported, export matches"
		}
	case code == 1 && r.valid:
		r.imp, r.reason = "refused", msg
		r.fail("check calls it valid, import refuses it: %s", msg)
	case code == 1:
		r.imp, r.reason = "refused", msg
		if !slices.Contains(r.fails, msg) {
			r.fail("import refuses it with %q; the failed checks say %q", msg, r.fails)
		}
	}
}

// importEnvelope runs layer-import of r's envelope into target, and
// returns its exit code (0 or 1; else a problem is recorded) and the last
// line it printed, less "layer-import: ".
func (c *corpusRun) importEnvelope(ctx context.Context, r *corpusResult, target string) (int, string) {
	_, stderr, code, err := c.run(ctx, "layer-import", "-q", "-i", r.env, target)
	if err != nil || code > 1 {
		r.fail("layer-import: exit %d, %v: %s", code, err, stderr)
		return -1, ""
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	return code, strings.TrimPrefix(lines[len(lines)-1], "layer-import: ")
}

// compare checks docker export of target against the archive data
// applied to the base tree, and the xattrs docker export does not keep
// against the target's upper directory.
func (c *corpusRun) compare(ctx context.Context, target string, data []byte) []string {
	want, err := corpusExpected(c.base, data)
	if err != nil {
		return []string{"expected tree: " + err.Error()}
	}
	got, err := c.exportTree(ctx, target)
	if err != nil {
		return []string{err.Error()}
	}
	problems := diffTrees(want, got)
	upper, err := c.api.upperDir(ctx, target)
	if err != nil {
		return append(problems, err.Error())
	}
	return append(problems, upperXattrs(upper, data)...)
}

// corpusExpected is base with the layer in data applied, as the README's
// "Layers from elsewhere" has it, and as docker export would show it:
//
//   - names without "./" in front or "/" behind; the root entry and PAX
//     global headers ignored;
//   - a parent the layer implies but does not list: a directory 0755, owned
//     by root, with the mtime of the first entry that implies it; listed
//     later, the listing's metadata wins;
//   - a path listed twice: the later entry wins;
//   - a whiteout ".wh.NAME" deletes NAME of the base (and what is below
//     it), an opaque marker ".wh..wh..opq" what the base has below its
//     directory; neither touches the layer's own entries;
//   - a hard link is its target; a symlink's mode is 0777 (Linux has no
//     other);
//   - file-type bits in the mode field dropped; of the xattrs only
//     security.capability, the one docker export keeps.
//
// The mtimes of Docker's init layer are left out on both sides.
func corpusExpected(base tarTree, data []byte) (tarTree, error) {
	layer := tarTree{}
	var deleted, opaque []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		name := cleanTarName(hdr.Name)
		if hdr.Typeflag == tar.TypeXGlobalHeader || name == "" {
			continue
		}
		mtime := strconv.FormatInt(hdr.ModTime.Unix(), 10)
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if _, ok := layer[p]; !ok {
				layer[p] = tarNode{name: p, typ: "dir", mode: 0o755, size: "-", sum: "-", dev: "-", xattrs: "-", mtime: mtime}
			}
		}
		dir, file := path.Split(name)
		switch {
		case file == ".wh..wh..opq":
			opaque = append(opaque, dir)
			continue
		case strings.HasPrefix(file, ".wh."):
			deleted = append(deleted, dir+file[len(".wh."):])
			continue
		}
		n, err := newTarNode(hdr, tr)
		if err != nil {
			return nil, err
		}
		if n.typ == "symlink" {
			n.mode = 0o777
		}
		n.xattrs = "-"
		if v, ok := hdr.PAXRecords["SCHILY.xattr.security.capability"]; ok {
			n.xattrs = "security.capability=" + hex.EncodeToString([]byte(v))
		}
		layer[name] = n
	}
	if err := layer.resolveLinks(); err != nil {
		return nil, err
	}
	out := tarTree{}
	for name, n := range base {
		if !hidden(name, layer, deleted, opaque) {
			out[name] = n
		}
	}
	for name, n := range layer {
		out[name] = n
	}
	return out, nil
}

// hidden tells whether the layer hides the base's entry name: a whiteout
// of it or of a directory above it, an opaque directory above it, or a
// non-directory of the layer above it.
func hidden(name string, layer tarTree, deleted, opaque []string) bool {
	for _, d := range deleted {
		if name == d || strings.HasPrefix(name, d+"/") {
			return true
		}
	}
	for _, o := range opaque {
		if strings.HasPrefix(name, o) {
			return true
		}
	}
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if n, ok := layer[p]; ok && n.typ != "dir" {
			return true
		}
	}
	return false
}

// diffTrees lists where got differs from want, one line each, with the
// init layer's mtimes left out.
func diffTrees(want, got tarTree) []string {
	names := slices.Collect(maps.Keys(want))
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var problems []string
	for _, n := range names {
		if w, g := want.line(n), got.line(n); w != g {
			problems = append(problems, fmt.Sprintf("docker export %q:\n\twant %s\n\tgot  %s", n, w, g))
		}
	}
	return problems
}

// upperXattrs compares the xattrs of the layer's entries (the last of
// each name; hard links are their targets) with those the target's upper
// directory has, less the overlay's own: docker export keeps only
// security.capability. Nothing may be there that the layer does not say,
// such as an ACL the kernel made a new node inherit.
func upperXattrs(upper string, data []byte) []string {
	want := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		name := cleanTarName(hdr.Name)
		if name == "" || hdr.Typeflag == tar.TypeLink || hdr.Typeflag == tar.TypeXGlobalHeader ||
			strings.HasPrefix(path.Base(name), ".wh.") {
			continue
		}
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if _, ok := want[p]; !ok {
				want[p] = "-"
			}
		}
		var xattrs []string
		for k, v := range hdr.PAXRecords {
			if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				xattrs = append(xattrs, x+"="+hex.EncodeToString([]byte(v)))
			}
		}
		want[name] = joinXattrs(xattrs)
	}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		got, err := upperXattrList(filepath.Join(upper, name))
		if err != nil || got != want[name] {
			problems = append(problems, fmt.Sprintf("upper dir %q: xattrs %s (%v), want %s", name, got, err, want[name]))
		}
	}
	return problems
}

// joinXattrs is a sorted "name=hex" list, or "-".
func joinXattrs(xattrs []string) string {
	if len(xattrs) == 0 {
		return "-"
	}
	slices.Sort(xattrs)
	return strings.Join(xattrs, ",")
}

// upperXattrList lists the xattrs of file in an upper directory as
// joinXattrs does, without the overlay's bookkeeping (trusted.overlay.*,
// user.overlay.*).
func upperXattrList(file string) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(file, buf)
	if err != nil {
		return "", err
	}
	var xattrs []string
	for _, x := range strings.Split(string(buf[:n]), "\x00") {
		if x == "" || strings.HasPrefix(x, "trusted.overlay.") || strings.HasPrefix(x, "user.overlay.") {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(file, x, v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", x, err)
		}
		xattrs = append(xattrs, x+"="+hex.EncodeToString(v[:m]))
	}
	return joinXattrs(xattrs), nil
}

// engineAPI calls the Engine API of a daemon at a unix socket directly:
// through the docker CLI, each call would cost a process start too, which
// is most of the time of a create or an inspect.
type engineAPI struct{ client *http.Client }

func newEngineAPI(host string) (*engineAPI, error) {
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	sock, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return nil, fmt.Errorf("DOCKER_HOST=%s: want a unix:// socket", host)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &engineAPI{client: &http.Client{Transport: tr}}, nil
}

// call sends a request with body (JSON, if not nil) and returns the
// response of a 2xx status; the caller closes its body.
func (a *engineAPI) call(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(msg))
	}
	return res, nil
}

// getJSON decodes the response to a GET into v.
func (a *engineAPI) getJSON(ctx context.Context, path string, v any) error {
	res, err := a.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

// create creates a stopped container of the base image without a network,
// as docker create --network none --name NAME layer-tool-base does.
func (a *engineAPI) create(ctx context.Context, name string) error {
	res, err := a.call(ctx, http.MethodPost, "/containers/create?name="+url.QueryEscape(name), map[string]any{
		"Image":      "layer-tool-base",
		"HostConfig": map[string]any{"NetworkMode": "none"},
	})
	if err != nil {
		return err
	}
	return res.Body.Close()
}

// export streams docker export of a container.
func (a *engineAPI) export(ctx context.Context, name string) (io.ReadCloser, error) {
	res, err := a.call(ctx, http.MethodGet, "/containers/"+url.PathEscape(name)+"/export", nil)
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

// upperDir is a container's overlay2 upper directory.
func (a *engineAPI) upperDir(ctx context.Context, name string) (string, error) {
	var v struct {
		GraphDriver struct{ Data map[string]string }
	}
	if err := a.getJSON(ctx, "/containers/"+url.PathEscape(name)+"/json", &v); err != nil {
		return "", err
	}
	if dir := v.GraphDriver.Data["UpperDir"]; dir != "" {
		return dir, nil
	}
	return "", fmt.Errorf("container %s has no overlay2 upper directory", name)
}

// changes is docker diff of a container: "KIND PATH" for each change.
func (a *engineAPI) changes(ctx context.Context, name string) ([]string, error) {
	var v []struct {
		Path string
		Kind int
	}
	if err := a.getJSON(ctx, "/containers/"+url.PathEscape(name)+"/changes", &v); err != nil {
		return nil, err
	}
	var out []string
	for _, ch := range v {
		kind := "?"
		if ch.Kind >= 0 && ch.Kind < 3 {
			kind = []string{"C", "A", "D"}[ch.Kind]
		}
		out = append(out, kind+" "+ch.Path)
	}
	return out, nil
}
