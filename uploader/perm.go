package uploader

import (
	"io/fs"
	"strconv"
)

// Metadata keys that let a restore give a file back its access rights
// (S3 sends them as x-amz-meta-s3ferry-*). Modes are octal as chmod takes
// them ("0640", "4755"); owners are numeric ids.
const (
	MetaMode    = "s3ferry-mode"    // the file's permission bits, with setuid, setgid and sticky
	MetaUID     = "s3ferry-uid"     // the file's owner
	MetaGID     = "s3ferry-gid"     // the file's group
	MetaDirMode = "s3ferry-dirmode" // the permission bits of the directory holding the file
)

// Perm is a file's mode and owner as an object's metadata records them.
type Perm struct {
	Mode       fs.FileMode // permission bits with fs.ModeSetuid, ModeSetgid, ModeSticky
	DirMode    fs.FileMode // the directory's, likewise
	UID, GID   uint32
	HasMode    bool
	HasDirMode bool
	HasOwner   bool
}

// permBits is what of an fs.FileMode a Perm keeps.
const permBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// permOf is the Perm of the file fi, in a directory of mode dirMode (0:
// not known).
func permOf(fi fs.FileInfo, dirMode fs.FileMode) Perm {
	p := Perm{Mode: fi.Mode() & permBits, HasMode: true}
	p.UID, p.GID, p.HasOwner = owner(fi)
	if dirMode != 0 {
		p.DirMode, p.HasDirMode = dirMode&permBits, true
	}
	return p
}

// FormatMetaPerm adds what p has to meta.
func FormatMetaPerm(p Perm, meta map[string]string) {
	if p.HasMode {
		meta[MetaMode] = formatMode(p.Mode)
	}
	if p.HasDirMode {
		meta[MetaDirMode] = formatMode(p.DirMode)
	}
	if p.HasOwner {
		meta[MetaUID] = strconv.FormatUint(uint64(p.UID), 10)
		meta[MetaGID] = strconv.FormatUint(uint64(p.GID), 10)
	}
}

// ParseMetaPerm reads what FormatMetaPerm wrote; a value that is missing or
// is not one it writes is left out (its Has field false). An owner needs
// both ids.
func ParseMetaPerm(meta map[string]string) Perm {
	var p Perm
	p.Mode, p.HasMode = parseMode(meta[MetaMode])
	p.DirMode, p.HasDirMode = parseMode(meta[MetaDirMode])
	uid, uerr := strconv.ParseUint(meta[MetaUID], 10, 32)
	gid, gerr := strconv.ParseUint(meta[MetaGID], 10, 32)
	if uerr == nil && gerr == nil {
		p.UID, p.GID, p.HasOwner = uint32(uid), uint32(gid), true
	}
	return p
}

// formatMode writes m as chmod's octal: the permission bits, and setuid
// (4000), setgid (2000) and sticky (1000) above them.
func formatMode(m fs.FileMode) string {
	v := uint64(m & fs.ModePerm)
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	s := strconv.FormatUint(v, 8)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// parseMode reads formatMode's octal: 1 to 4 octal digits after an
// optional leading 0.
func parseMode(s string) (fs.FileMode, bool) {
	if s == "" || len(s) > 5 || s[0] == '+' || s[0] == '-' {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, false
	}
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, true
}

// Untrusted is what Sanitize removes from a mode a bucket recorded unless
// the caller keeps special bits: setuid, setgid, and write for others
// (on a directory, only without the sticky bit, as /tmp has it).
//
//	mode recorded           file               directory
//	setuid, setgid          removed            removed
//	o+w, sticky             removed            kept (like /tmp)
//	o+w, no sticky          removed            removed
//	anything else           kept               kept
func Sanitize(m fs.FileMode, dir bool) (safe fs.FileMode, removed bool) {
	safe = m &^ (fs.ModeSetuid | fs.ModeSetgid)
	if safe&0o002 != 0 && (!dir || safe&fs.ModeSticky == 0) {
		safe &^= 0o002
	}
	return safe, safe != m
}
