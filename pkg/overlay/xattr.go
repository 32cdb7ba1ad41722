package overlay

import (
	"archive/tar"
	"encoding/binary"
	"fmt"
	"strings"
)

// ACL xattrs (include/uapi/linux/posix_acl_xattr.h).
const (
	aclAccess  = "system.posix_acl_access"
	aclDefault = "system.posix_acl_default"
	capability = "security.capability"
)

// checkXattrs checks the extended attributes of a normalized header as
// Linux (v6.x) would take them, so that what check calls valid, import can
// set and read back unchanged:
//
//   - the four namespaces only: user, trusted, security, system;
//   - user.* on regular files and directories only (xattr(7): the kernel
//     refuses them on symlinks and special files, EPERM);
//   - of system.*, only POSIX ACLs, which the kernel parses: a well-formed
//     ACL (posix_acl_valid), a default ACL on directories only, an access
//     ACL on no symlink, and not one of the three base entries alone,
//     which Linux keeps as mode bits and never as an attribute; the mode
//     must be what the access ACL sets it to (posix_acl_update_mode);
//   - security.capability on regular files only, as a version 2 value:
//     the kernel refuses other sizes and rewrites version 3 values;
//   - in a layer, none of the overlay's own.
//
// ACL entries that have no id (the owner, group, mask, other) are read
// back with id -1, whatever the tar has: hdr is changed to say so.
func checkXattrs(hdr *tar.Header, kind Kind, plain bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%q: %s: %w", hdr.Name, fmt.Sprintf(format, args...), ErrBadEntry)
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, xattrRecord)
		if !ok {
			continue
		}
		if len(name) > maxXattrName || len(v) > maxXattrValue {
			return bad("xattr %.40q longer than Linux allows", name)
		}
		if !plain && (strings.HasPrefix(name, trustedOverlayPrefix) || strings.HasPrefix(name, userOverlayPrefix)) {
			return bad("carries the overlay's own attribute %s", name)
		}
		ns, rest, _ := strings.Cut(name, ".")
		if rest == "" {
			return bad("xattr %q has no name after its namespace", name)
		}
		regOrDir := kind == KindFile || kind == KindDir
		switch ns {
		case "trusted":
		case "user":
			if !regOrDir {
				return bad("xattr %s: Linux allows user.* attributes only on regular files and directories", name)
			}
		case "security":
			if name == capability {
				if kind != KindFile {
					return bad("xattr %s on a %s: file capabilities are for regular files", name, kindName(kind))
				}
				if err := checkCapability(v); err != nil {
					return bad("xattr %s: %v", name, err)
				}
			}
		case "system":
			fixed, err := checkACL(hdr, name, v, kind)
			if err != nil {
				return bad("xattr %s: %v", name, err)
			}
			hdr.PAXRecords[k] = fixed
		default:
			return bad("xattr %q: Linux knows the namespaces user, trusted, security and system only", name)
		}
	}
	return nil
}

func kindName(k Kind) string {
	switch k {
	case KindDir:
		return "directory"
	case KindSymlink:
		return "symlink"
	case KindDevice:
		return "device"
	case KindFifo:
		return "fifo"
	case KindWhiteout:
		return "whiteout"
	}
	return "file"
}

// checkCapability accepts a VFS_CAP_REVISION_2 value (20 bytes).
func checkCapability(v string) error {
	if len(v) != 20 || binary.LittleEndian.Uint32([]byte(v[:4]))&0xff000000 != 0x02000000 {
		return fmt.Errorf("not a version 2 file capability (%d bytes)", len(v))
	}
	return nil
}

// ACL tags (include/linux/posix_acl.h).
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
	aclNoID     = 0xffffffff
)

// checkACL checks a system.* attribute, which must be an ACL that the
// kernel accepts as it is (fs/posix_acl.c: posix_acl_from_xattr,
// posix_acl_valid) and keeps, and returns it as Linux reads it back.
func checkACL(hdr *tar.Header, name, v string, kind Kind) (string, error) {
	switch {
	case name != aclAccess && name != aclDefault:
		return "", fmt.Errorf("of system.*, only POSIX ACLs can be set")
	case kind == KindSymlink:
		return "", fmt.Errorf("Linux keeps no ACL on a symlink")
	case name == aclDefault && kind != KindDir:
		return "", fmt.Errorf("a default ACL on a %s: only directories have one", kindName(kind))
	}
	b := []byte(v)
	if len(b) < 4+8 || (len(b)-4)%8 != 0 || binary.LittleEndian.Uint32(b) != 2 {
		return "", fmt.Errorf("not a version 2 ACL with at least one entry")
	}
	state, needsMask := aclUserObj, false
	var perms [3]int64 // owner, group (or mask), other
	named := false
	for off := 4; off < len(b); off += 8 {
		tag := binary.LittleEndian.Uint16(b[off:])
		perm := binary.LittleEndian.Uint16(b[off+2:])
		if perm&^7 != 0 {
			return "", fmt.Errorf("entry %d: permissions %#o", (off-4)/8, perm)
		}
		ok := true
		switch tag {
		case aclUserObj:
			ok, state, perms[0] = state == aclUserObj, aclUser, int64(perm)
		case aclUser:
			ok, needsMask, named = state == aclUser, true, true
		case aclGroupObj:
			ok, state, perms[1] = state == aclUser, aclGroup, int64(perm)
		case aclGroup:
			ok, needsMask, named = state == aclGroup, true, true
		case aclMask:
			ok, state, perms[1] = state == aclGroup, aclOther, int64(perm)
		case aclOther:
			ok = state == aclOther || state == aclGroup && !needsMask
			state, perms[2] = 0, int64(perm)
		default:
			ok = false
		}
		if !ok {
			return "", fmt.Errorf("entry %d: tag %#x out of order or unknown", (off-4)/8, tag)
		}
		switch {
		case tag != aclUser && tag != aclGroup:
			binary.LittleEndian.PutUint32(b[off+4:], aclNoID)
		case binary.LittleEndian.Uint32(b[off+4:]) == aclNoID:
			// No uid or gid is -1: the kernel refuses the entry.
			return "", fmt.Errorf("entry %d: a named entry with id -1", (off-4)/8)
		}
		if state == 0 && off+8 < len(b) {
			return "", fmt.Errorf("entries after the other entry")
		}
	}
	if state != 0 {
		return "", fmt.Errorf("no entry for others")
	}
	if name == aclAccess {
		if !named && len(b) == 4+3*8 {
			return "", fmt.Errorf("only the base entries, which Linux keeps as mode bits")
		}
		if want := perms[0]<<6 | perms[1]<<3 | perms[2]; hdr.Mode&0o777 != want {
			return "", fmt.Errorf("mode %#o, but the ACL sets the permission bits to %#o", hdr.Mode&0o777, want)
		}
	}
	return string(b), nil
}
