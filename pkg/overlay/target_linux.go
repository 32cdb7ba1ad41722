package overlay

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
	"golang.org/x/sys/unix"
)

// Names beside the upper directory. Docker keeps an upper dir as
// overlay2/<id>/diff; staging dirs, backups and the journal go in
// overlay2/<id>/, on the same file system, so renames are atomic, and
// `docker rm` removes them with the container.
const (
	stagingInfix = ".layer-tool-staging."
	backupInfix  = ".layer-tool-backup."
	journalName  = "layer-tool.journal"
	backupLayout = "20060102T150405.000000000Z"
)

// Target is a locked upper directory about to be replaced.
type Target struct {
	Upper   string
	dir     string // the directory holding Upper
	base    string // Upper's name in dir
	dirFd   int    // dir, open and flock'ed
	grouped bool   // opened by OpenGroup, which closes it
	// Recovered says what a killed earlier run left and this one mended.
	Recovered []string
}

// OpenTarget locks the directory holding upper against a concurrent
// import (flock, released when the process dies) and finishes or undoes
// whatever a killed earlier run left behind, including a group swap (see
// OpenGroup) that upper took part in.
func OpenTarget(upper string) (*Target, error) {
	g, err := OpenGroup(upper)
	if err != nil {
		return nil, err
	}
	t := g.Targets[0]
	t.grouped = false
	t.Recovered = g.Recovered
	return t, nil
}

// Close releases the lock. A Target of a Group is closed with its Group.
func (t *Target) Close() error {
	if t.grouped {
		return nil
	}
	return unix.Close(t.dirFd)
}

// Stage makes a new empty staging directory (mode 0700) beside the upper
// directory.
func (t *Target) Stage() (string, error) {
	name := t.base + stagingInfix + fmt.Sprint(time.Now().UnixNano())
	if err := unix.Mkdirat(t.dirFd, name, 0o700); err != nil {
		return "", fmt.Errorf("make staging dir: %w", err)
	}
	return filepath.Join(t.dir, name), nil
}

// Discard removes a staging directory after a failure.
func (t *Target) Discard(staging string) error {
	if !strings.HasPrefix(filepath.Base(staging), t.base+stagingInfix) {
		return fmt.Errorf("discard %s: not a staging dir", staging)
	}
	return os.RemoveAll(staging)
}

// CopyRootAttrs gives the staging directory the owner, mode and mtime of
// the upper directory: the layer has no root entry.
func (t *Target) CopyRootAttrs(staging string) error {
	var st unix.Stat_t
	if err := unix.Lstat(t.Upper, &st); err != nil {
		return fmt.Errorf("stat %s: %w", t.Upper, err)
	}
	if err := os.Lchown(staging, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := os.Chmod(staging, os.FileMode(st.Mode&0o777)|unixModeBits(st.Mode)); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Mtim, st.Mtim}
	return unix.UtimesNanoAt(unix.AT_FDCWD, staging, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func unixModeBits(m uint32) os.FileMode {
	var fm os.FileMode
	if m&unix.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// journal records a swap in progress, so that a run killed in the middle
// can tell, by inode numbers, whether the exchange happened.
type journal struct {
	Staging    string `json:"staging"`
	StagingIno uint64 `json:"stagingIno"`
	UpperIno   uint64 `json:"upperIno"`
	// Backup is the name the old upper dir gets; empty: delete it.
	Backup string `json:"backup"`
}

// Swap makes staging (a staging dir or a backup beside the upper
// directory) the upper directory in one atomic step (renameat2
// RENAME_EXCHANGE), after syncing it to disk. The old upper directory is
// kept as a timestamped backup beside it, whose path is returned, or
// deleted when keep is false.
//
// Swap owns staging from the call on. If it fails before the exchange, the
// upper directory is untouched and a staging dir is removed. If it fails
// after, the new layer is in place and the next OpenTarget finishes the
// rest from the journal.
func (t *Target) Swap(staging string, keep bool) (backup string, err error) {
	j := journal{Staging: filepath.Base(staging)}
	if keep {
		j.Backup = t.base + backupInfix + time.Now().UTC().Format(backupLayout)
	}
	exchanged := false
	defer func() {
		if err == nil || exchanged {
			return
		}
		unix.Unlinkat(t.dirFd, journalName, 0)
		if strings.HasPrefix(j.Staging, t.base+stagingInfix) {
			os.RemoveAll(staging)
		}
	}()
	if err := syncDir(staging); err != nil {
		return "", err
	}
	if j.StagingIno, err = t.ino(j.Staging); err != nil {
		return "", err
	}
	if j.UpperIno, err = t.ino(t.base); err != nil {
		return "", err
	}
	if err := t.writeJournal(j); err != nil {
		return "", err
	}
	// Tests kill the run here: journal written, nothing exchanged yet.
	failpoint.Hit("exchange")
	if err := unix.Renameat2(t.dirFd, j.Staging, t.dirFd, t.base, unix.RENAME_EXCHANGE); err != nil {
		return "", fmt.Errorf("exchange %s with %s: %w", j.Staging, t.base, err)
	}
	exchanged = true
	if err := unix.Fsync(t.dirFd); err != nil {
		return "", fmt.Errorf("%w, but sync %s: %w (the next run finishes)", ErrSwapped, t.dir, err)
	}
	// And here: exchanged, the old dir not yet at its backup name.
	failpoint.Hit("exchanged")
	if err := t.finish(j); err != nil {
		return "", fmt.Errorf("%w, but %w (the next run finishes)", ErrSwapped, err)
	}
	if keep {
		return filepath.Join(t.dir, j.Backup), nil
	}
	return "", nil
}

// Sync flushes the file system holding dir (syncfs), as Swap does before
// it exchanges: a caller that shows progress calls it first, so that the
// long part of a swap can be told apart from the exchange.
func Sync(dir string) error { return syncDir(dir) }

// syncDir flushes the file system holding dir (syncfs), so that a staged
// layer is on disk before it is swapped in.
func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// finish moves the old upper dir, now at the staging name, to its backup
// name or removes it, then drops the journal.
func (t *Target) finish(j journal) error {
	if j.Backup != "" {
		err := unix.Renameat(t.dirFd, j.Staging, t.dirFd, j.Backup)
		if errors.Is(err, unix.ENOENT) {
			// A run killed between this rename and the journal's removal:
			// done already if the backup name holds the old upper dir.
			if ino, ierr := t.ino(j.Backup); ierr == nil && ino == j.UpperIno {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("keep backup %s: %w", j.Backup, err)
		}
	} else if err := os.RemoveAll(filepath.Join(t.dir, j.Staging)); err != nil {
		return fmt.Errorf("remove old upper dir: %w", err)
	}
	if err := unix.Unlinkat(t.dirFd, journalName, 0); err != nil {
		return fmt.Errorf("remove journal: %w", err)
	}
	return unix.Fsync(t.dirFd)
}

func (t *Target) ino(name string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(t.dirFd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, fmt.Errorf("stat %s: %w", filepath.Join(t.dir, name), err)
	}
	return st.Ino, nil
}

func (t *Target) writeJournal(j journal) error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := writeAt(t.dirFd, journalName, data); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// recoverSingle finishes a single-target swap (Target.Swap, and every
// swap before groups) whose exchange happened before the run died, or
// undoes one whose exchange did not. ts share one parent directory; the
// journal there belongs to the one whose name its staging dir starts with.
func recoverSingle(ts []*Target) (recovered []string, err error) {
	dir := ts[0].dir
	data, err := os.ReadFile(filepath.Join(dir, journalName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var j journal
	var t *Target
	if err := json.Unmarshal(data, &j); err == nil {
		for _, c := range ts {
			if strings.HasPrefix(j.Staging, c.base+stagingInfix) || strings.HasPrefix(j.Staging, c.base+backupInfix) {
				t = c
			}
		}
	}
	if t == nil {
		return nil, fmt.Errorf("journal %s is damaged; inspect %s by hand", filepath.Join(dir, journalName), dir)
	}
	upperIno, err := t.ino(t.base)
	if err != nil {
		return nil, err
	}
	if upperIno == j.StagingIno {
		if err := t.finish(j); err != nil {
			return nil, err
		}
		return []string{"finished the swap of a killed run"}, nil
	}
	if err := unix.Unlinkat(t.dirFd, journalName, 0); err != nil {
		return nil, fmt.Errorf("remove journal: %w", err)
	}
	return []string{"undid the swap a killed run had not made"}, nil
}

// removeAbandoned removes staging dirs of t that a killed run left. Only
// call it once every journal that could name one is recovered.
func (t *Target) removeAbandoned() (recovered []string, err error) {
	names, err := readNames(t.dir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if strings.HasPrefix(n, t.base+stagingInfix) {
			if err := os.RemoveAll(filepath.Join(t.dir, n)); err != nil {
				return nil, fmt.Errorf("remove abandoned staging dir: %w", err)
			}
			recovered = append(recovered, "removed abandoned staging dir "+n)
		}
	}
	return recovered, nil
}

// Backups lists the kept upper directories, oldest first.
func (t *Target) Backups() ([]Backup, error) {
	names, err := readNames(t.dir)
	if err != nil {
		return nil, err
	}
	var out []Backup
	for _, n := range names {
		stamp, ok := strings.CutPrefix(n, t.base+backupInfix)
		if !ok {
			continue
		}
		ts, err := time.Parse(backupLayout, stamp)
		if err != nil {
			continue
		}
		out = append(out, Backup{Path: filepath.Join(t.dir, n), Time: ts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Rollback swaps the newest backup back in. The upper directory it
// displaces becomes a backup in turn, so a rollback can itself be undone.
func (t *Target) Rollback() (restored, displaced string, err error) {
	backups, err := t.Backups()
	if err != nil {
		return "", "", err
	}
	if len(backups) == 0 {
		return "", "", fmt.Errorf("%s: %w", t.dir, ErrNoBackup)
	}
	newest := backups[len(backups)-1].Path
	// After the exchange the backup's name holds the displaced upper dir,
	// which Swap then renames to a new backup name.
	displaced, err = t.Swap(newest, true)
	if err != nil {
		return "", "", err
	}
	return newest, displaced, nil
}

// Mounted tells whether an overlay with upper as its upperdir is mounted in
// this mount namespace.
func Mounted(upper string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	needle := "upperdir=" + upper
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, " - overlay ") {
			continue
		}
		for _, opt := range strings.Split(line[strings.LastIndex(line, " ")+1:], ",") {
			if opt == needle {
				return true, nil
			}
		}
	}
	return false, sc.Err()
}
