package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Values are encoded compactly, first a format version byte so the layout can
// evolve, then the fields in declaration order: signed integers as zig-zag
// varints, unsigned ones as uvarints, the content hash as 8 fixed bytes
// (xxhash64 is uniformly distributed, so a varint would take 9 or 10), and
// strings as a uvarint length followed by the bytes.
//
//	value         version  fields
//	Record        1        Size MtimeNs Inode Hash(8) ETag VersionID Checksum UploadedNs
//	Pending       1        Seq QueuedNs [Upload]
//	Upload        -        ID Key PartSize Size MtimeNs Inode Hash(8) nparts {Number Size Checksum ETag} [Refused]
//	SourceState   1        FullWalkNs [Root Destination]
//	counts        1        records pending
//	Retry         1        Dir(0/1) Size MtimeNs SeenNs
//	retry count   1        entries
//	Replica       1        VersionID UploadedNs CheckNs Checks Failed(0/1)
//	replica count 1        entries
//	Gone          1        Reason VersionID SinceNs MarkerID
//	removed count 1        entries
//	Lock          1        VersionID Mode RetainUntilNs Via Hold(0/1)
//	lock count    1        entries
//	Guard         1        Reason Deletes Records SinceNs Confirmed Dev
//	guard count   1        entries
//
// A Pending entry without an Upload ends after QueuedNs, as entries did
// before uploads were resumable, so those still decode. An Upload's Refused
// is written only when it is not 0, so that uploads the bucket never
// refused are encoded as they were before it was kept, and both decode.
const formatVersion = 1

// checkSource rejects a source the key layout cannot represent: a NUL byte
// separates source from path.
func checkSource(source string) error {
	if strings.IndexByte(source, 0) >= 0 {
		return fmt.Errorf("invalid source %q: contains a NUL byte", source)
	}
	return nil
}

func appendRecord(b []byte, r Record) []byte {
	b = append(b, formatVersion)
	b = binary.AppendVarint(b, r.Size)
	b = binary.AppendVarint(b, r.MtimeNs)
	b = binary.AppendUvarint(b, r.Inode)
	b = binary.LittleEndian.AppendUint64(b, r.Hash)
	b = appendString(b, r.ETag)
	b = appendString(b, r.VersionID)
	b = appendString(b, r.Checksum)
	b = binary.AppendVarint(b, r.UploadedNs)
	return b
}

func decodeRecord(b []byte) (Record, error) {
	d := decoder{b: b}
	d.version()
	r := Record{
		Size:    d.varint(),
		MtimeNs: d.varint(),
		Inode:   d.uvarint(),
		Hash:    d.fixed64(),
		ETag:    d.string(),
	}
	r.VersionID = d.string()
	r.Checksum = d.string()
	r.UploadedNs = d.varint()
	return r, d.finish("record")
}

func appendPending(b []byte, p Pending) []byte {
	b = append(b, formatVersion)
	b = binary.AppendUvarint(b, p.Seq)
	b = binary.AppendVarint(b, p.QueuedNs)
	if u := p.Upload; u != nil {
		b = appendString(b, u.ID)
		b = appendString(b, u.Key)
		b = binary.AppendVarint(b, u.PartSize)
		b = binary.AppendVarint(b, u.Size)
		b = binary.AppendVarint(b, u.MtimeNs)
		b = binary.AppendUvarint(b, u.Inode)
		b = binary.LittleEndian.AppendUint64(b, u.Hash)
		b = binary.AppendUvarint(b, uint64(len(u.Parts)))
		for _, part := range u.Parts {
			b = binary.AppendUvarint(b, uint64(part.Number))
			b = binary.AppendVarint(b, part.Size)
			b = appendString(b, part.Checksum)
			b = appendString(b, part.ETag)
		}
		if u.Refused != 0 {
			b = binary.AppendUvarint(b, uint64(u.Refused))
		}
	}
	return b
}

func decodePending(b []byte) (Pending, error) {
	d := decoder{b: b}
	d.version()
	p := Pending{Seq: d.uvarint(), QueuedNs: d.varint()}
	if d.err == nil && len(d.b) > 0 {
		u := &Upload{ID: d.string(), Key: d.string()}
		u.PartSize = d.varint()
		u.Size = d.varint()
		u.MtimeNs = d.varint()
		u.Inode = d.uvarint()
		u.Hash = d.fixed64()
		n := d.uvarint()
		if n > uint64(len(d.b)) { // every part takes at least one byte
			d.err = errTruncated
		}
		for range n {
			if d.err != nil {
				break
			}
			part := UploadedPart{Number: int32(d.uvarint())}
			part.Size = d.varint()
			part.Checksum = d.string()
			part.ETag = d.string()
			u.Parts = append(u.Parts, part)
		}
		if d.err == nil && len(d.b) > 0 {
			u.Refused = int(d.uvarint())
		}
		p.Upload = u
	}
	return p, d.finish("pending entry")
}

func appendState(b []byte, s SourceState) []byte {
	b = append(b, formatVersion)
	b = binary.AppendVarint(b, s.FullWalkNs)
	b = appendString(b, s.Root)
	b = appendString(b, s.Destination)
	return b
}

func decodeState(b []byte) (SourceState, error) {
	d := decoder{b: b}
	d.version()
	s := SourceState{FullWalkNs: d.varint()}
	if d.err == nil && len(d.b) > 0 { // absent in states written before they were kept
		s.Root = d.string()
		s.Destination = d.string()
	}
	return s, d.finish("source state")
}

// counts is what Count returns, kept under one key per source.
type counts struct {
	records, pending int64
}

func appendCounts(b []byte, c counts) []byte {
	b = append(b, formatVersion)
	b = binary.AppendVarint(b, c.records)
	b = binary.AppendVarint(b, c.pending)
	return b
}

func decodeCounts(b []byte) (counts, error) {
	d := decoder{b: b}
	d.version()
	c := counts{records: d.varint(), pending: d.varint()}
	return c, d.finish("counts")
}

func appendRetry(b []byte, r Retry) []byte {
	b = append(b, formatVersion)
	dir := uint64(0)
	if r.Dir {
		dir = 1
	}
	b = binary.AppendUvarint(b, dir)
	b = binary.AppendVarint(b, r.Size)
	b = binary.AppendVarint(b, r.MtimeNs)
	b = binary.AppendVarint(b, r.SeenNs)
	return b
}

func decodeRetry(b []byte) (Retry, error) {
	d := decoder{b: b}
	d.version()
	r := Retry{Dir: d.uvarint() == 1, Size: d.varint(), MtimeNs: d.varint(), SeenNs: d.varint()}
	return r, d.finish("retry entry")
}

func appendSetCount(b []byte, n int64) []byte {
	b = append(b, formatVersion)
	return binary.AppendVarint(b, n)
}

func decodeSetCount(b []byte) (int64, error) {
	d := decoder{b: b}
	d.version()
	n := d.varint()
	return n, d.finish("set count")
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errTruncated = errors.New("truncated")

// decoder reads fields off b; the first error sticks and later reads return
// zero values, so a decode function checks once, in finish.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) version() {
	if len(d.b) == 0 {
		d.err = errTruncated
		return
	}
	if v := d.b[0]; v != formatVersion {
		d.err = fmt.Errorf("unknown format version %d", v)
		return
	}
	d.b = d.b[1:]
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) fixed64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.err = errTruncated
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// string copies, so the result outlives the buffer it was decoded from.
func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errTruncated
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) finish(what string) error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("decode %s: %w", what, d.err)
	}
	return nil
}

func appendReplica(b []byte, r Replica) []byte {
	b = append(b, formatVersion)
	b = appendString(b, r.VersionID)
	b = binary.AppendVarint(b, r.UploadedNs)
	b = binary.AppendVarint(b, r.CheckNs)
	b = binary.AppendVarint(b, r.Checks)
	failed := uint64(0)
	if r.Failed {
		failed = 1
	}
	return binary.AppendUvarint(b, failed)
}

func decodeReplica(b []byte) (Replica, error) {
	d := decoder{b: b}
	d.version()
	r := Replica{VersionID: d.string()}
	r.UploadedNs = d.varint()
	r.CheckNs = d.varint()
	r.Checks = d.varint()
	r.Failed = d.uvarint() == 1
	return r, d.finish("replica entry")
}

func appendGone(b []byte, g Gone) []byte {
	b = append(b, formatVersion)
	b = binary.AppendUvarint(b, uint64(g.Reason))
	b = appendString(b, g.VersionID)
	b = binary.AppendVarint(b, g.SinceNs)
	return appendString(b, g.MarkerID)
}

func decodeGone(b []byte) (Gone, error) {
	d := decoder{b: b}
	d.version()
	g := Gone{Reason: GoneReason(d.uvarint())}
	g.VersionID = d.string()
	g.SinceNs = d.varint()
	g.MarkerID = d.string()
	return g, d.finish("gone entry")
}

func appendLock(b []byte, l Lock) []byte {
	b = append(b, formatVersion)
	b = appendString(b, l.VersionID)
	b = appendString(b, l.Mode)
	b = binary.AppendVarint(b, l.RetainUntilNs)
	b = appendString(b, l.Via)
	hold := uint64(0)
	if l.Hold {
		hold = 1
	}
	return binary.AppendUvarint(b, hold)
}

func decodeLock(b []byte) (Lock, error) {
	d := decoder{b: b}
	d.version()
	l := Lock{VersionID: d.string()}
	l.Mode = d.string()
	l.RetainUntilNs = d.varint()
	l.Via = d.string()
	l.Hold = d.uvarint() == 1
	return l, d.finish("lock entry")
}

func appendGuard(b []byte, g Guard) []byte {
	b = append(b, formatVersion)
	b = appendString(b, g.Reason)
	b = binary.AppendVarint(b, g.Deletes)
	b = binary.AppendVarint(b, g.Records)
	b = binary.AppendVarint(b, g.SinceNs)
	b = binary.AppendVarint(b, g.Confirmed)
	return binary.AppendUvarint(b, g.Dev)
}

func decodeGuard(b []byte) (Guard, error) {
	d := decoder{b: b}
	d.version()
	g := Guard{Reason: d.string()}
	g.Deletes = d.varint()
	g.Records = d.varint()
	g.SinceNs = d.varint()
	g.Confirmed = d.varint()
	g.Dev = d.uvarint()
	return g, d.finish("guard entry")
}
