package overlay

// A Group replaces several directories in one transaction: a container's
// layer (the primary) and its volumes' directories, which live under
// different parents (overlay2/<id>/diff, volumes/<name>/_data). Each member
// is staged beside its own directory, on its own file system, and a reader
// after any kill must find every member old, or, once the next run has
// recovered, every member new; never a mix.
//
// The protocol of Group.Swap:
//
//  1. syncfs every staging dir, and note its inode and the inode of the
//     directory it replaces.
//  2. In the parent of every member that does not share the primary's
//     parent, write a link, <base>.layer-tool-group, naming the primary's
//     parent: a later run that opens that member alone must find the
//     journal before it takes the member's staging dir for abandoned.
//  3. Write the group journal, layer-tool.group.journal, in the primary's
//     parent (temporary file, fsync, rename, fsync of the dir). Its rename
//     is the commit point.
//  4. Exchange each member with its staging dir (renameat2
//     RENAME_EXCHANGE), then fsync every parent.
//  5. Finish each member: the old directory, now at the staging name, goes
//     to its backup name (one time stamp for the whole group) or is
//     removed.
//  6. Remove the journal, fsync, then remove the links.
//
// Recovery (every OpenGroup and OpenTarget) rolls forward: if the journal
// exists, every member whose directory still has the old inode is
// exchanged, every member is finished, and the journal goes. If it does
// not, nothing visible has changed and the staging dirs are removed.
//
// Why forward and not back: the journal is written only when every staging
// dir is complete and on disk, so from then on the new state can always be
// reached, from any mix of exchanged and not yet exchanged members, by
// steps that are each checked by inode and so safe to repeat. Going back
// is not always possible: with keep false, finishing deletes old
// directories, and the first deletion ends any way back. A transaction
// needs one point after which its outcome is fixed, before any step that
// cannot be undone; the journal's rename is that point, the only step that
// is atomic across directories on different file systems. (A single
// Target's swap, with its older journal, still rolls back a swap whose one
// exchange did not happen: there the exchange itself is the atomic step.)
//
// Step 2's links are what make "open the volume alone" safe: without them
// the volume's recovery would see a staging dir with no journal beside it
// and remove it, and the primary's later recovery could then no longer
// roll that member forward. A link whose journal is gone, or does not list
// the member, is stale (a run killed between steps 2 and 3, or between the
// journal's removal and the links') and is removed.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
	"golang.org/x/sys/unix"
)

const (
	groupJournalName    = "layer-tool.group.journal"
	groupLinkSuffix     = ".layer-tool-group"
	groupJournalVersion = 1
	// maxJournal bounds the read of a journal or link: a damaged or
	// planted file must not make recovery read without end.
	maxJournal = 1 << 20
)

// groupJournal records a group swap. Written only after every staging dir
// is on disk, it is the swap's commit record.
type groupJournal struct {
	Version int           `json:"version"`
	Stamp   string        `json:"stamp"` // the backups' time, in backupLayout
	Members []groupMember `json:"members"`
}

// groupMember is one directory of a group swap. Dir is the absolute parent
// directory; the names are in it.
type groupMember struct {
	Dir        string `json:"dir"`
	Base       string `json:"base"`
	Staging    string `json:"staging"`
	StagingIno uint64 `json:"stagingIno"`
	UpperIno   uint64 `json:"upperIno"`
	// Backup is the name the old directory gets; empty: delete it.
	Backup string `json:"backup"`
}

// groupLink, beside a member that is not in the primary's parent, names
// the parent holding the journal.
type groupLink struct {
	Primary string `json:"primary"`
}

// Group is several upper directories, each locked, replaced together: all
// old or all new, even across a kill.
type Group struct {
	// Targets are the group's directories, the primary first, in the
	// order given to OpenGroup. Stage, CopyRootAttrs and Discard work on
	// each; the Group closes them.
	Targets []*Target
	// Recovered says what a killed earlier run left and this one mended.
	Recovered []string
}

// OpenGroup locks the parent directory of primary and of every other
// directory (flock, in path order, failing at once with ErrBusy if one is
// held), then finishes or undoes whatever a killed earlier run left: an
// unfinished group swap is rolled forward, whether this group opened its
// primary, one of its other members or all of them; an older single-target
// journal is recovered as OpenTarget always did; abandoned staging dirs are
// removed.
func OpenGroup(primary string, others ...string) (*Group, error) {
	g := &Group{}
	seen := map[string]bool{}
	for _, p := range append([]string{primary}, others...) {
		upper := filepath.Clean(p)
		abs, err := filepath.Abs(upper)
		if err != nil {
			return nil, fmt.Errorf("open target %s: %w", p, err)
		}
		if seen[abs] {
			return nil, fmt.Errorf("open group: %s is named twice", abs)
		}
		seen[abs] = true
		if b := filepath.Base(abs); b == "/" || b == "." || b == ".." {
			return nil, fmt.Errorf("open target %s: not a directory beside others", p)
		}
		g.Targets = append(g.Targets, &Target{Upper: upper, dir: filepath.Dir(abs), base: filepath.Base(abs), dirFd: -1, grouped: true})
	}
	ls := &locks{}
	// Each Target keeps a duplicate of its parent's descriptor, which
	// shares the lock; closing the set's own descriptors then releases
	// only the parents that recovery alone needed.
	defer ls.release()
	for _, d := range g.dirs() {
		if _, err := ls.lock(d); err != nil {
			return nil, err
		}
	}
	for _, t := range g.Targets {
		fd, err := unix.FcntlInt(uintptr(ls.fd(t.dir)), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("lock %s: %w", t.dir, err)
		}
		t.dirFd = fd
	}
	if err := g.recover(ls); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// Close releases the locks.
func (g *Group) Close() error {
	var first error
	for _, t := range g.Targets {
		if t.dirFd < 0 {
			continue
		}
		if err := unix.Close(t.dirFd); err != nil && first == nil {
			first = err
		}
		t.dirFd = -1
	}
	return first
}

// dirs lists the members' parent directories, sorted, each once: the
// order locks are taken in.
func (g *Group) dirs() []string {
	var out []string
	for _, t := range g.Targets {
		out = append(out, t.dir)
	}
	sort.Strings(out)
	return compact(out)
}

func compact(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// locks holds the parent directories one OpenGroup has flock'ed. A
// directory is opened and locked once however it is named: two open file
// descriptions of one directory conflict under flock even in one process.
type locks struct {
	held []lockedDir
}

type lockedDir struct {
	path     string
	fd       int
	dev, ino uint64
}

// lock opens dir (not through a symlink: the engine and the journal name
// directories by path) and locks it, or returns the descriptor of the same
// directory locked already.
func (ls *locks) lock(dir string) (int, error) {
	if fd := ls.fd(dir); fd >= 0 {
		return fd, nil
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open layer dir %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("stat %s: %w", dir, err)
	}
	for _, h := range ls.held {
		if h.dev == st.Dev && h.ino == st.Ino {
			unix.Close(fd)
			ls.held = append(ls.held, lockedDir{path: dir, fd: h.fd, dev: h.dev, ino: h.ino})
			return h.fd, nil
		}
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return -1, fmt.Errorf("lock %s: %w", dir, ErrBusy)
		}
		return -1, fmt.Errorf("lock %s: %w", dir, err)
	}
	ls.held = append(ls.held, lockedDir{path: dir, fd: fd, dev: st.Dev, ino: st.Ino})
	return fd, nil
}

// fd returns the descriptor locked for dir, or -1.
func (ls *locks) fd(dir string) int {
	for _, h := range ls.held {
		if h.path == dir {
			return h.fd
		}
	}
	return -1
}

// release closes every descriptor the set opened.
func (ls *locks) release() {
	closed := map[int]bool{}
	for _, h := range ls.held {
		if !closed[h.fd] {
			unix.Close(h.fd)
			closed[h.fd] = true
		}
	}
	ls.held = nil
}

// recover mends, in this order, what killed runs left in the members'
// parents: group swaps that a member's link points to, group journals in
// the parents, older single-target journals, then temporary files and
// abandoned staging dirs. Every journal is dealt with before any staging
// dir is taken for abandoned.
func (g *Group) recover(ls *locks) error {
	for _, t := range g.Targets {
		if err := g.followLink(ls, t); err != nil {
			return err
		}
	}
	for _, d := range g.dirs() {
		if err := g.recoverGroupAt(ls, d); err != nil {
			return err
		}
	}
	byDir := map[string][]*Target{}
	for _, t := range g.Targets {
		byDir[t.dir] = append(byDir[t.dir], t)
	}
	for _, d := range g.dirs() {
		msg, err := recoverSingle(byDir[d])
		if err != nil {
			return err
		}
		g.Recovered = append(g.Recovered, msg...)
	}
	for _, d := range g.dirs() {
		// A run killed while writing a journal leaves its temporary file.
		fd := byDir[d][0].dirFd
		for _, tmp := range []string{journalName + ".tmp", groupJournalName + ".tmp"} {
			if err := unix.Unlinkat(fd, tmp, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove journal: %w", err)
			}
		}
	}
	for _, t := range g.Targets {
		if err := unix.Unlinkat(t.dirFd, t.base+groupLinkSuffix+".tmp", 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove group link: %w", err)
		}
		msg, err := t.removeAbandoned()
		if err != nil {
			return err
		}
		g.Recovered = append(g.Recovered, msg...)
	}
	return nil
}

// followLink recovers the group swap that t's link points to, if its
// journal still lists t, and removes the link.
func (g *Group) followLink(ls *locks, t *Target) error {
	name := t.base + groupLinkSuffix
	data, err := readAt(t.dirFd, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read group link %s: %w", filepath.Join(t.dir, name), err)
	}
	var l groupLink
	if err := json.Unmarshal(data, &l); err != nil || !filepath.IsAbs(l.Primary) || filepath.Clean(l.Primary) != l.Primary {
		return fmt.Errorf("group link %s is damaged; inspect %s by hand", filepath.Join(t.dir, name), t.dir)
	}
	if lists, err := journalLists(l.Primary, t); err != nil {
		return err
	} else if lists {
		if err := g.recoverGroupAt(ls, l.Primary); err != nil {
			return err
		}
	}
	// Recovery removed it if the journal listed t; else it is stale.
	if err := unix.Unlinkat(t.dirFd, name, 0); err == nil {
		g.Recovered = append(g.Recovered, "removed the stale group link "+filepath.Join(t.dir, name))
	} else if !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove group link: %w", err)
	}
	return nil
}

// journalLists tells whether a group journal in dir lists t. It reads
// without dir's lock: a journal that lists t is only written or removed by
// a run that holds t's parent's lock, which this run holds.
func journalLists(dir string, t *Target) (bool, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return false, nil // the primary is gone, and its journal with it
	}
	if err != nil {
		return false, fmt.Errorf("open layer dir %s: %w", dir, err)
	}
	defer unix.Close(fd)
	j, ok, err := readGroupJournal(fd, dir)
	if err != nil || !ok {
		return false, err
	}
	for _, m := range j.Members {
		if m.Base == t.base && sameDir(t.dirFd, m.Dir) {
			return true, nil
		}
	}
	return false, nil
}

// sameDir tells whether path names the directory open as fd.
func sameDir(fd int, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Lstat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// readGroupJournal reads and checks the group journal in dir (open as
// fd); ok is false if there is none.
func readGroupJournal(fd int, dir string) (j groupJournal, ok bool, err error) {
	data, err := readAt(fd, groupJournalName)
	if errors.Is(err, unix.ENOENT) {
		return j, false, nil
	}
	if err != nil {
		return j, false, fmt.Errorf("read journal %s: %w", filepath.Join(dir, groupJournalName), err)
	}
	if json.Unmarshal(data, &j) != nil || !j.valid() || !sameDir(fd, j.Members[0].Dir) {
		return j, false, fmt.Errorf("journal %s is damaged; inspect %s by hand", filepath.Join(dir, groupJournalName), dir)
	}
	return j, true, nil
}

// valid checks what recovery will act on: every directory absolute, every
// name a plain name in it, staging and backup names with their prefixes,
// so a damaged journal cannot make recovery rename or remove anything else.
func (j groupJournal) valid() bool {
	if j.Version != groupJournalVersion || len(j.Members) == 0 {
		return false
	}
	seen := map[string]bool{}
	for _, m := range j.Members {
		switch {
		case !filepath.IsAbs(m.Dir) || filepath.Clean(m.Dir) != m.Dir,
			m.Base == "" || m.Base == "." || m.Base == ".." || strings.Contains(m.Base, "/"),
			strings.Contains(m.Staging, "/") || strings.Contains(m.Backup, "/"),
			!strings.HasPrefix(m.Staging, m.Base+stagingInfix) && !strings.HasPrefix(m.Staging, m.Base+backupInfix),
			m.Backup != "" && !strings.HasPrefix(m.Backup, m.Base+backupInfix),
			seen[m.Dir+"/"+m.Base]:
			return false
		}
		seen[m.Dir+"/"+m.Base] = true
	}
	return true
}

// readAt reads the small file name in the directory open as fd, not
// through a symlink, and at most maxJournal bytes of it.
func readAt(fd int, name string) ([]byte, error) {
	f, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	file := os.NewFile(uintptr(f), name)
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxJournal+1))
	if err == nil && len(data) > maxJournal {
		err = errors.New("too large")
	}
	return data, err
}

// writeAt writes name in the directory open as fd so that it is whole or
// absent after a crash: a temporary file, fsync, rename, fsync of the dir.
func writeAt(fd int, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := unix.Openat(fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	file := os.NewFile(uintptr(f), tmp)
	_, err = file.Write(data)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(fd, tmp, fd, name)
	}
	if err == nil {
		err = unix.Fsync(fd)
	}
	return err
}

// recoverGroupAt rolls forward the group swap whose journal is in dir, if
// there is one, locking the other members' parents as it goes.
func (g *Group) recoverGroupAt(ls *locks, dir string) error {
	fd, err := ls.lock(dir)
	if err != nil {
		return err
	}
	j, ok, err := readGroupJournal(fd, dir)
	if err != nil || !ok {
		return err
	}
	ms := make([]*Target, len(j.Members))
	for i, m := range j.Members {
		mfd, err := ls.lock(m.Dir)
		if err != nil {
			return fmt.Errorf("recover the group swap in %s: %w", dir, err)
		}
		ms[i] = &Target{dir: m.Dir, base: m.Base, dirFd: mfd}
	}
	for i, m := range j.Members {
		if err := ms[i].rollForward(m); err != nil {
			return fmt.Errorf("recover the group swap in %s: %w", dir, err)
		}
	}
	if err := syncDirs(ms); err != nil {
		return err
	}
	for i, m := range j.Members {
		if err := ms[i].finishMember(m); err != nil {
			return fmt.Errorf("recover the group swap in %s: %w", dir, err)
		}
	}
	if err := endGroup(ms); err != nil {
		return err
	}
	g.Recovered = append(g.Recovered, fmt.Sprintf("finished the swap of %d directories that a killed run had begun", len(ms)))
	return nil
}

// rollForward exchanges the member's directory with its staging dir
// unless that happened already. The inodes tell which: the journal was
// written before any exchange.
func (t *Target) rollForward(m groupMember) error {
	ino, err := t.ino(m.Base)
	if err != nil {
		return err
	}
	if ino == m.StagingIno {
		return nil // exchanged
	}
	sino, err := t.ino(m.Staging)
	if ino != m.UpperIno || err != nil || sino != m.StagingIno {
		return fmt.Errorf("%s holds neither the old nor the new directory the journal names; inspect %s by hand", filepath.Join(t.dir, m.Base), t.dir)
	}
	return t.exchange(m.Staging)
}

// exchange swaps the names staging and t.base in one step.
func (t *Target) exchange(staging string) error {
	if err := unix.Renameat2(t.dirFd, staging, t.dirFd, t.base, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("exchange %s with %s: %w", staging, t.base, err)
	}
	return nil
}

// finishMember moves the old directory, at the staging name since the
// exchange, to its backup name, or removes it. Either is done at most
// once: a run killed after it finds the staging name gone.
func (t *Target) finishMember(m groupMember) error {
	if m.Backup != "" {
		// NOREPLACE: a rename onto an existing empty directory would
		// replace it silently.
		err := unix.Renameat2(t.dirFd, m.Staging, t.dirFd, m.Backup, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.ENOENT) {
			if ino, ierr := t.ino(m.Backup); ierr == nil && ino == m.UpperIno {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("keep backup %s: %w", filepath.Join(t.dir, m.Backup), err)
		}
		return nil
	}
	ino, err := t.ino(m.Staging)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if ino != m.UpperIno {
		return fmt.Errorf("%s is not the old directory the journal names; inspect %s by hand", filepath.Join(t.dir, m.Staging), t.dir)
	}
	if err := os.RemoveAll(filepath.Join(t.dir, m.Staging)); err != nil {
		return fmt.Errorf("remove old dir: %w", err)
	}
	return nil
}

// syncDirs fsyncs each member's parent, so that exchanges and renames are
// on disk.
func syncDirs(ms []*Target) error {
	for _, t := range ms {
		if err := unix.Fsync(t.dirFd); err != nil {
			return fmt.Errorf("sync %s: %w", t.dir, err)
		}
	}
	return nil
}

// endGroup removes the journal of a finished swap, then the members'
// links: in this order, so that no link is missing while the journal
// still needs it.
func endGroup(ms []*Target) error {
	p := ms[0]
	if err := unix.Unlinkat(p.dirFd, groupJournalName, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove journal: %w", err)
	}
	if err := unix.Fsync(p.dirFd); err != nil {
		return fmt.Errorf("sync %s: %w", p.dir, err)
	}
	return removeLinks(ms)
}

// removeLinks removes the links beside the members that have one.
func removeLinks(ms []*Target) error {
	for _, t := range ms[1:] {
		if t.dir == ms[0].dir {
			continue
		}
		if err := unix.Unlinkat(t.dirFd, t.base+groupLinkSuffix, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove group link: %w", err)
		}
	}
	return nil
}

// Swap makes stagings[i] (a staging dir, or a backup, beside Targets[i])
// the i-th member's directory, for every member at once as far as any run
// after a kill can tell. The old directories are kept as backups named with
// one shared time, whose paths are returned in member order, or deleted
// when keep is false.
//
// Swap owns the staging dirs from the call on. If it fails before the
// journal is written, every directory is untouched and the staging dirs are
// removed. If it fails after, the new directories are in place, or will be
// after the next OpenGroup or OpenTarget of any member.
//
// Failpoints, for the tests' kills: "journal" (stagings synced, links
// written, no journal), "exchange" (journal written), "exchanged-N" (the
// first N members exchanged, of more than N), "exchanged" (all exchanged
// and synced), "finished-N" (the first N members finished, of more).
func (g *Group) Swap(stagings []string, keep bool) (backups []string, err error) {
	if len(stagings) != len(g.Targets) {
		return nil, fmt.Errorf("swap: %d staging dirs for %d directories", len(stagings), len(g.Targets))
	}
	j := groupJournal{Version: groupJournalVersion, Stamp: time.Now().UTC().Format(backupLayout)}
	for i, t := range g.Targets {
		abs, err := filepath.Abs(stagings[i])
		if err != nil {
			return nil, fmt.Errorf("swap in %s: %w", stagings[i], err)
		}
		m := groupMember{Dir: t.dir, Base: t.base, Staging: filepath.Base(abs)}
		if filepath.Dir(abs) != t.dir || !strings.HasPrefix(m.Staging, t.base+stagingInfix) && !strings.HasPrefix(m.Staging, t.base+backupInfix) {
			return nil, fmt.Errorf("swap in %s: not a staging dir or backup beside %s", stagings[i], t.Upper)
		}
		if keep {
			m.Backup = t.base + backupInfix + j.Stamp
		}
		j.Members = append(j.Members, m)
	}
	committed := false
	defer func() {
		if err != nil && !committed {
			g.abandon(j)
		}
	}()
	if err := g.prepare(&j); err != nil {
		return nil, err
	}
	// Tests kill the run here: everything staged, nothing committed.
	failpoint.Hit("journal")
	data, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	if err := writeAt(g.Targets[0].dirFd, groupJournalName, data); err != nil {
		return nil, fmt.Errorf("write journal: %w", err)
	}
	committed = true
	failpoint.Hit("exchange")
	if err := g.exchangeAll(j); err != nil {
		return nil, err
	}
	if err := syncDirs(g.Targets); err != nil {
		return nil, fmt.Errorf("%w, but %w (the next run finishes)", ErrSwapped, err)
	}
	failpoint.Hit("exchanged")
	for i, m := range j.Members {
		if err := g.Targets[i].finishMember(m); err != nil {
			return nil, fmt.Errorf("%w, but %w (the next run finishes)", ErrSwapped, err)
		}
		if i < len(j.Members)-1 {
			failpoint.Hit(fmt.Sprintf("finished-%d", i+1))
		}
	}
	if err := endGroup(g.Targets); err != nil {
		return nil, fmt.Errorf("%w, but %w (the next run finishes)", ErrSwapped, err)
	}
	if !keep {
		return nil, nil
	}
	for _, m := range j.Members {
		backups = append(backups, filepath.Join(m.Dir, m.Backup))
	}
	return backups, nil
}

// prepare syncs every staging dir, notes the inodes, and writes the links:
// everything before the commit.
func (g *Group) prepare(j *groupJournal) error {
	for i, t := range g.Targets {
		m := &j.Members[i]
		if err := syncDir(filepath.Join(t.dir, m.Staging)); err != nil {
			return err
		}
		var err error
		if m.StagingIno, err = t.ino(m.Staging); err != nil {
			return err
		}
		if m.UpperIno, err = t.ino(t.base); err != nil {
			return err
		}
	}
	p := g.Targets[0]
	link, err := json.Marshal(groupLink{Primary: p.dir})
	if err != nil {
		return err
	}
	for _, t := range g.Targets[1:] {
		if t.dir == p.dir {
			continue // its recovery finds the journal beside it
		}
		if err := writeAt(t.dirFd, t.base+groupLinkSuffix, link); err != nil {
			return fmt.Errorf("write group link beside %s: %w", t.Upper, err)
		}
	}
	return nil
}

// exchangeAll exchanges every member. If one exchange fails, as on a file
// system without RENAME_EXCHANGE, rolling forward would fail the same way
// on every later run: this run, which holds the locks, exchanges back the
// members it did, removes the journal and gives up, all old. A kill while
// it does so leaves the journal, and the next run rolls forward instead:
// all new, as the journal says.
func (g *Group) exchangeAll(j groupJournal) error {
	for i, m := range j.Members {
		if err := g.Targets[i].exchange(m.Staging); err != nil {
			if uerr := g.undo(j, i); uerr != nil {
				return fmt.Errorf("%w; undo: %v (the next run finishes the swap)", err, uerr)
			}
			return err
		}
		if i < len(j.Members)-1 {
			failpoint.Hit(fmt.Sprintf("exchanged-%d", i+1))
		}
	}
	return nil
}

// undo exchanges back the first n members, drops the journal and the
// staging dirs.
func (g *Group) undo(j groupJournal, n int) error {
	for i := n - 1; i >= 0; i-- {
		if err := g.Targets[i].exchange(j.Members[i].Staging); err != nil {
			return err
		}
	}
	if err := syncDirs(g.Targets[:n]); err != nil {
		return err
	}
	p := g.Targets[0]
	if err := unix.Unlinkat(p.dirFd, groupJournalName, 0); err != nil {
		return fmt.Errorf("remove journal: %w", err)
	}
	if err := unix.Fsync(p.dirFd); err != nil {
		return fmt.Errorf("sync %s: %w", p.dir, err)
	}
	g.abandon(j)
	return nil
}

// abandon removes what a swap that did not commit made: links, temporary
// files, and staging dirs (never a backup that a rollback meant to
// restore).
func (g *Group) abandon(j groupJournal) {
	unix.Unlinkat(g.Targets[0].dirFd, groupJournalName+".tmp", 0)
	removeLinks(g.Targets)
	for i, t := range g.Targets {
		unix.Unlinkat(t.dirFd, t.base+groupLinkSuffix+".tmp", 0)
		if s := j.Members[i].Staging; strings.HasPrefix(s, t.base+stagingInfix) {
			os.RemoveAll(filepath.Join(t.dir, s))
		}
	}
}

// Backups lists the group's backups by time, oldest first: each set holds
// the backup of every member with that time in its name.
func (g *Group) Backups() ([]BackupSet, error) {
	byTime := map[int64]*BackupSet{}
	var out []*BackupSet
	for i, t := range g.Targets {
		bs, err := t.Backups()
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			s := byTime[b.Time.UnixNano()]
			if s == nil {
				s = &BackupSet{Time: b.Time, Paths: make([]string, len(g.Targets))}
				byTime[b.Time.UnixNano()] = s
				out = append(out, s)
			}
			s.Paths[i] = b.Path
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	sets := make([]BackupSet, len(out))
	for i, s := range out {
		sets[i] = *s
	}
	return sets, nil
}

// Rollback swaps the newest complete backup set back in, every member
// together, through the same journal as Swap. The directories it displaces
// become a backup set in turn, so a rollback can itself be undone.
func (g *Group) Rollback() (restored, displaced []string, err error) {
	sets, err := g.Backups()
	if err != nil {
		return nil, nil, err
	}
	for i := len(sets) - 1; i >= 0; i-- {
		if !sets[i].Complete() {
			continue
		}
		// After the exchanges the backups' names hold the displaced
		// directories, which Swap then renames to new backup names.
		displaced, err = g.Swap(sets[i].Paths, true)
		if err != nil {
			return nil, nil, err
		}
		return sets[i].Paths, displaced, nil
	}
	return nil, nil, fmt.Errorf("%s: %w", g.Targets[0].dir, ErrNoBackup)
}
