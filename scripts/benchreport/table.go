package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// rowSpec says how a row of bench.sh's tables is shown.
type rowSpec struct {
	label string   // the command, as markdown
	peers []string // rows whose median wall time this row's is divided by
	// sizePeers are rows whose median output size this row's is divided
	// by (a compressor's output against the peer's).
	sizePeers []string
}

// rowSpecs are bench.sh's rows by key: a row's samples are in FIXTURE.KEY.
var rowSpecs = map[string]rowSpec{
	"exp":           {label: "`layer-export C`", peers: []string{"tar", "commit_save"}},
	"exp_vols":      {label: "`layer-export V` (this layer split in three: layer + 2 volumes)", peers: []string{"exp", "tar"}},
	"exp_zstd":      {label: "`layer-export --compress zstd C`", peers: []string{"tar_zstd"}, sizePeers: []string{"tar_zstd"}},
	"exp_gzip":      {label: "`layer-export --compress gzip C`", peers: []string{"tar_pigz", "tar_gzip1"}},
	"tar":           {label: "`tar --xattrs --numeric-owner -c`"},
	"tar_gzip1":     {label: "`tar -c \\| gzip -1`"},
	"tar_pigz":      {label: "`tar -c \\| pigz`"},
	"tar_zstd":      {label: "`tar -c \\| zstd -T0 -3`"},
	"commit_save":   {label: "`docker commit` + `docker save`"},
	"docker_export": {label: "`docker export`"},
	"imp":           {label: "`layer-import --no-backup -q T < env`", peers: []string{"tarx_sync", "tarx"}},
	"tarx":          {label: "`tar -xf layer.tar`"},
	"tarx_sync":     {label: "`tar -xf layer.tar` + `sync`"},
	"check":         {label: "`layer-check --offline < env`", peers: []string{"sha256sum"}},
	"sha256sum":     {label: "`sha256sum < env`"},
	"m_exp":         {label: "`layer-export C \\| cat > env`"},
	"m_check":       {label: "`layer-check --offline < env`"},
	"m_imp":         {label: "`layer-import --no-backup -q T < env`"},
}

// peerNames are the peers' short names in the ratio column.
var peerNames = map[string]string{
	"tar":         "tar",
	"commit_save": "commit+save",
	"tar_zstd":    "tar\\|zstd",
	"tar_pigz":    "tar\\|pigz",
	"tar_gzip1":   "tar\\|gzip -1",
	"tarx_sync":   "tar -x+sync",
	"tarx":        "tar -x",
	"exp":         "one layer",
	"sha256sum":   "sha256sum",
}

// Columns of a sample line.
const (
	colWall = iota // wall time, s
	colCPU         // user + system time of the whole pipeline, s
	colRSS         // peak RSS of the largest process, KiB
	colSize        // bytes written, or "-"
	nCols
)

// row holds the samples of one row.
type row struct {
	cols  [nCols][]float64 // each column's values over the successful runs, "-" left out
	runs  int              // runs, failed ones included
	fails int              // runs that failed
}

// parseRow reads a sample file: one run a line, "wall cpu rss_kib bytes" or
// a line that starts with FAIL.
func parseRow(r io.Reader) (row, error) {
	var rw row
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		rw.runs++
		if strings.HasPrefix(line, "FAIL") {
			rw.fails++
			continue
		}
		f := strings.Fields(line)
		if len(f) != nCols {
			return row{}, fmt.Errorf("line %d: %q is not %d values or FAIL", rw.runs, line, nCols)
		}
		for c, v := range f {
			if v == "-" {
				continue
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return row{}, fmt.Errorf("line %d: %w", rw.runs, err)
			}
			rw.cols[c] = append(rw.cols[c], x)
		}
	}
	return rw, sc.Err()
}

// readRow reads the sample file at path.
func readRow(path string) (row, error) {
	f, err := os.Open(path)
	if err != nil {
		return row{}, err // already names the path; callers test for fs.ErrNotExist
	}
	defer f.Close()
	rw, err := parseRow(f)
	if err != nil {
		return row{}, fmt.Errorf("read samples %s: %w", path, err)
	}
	return rw, nil
}

// tableHeader is the head of every table, its column names and alignment.
const tableHeader = "| command | median wall s | wall min–max s | CPU s | peak RSS MiB | output MiB | ratio to peer (wall) |\n" +
	"| --- | ---: | ---: | ---: | ---: | ---: | --- |\n"

// peerWall is a peer's name and its median wall time (or, for a size
// peer, output size) as printed ("-" for none).
type peerWall struct {
	name, wall string
	size       bool // wall is an output size in MiB
}

// rowLine is one line of a table. The ratios are of the medians as printed
// (two decimals), so a reader can check them against the table.
func rowLine(label string, rw row, peers []peerWall) string {
	wall := medianText(rw.cols[colWall])
	size := mib(medianText(rw.cols[colSize]))
	var notes []string
	for _, p := range peers {
		mine, prefix := wall, ""
		if p.size {
			mine, prefix = size, "output "
		}
		if mine == "-" || p.wall == "-" {
			continue
		}
		a, _ := strconv.ParseFloat(mine, 64)
		b, _ := strconv.ParseFloat(p.wall, 64)
		notes = append(notes, prefix+ratio(a, b)+" "+p.name)
	}
	if rw.fails > 0 {
		notes = append(notes, fmt.Sprintf("**%d of %d runs FAILED**", rw.fails, rw.runs))
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |\n", label, wall, spread(rw.cols[colWall]),
		medianText(rw.cols[colCPU]), kibToMiB(medianText(rw.cols[colRSS])),
		size, strings.Join(notes, "; "))
}

// writeTable writes the markdown table of the rows keys of fixture, from
// the sample files in dir. A row without a sample file is left out, and so
// is the ratio to a peer without one.
func writeTable(w io.Writer, dir, fixture string, keys []string) error {
	var b strings.Builder
	b.WriteString(tableHeader)
	for _, key := range keys {
		spec, ok := rowSpecs[key]
		if !ok {
			return usagef("unknown row %q", key)
		}
		rw, err := readRow(filepath.Join(dir, fixture+"."+key))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		var peers []peerWall
		for _, p := range spec.peers {
			pr, err := readRow(filepath.Join(dir, fixture+"."+p))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			peers = append(peers, peerWall{name: peerNames[p], wall: medianText(pr.cols[colWall])})
		}
		for _, p := range spec.sizePeers {
			pr, err := readRow(filepath.Join(dir, fixture+"."+p))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			peers = append(peers, peerWall{name: peerNames[p], wall: mib(medianText(pr.cols[colSize])), size: true})
		}
		b.WriteString(rowLine(spec.label, rw, peers))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
