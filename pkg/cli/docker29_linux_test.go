package cli_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// docker29Dir holds the recorded API documents of Docker 29 with the
// containerd image store (see its README).
const docker29Dir = "../../testdata/docker29"

// cmdFakedocker29 serves the Engine API as Docker 29 on the containerd
// image store answers it, from the recorded documents, on a socket in
// $WORK, and sets FAKE29_HOST to its address:
//
//	fakedocker29 [-api-1.51|-api-1.45] CONTAINERD-ADDRESS DIFFIDS CONTAINER...
//
// /info names CONTAINERD-ADDRESS as the store's containerd; every
// CONTAINER (a containerd container id in namespace moby) is a container of
// image layer-tool-base:latest, whose rootfs diffIDs are DIFFIDS
// (comma-separated). As Docker 29 does, the fake keeps no state of its
// own: a container's state is its containerd task's, and pause and unpause
// pause and resume the task (through ctr). With -api-1.51 the daemon speaks
// API 1.51, whose inspect document has GraphDriver {"Name": "overlayfs"}
// and no Storage; with -api-1.45 also /info has no Containerd (it came in
// 1.46), and the client must fall back to Docker's default socket. Anything
// else the recordings do not cover answers 501.
func cmdFakedocker29(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! fakedocker29")
	}
	api := "1.52"
	if len(args) > 0 && (args[0] == "-api-1.51" || args[0] == "-api-1.45") {
		api, args = strings.TrimPrefix(args[0], "-api-"), args[1:]
	}
	if len(args) < 3 {
		ts.Fatalf("usage: fakedocker29 [-api-1.51|-api-1.45] CONTAINERD-ADDRESS DIFFIDS CONTAINER...")
	}
	load := func(name string) map[string]any {
		b, err := os.ReadFile(filepath.Join(docker29Dir, name))
		ts.Check(err)
		var doc map[string]any
		ts.Check(json.Unmarshal(b, &doc))
		return doc
	}
	info, version, image := load("info.json"), load("version.json"), load("image.json")
	info["Containerd"].(map[string]any)["Address"] = args[0]
	if api == "1.45" {
		delete(info, "Containerd")
	}
	version["ApiVersion"] = api
	var layers []any
	for _, d := range strings.Split(args[1], ",") {
		layers = append(layers, d)
	}
	image["RootFS"].(map[string]any)["Layers"] = layers
	containers := map[string]map[string]any{}
	for _, id := range args[2:] {
		doc := load("inspect.json")
		doc["Id"], doc["Name"] = id, "/"+id
		if api != "1.52" {
			delete(doc, "Storage")
			doc["GraphDriver"] = map[string]any{"Name": "overlayfs", "Data": nil}
		}
		containers[id] = doc
	}
	imageRefs := map[string]bool{
		image["Id"].(string): true, "layer-tool-base": true, "layer-tool-base:latest": true,
	}

	// state sets doc's State from the task of container id.
	state := func(doc map[string]any, id string) error {
		out, err := runCtr(args[0], "moby", "tasks", "ls")
		if err != nil {
			return err
		}
		status := "exited"
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == id {
				status = map[string]string{"RUNNING": "running", "PAUSED": "paused", "PAUSING": "running"}[f[2]]
			}
		}
		if status == "" {
			status = "exited"
		}
		st := doc["State"].(map[string]any)
		st["Status"], st["Running"], st["Paused"] = status, status != "exited", status == "paused"
		return nil
	}
	action := regexp.MustCompile(`^/containers/([^/]+)/(pause|unpause)$`)

	route := regexp.MustCompile(`^(?:/v[0-9.]+)?(/.*)$`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", api)
		w.Header().Set("Ostype", "linux")
		path := route.FindStringSubmatch(r.URL.Path)[1]
		reply := func(doc any) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(doc)
		}
		notFound := func(what string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"message": what})
		}
		switch {
		case path == "/_ping":
			w.Write([]byte("OK"))
		case path == "/info" && r.Method == http.MethodGet:
			reply(info)
		case path == "/version" && r.Method == http.MethodGet:
			reply(version)
		case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/json") && r.Method == http.MethodGet:
			ref := strings.TrimSuffix(strings.TrimPrefix(path, "/containers/"), "/json")
			doc, ok := containers[ref]
			if !ok {
				notFound("No such container: " + ref)
				return
			}
			if err := state(doc, ref); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			reply(doc)
		case action.MatchString(path) && r.Method == http.MethodPost:
			m := action.FindStringSubmatch(path)
			if _, ok := containers[m[1]]; !ok {
				notFound("No such container: " + m[1])
				return
			}
			verb := map[string]string{"pause": "pause", "unpause": "resume"}[m[2]]
			if _, err := runCtr(args[0], "moby", "tasks", verb, m[1]); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json") && r.Method == http.MethodGet:
			ref := strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/json")
			if imageRefs[ref] {
				reply(image)
			} else {
				notFound("No such image: " + ref)
			}
		default:
			w.WriteHeader(http.StatusNotImplemented)
			fmt.Fprintf(w, `{"message":"fakedocker29: %s %s is not recorded"}`, r.Method, r.URL.Path)
		}
	})
	// A short dir of its own: $WORK can be too long for a socket's path.
	dir, err := os.MkdirTemp("", "fd29-")
	ts.Check(err)
	ts.Defer(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	ts.Check(err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv("FAKE29_HOST", "unix://"+sock)
}
