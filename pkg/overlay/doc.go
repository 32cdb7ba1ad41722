// Package overlay converts an overlay2 upper directory into a canonical OCI
// image layer tar, and classifies the entries of such a tar; it does the
// same, without the overlay's conversions, for a plain directory such as
// a volume.
//
// # The canonical layer tar
//
// The tar that [Write] produces is a plain OCI image layer, and the same tree
// always gives the same bytes:
//
//   - Entries come depth first; the entries of each directory are sorted
//     bytewise by their name on disk (the order filepath.WalkDir gives), so a
//     whiteout ".wh.NAME" stands where NAME sorts. The root of the upper
//     directory itself is not an entry, as in the layers Docker writes.
//   - Names are relative ("etc/passwd"); directories end in "/".
//   - Headers are PAX. Owners are numeric, uname and gname empty; the mtime
//     keeps its nanoseconds; atime and ctime are not recorded. PAX records are
//     sorted by key (archive/tar does this), and the PAX header of an entry is
//     named "PaxHeaders.0/NAME", never after a process id.
//   - Modes keep setuid, setgid and sticky. Extended attributes are
//     "SCHILY.xattr.NAME" records, except the overlay's own (trusted.overlay.*,
//     or user.overlay.* where the daemon mounts with userxattr).
//   - An overlay whiteout (a character device 0:0) becomes an empty regular
//     file ".wh.NAME" that keeps the device's owner, permission bits and
//     mtime. The kernel may give every whiteout of a layer one shared inode;
//     whiteouts are never written as hard links.
//   - An opaque directory (trusted.overlay.opaque=y) is followed at once by
//     an empty regular file "DIR/.wh..wh..opq" with the directory's owner,
//     permission bits and mtime.
//   - A file, symlink, fifo or device with more than one link is written in
//     full at its first name; its later names are hard links to that name.
//   - Sockets cannot be carried in a tar: they are skipped with a warning.
//
// A layer that uses overlay features a plain layer cannot express is refused:
// redirect_dir (trusted.overlay.redirect), metacopy (trusted.overlay.metacopy),
// and a file on disk whose own name begins with ".wh.", which any reader of the
// layer would take for a whiteout.
//
// # Reading layers
//
// The canonical tar is what [Write] produces; what [Apply] and [Validator]
// read is any valid OCI layer: other header formats, any order, implied
// parents, repeated paths, whiteouts beside entries of the same name (see
// [Validator] for the rules, and what is refused). Apply proves each entry
// as it lands (see [Apply]): what it restores is exactly what the tar says,
// and writing the tree again gives the canonical tar of it, whose digest
// differs from a non-canonical input's.
//
// # Plain trees (volumes)
//
// A container's volumes are plain directories, not overlay upper
// directories. With [Options] Plain, [Write] and [Measure] produce the
// canonical tar of such a tree, and [Apply] and a [Validator] with Plain
// set read it: the same order, PAX headers, numeric owners, modes,
// nanosecond mtimes, xattrs, hard links and sparse handling as a layer,
// but no overlay conversion in either direction:
//
//   - The first entry is "./", a directory entry for the root itself with
//     its owner, mode (setgid and sticky too), xattrs and mtime: a volume's
//     root belongs to its data (postgres wants its data directory 0700 and
//     owned by its own user). Apply gives them to the staging directory,
//     the mode and mtime after every other entry. "./" may come only
//     first, and only as a directory.
//   - A character device 0:0 is a device entry, and Apply makes a device.
//   - A name beginning ".wh." is a name like any other: it sorts as itself,
//     may be any kind of entry, and counts whole against NAME_MAX. There
//     are no whiteouts and no opaque markers; [ClassifyPlain] and
//     [Stats.AddPlain] count none.
//   - Every extended attribute is a "SCHILY.xattr.NAME" record,
//     trusted.overlay.* and user.overlay.* included: the tree is no overlay
//     and its attributes are data. UserXattr does not apply.
//
// A plain tree's tar is not a layer: the layer [Validator] refuses its "./"
// entry, so the one is not applied as the other by mistake. Everything
// Apply promises about hostile input holds in both modes.
//
// # Platforms
//
// Reading and writing upper directories needs Linux: overlay2, whiteout
// devices, openat2 and renameat2 are Linux's. On other systems [Write],
// [Measure], [Apply], [OpenRoot], [OpenTarget], [Mounted] and the methods
// of [Target] exist, so that their callers build, but fail with an error
// that wraps [errors.ErrUnsupported]. [Classify], [ClassifyPlain] and
// [Validator] work everywhere.
package overlay
