package uploader_test

import (
	"strings"
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
)

// FuzzMetaHash: any MetaHash value parses to a hash or to nothing, never a
// panic; a value that parses is what FormatMetaHash writes (up to case),
// and every hash round-trips.
func FuzzMetaHash(f *testing.F) {
	for _, v := range []string{"0123456789abcdef", "FFFFFFFFFFFFFFFF", "", "+123456789abcdef", "0x23456789abcdef", "0123456789abcde"} {
		f.Add(v, uint64(42))
	}
	f.Fuzz(func(t *testing.T, v string, h uint64) {
		if hash, ok := uploader.ParseMetaHash(map[string]string{uploader.MetaHash: v}); ok && !strings.EqualFold(uploader.FormatMetaHash(hash), v) {
			t.Fatalf("ParseMetaHash(%q) = %016x, which formats as %q", v, hash, uploader.FormatMetaHash(hash))
		}
		got, ok := uploader.ParseMetaHash(map[string]string{uploader.MetaHash: uploader.FormatMetaHash(h)})
		if !ok || got != h {
			t.Fatalf("%016x round-trips to %016x, %v", h, got, ok)
		}
	})
}

// FuzzMetaPerm: any mode and owner metadata parse to a Perm or to nothing
// of it, never a panic; what parses formats to values that parse to the
// same Perm, and stays within chmod's 07777.
func FuzzMetaPerm(f *testing.F) {
	f.Add("0600", "0750", "1000", "1000")
	f.Add("4755", "", "0", "0")
	f.Add("7777", "10000", "4294967295", "4294967296")
	f.Add("-1", "+7", "-1", "")
	f.Add("0o644", "08", " 1", "1 ")
	f.Add("00644", "000000644", "٣", "0x10")
	f.Fuzz(func(t *testing.T, mode, dirMode, uid, gid string) {
		meta := map[string]string{uploader.MetaMode: mode, uploader.MetaDirMode: dirMode, uploader.MetaUID: uid, uploader.MetaGID: gid}
		p := uploader.ParseMetaPerm(meta)
		for _, m := range []struct {
			has  bool
			mode uint32
		}{{p.HasMode, uint32(p.Mode)}, {p.HasDirMode, uint32(p.DirMode)}} {
			if m.has && m.mode&^uint32(0o777|1<<23|1<<22|1<<20) != 0 { // perm, setuid, setgid, sticky
				t.Fatalf("ParseMetaPerm(%q) = %+v: mode bits beyond the permission ones", meta, p)
			}
		}
		again := map[string]string{}
		uploader.FormatMetaPerm(p, again)
		if got := uploader.ParseMetaPerm(again); got != p {
			t.Fatalf("ParseMetaPerm(%q) = %+v, formatted %q, parsed again %+v", meta, p, again, got)
		}
	})
}
