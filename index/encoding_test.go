package index

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeRecordErrors(t *testing.T) {
	valid := appendRecord(nil, Record{
		Size: 1, MtimeNs: 2, Inode: 3, Hash: math.MaxUint64,
		ETag: "etag", VersionID: "vid", Checksum: "CRC32C:x", UploadedNs: 4,
	})
	for n := range len(valid) {
		if _, err := decodeRecord(valid[:n]); err == nil {
			t.Errorf("decode of the first %d of %d bytes: no error", n, len(valid))
		}
	}
	if _, err := decodeRecord(append(valid, 0)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("decode with a trailing byte: error %v, want one about trailing bytes", err)
	}
	future := append([]byte{formatVersion + 1}, valid[1:]...)
	if _, err := decodeRecord(future); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("decode of version 2: error %v, want one naming the version", err)
	}
}

func TestDecodePendingUpload(t *testing.T) {
	// An entry written before uploads were resumable: Seq and QueuedNs.
	old := []byte{formatVersion, 7, 4}
	if p, err := decodePending(old); err != nil || p != (Pending{Seq: 7, QueuedNs: 2}) {
		t.Fatalf("decode of an entry without upload = %+v, %v; want Seq 7, QueuedNs 2", p, err)
	}
	want := Pending{Seq: 9, QueuedNs: 5, Upload: &Upload{
		ID: "id", Key: "k", PartSize: 8, Size: 20, MtimeNs: -1, Inode: 3, Hash: math.MaxUint64,
		Parts: []UploadedPart{{Number: 1, Size: 8, Checksum: "c", ETag: "e"}, {Number: 2, Size: 8}},
	}}
	valid := appendPending(nil, want)
	got, err := decodePending(valid)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip of %+v = %+v, %v", want, got, err)
	}
	for n := len(old) + 1; n < len(valid); n++ {
		if _, err := decodePending(valid[:n]); err == nil {
			t.Errorf("decode of the first %d of %d bytes: no error", n, len(valid))
		}
	}
	// Refused follows the parts, and only when it is not 0.
	refused := want
	refused.Upload = &Upload{ID: "id", Parts: []UploadedPart{{Number: 1}}, Refused: 1}
	b := appendPending(nil, refused)
	if got, err := decodePending(b); err != nil || !reflect.DeepEqual(got, refused) {
		t.Fatalf("round trip of %+v = %+v, %v", refused, got, err)
	}
	unrefused := *refused.Upload
	unrefused.Refused = 0
	if n, m := len(b), len(appendPending(nil, Pending{Seq: 9, QueuedNs: 5, Upload: &unrefused})); n != m+1 {
		t.Errorf("an upload refused once encodes to %d bytes, one never refused to %d; want one more", n, m)
	}
}

// TestDecodeStateWithoutNames: a state written before Root and Destination
// were kept still decodes, with them empty.
func TestDecodeStateWithoutNames(t *testing.T) {
	old := []byte{formatVersion, 10} // FullWalkNs 5, zig-zag
	got, err := decodeState(old)
	if want := (SourceState{FullWalkNs: 5}); err != nil || got != want {
		t.Errorf("decode of an old state = %+v, %v; want %+v", got, err, want)
	}
}

func TestRecordSize(t *testing.T) {
	// A typical record: the size limits what a million records cost.
	r := Record{
		Size:       48_213_777,
		MtimeNs:    1_795_000_000_123_456_789,
		Inode:      12_345_678,
		Hash:       0x9e3779b97f4a7c15,
		ETag:       "9b2cf535f27731c974343645a3985328",
		VersionID:  "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
		Checksum:   "CRC32C:yZRlqg==",
		UploadedNs: 1_795_000_010_000_000_000,
	}
	if got, max := len(appendRecord(nil, r)), 120; got > max {
		t.Errorf("typical record encodes to %d bytes, want at most %d", got, max)
	}
}

func FuzzRecord(f *testing.F) {
	f.Add([]byte{1, 2, 3}, int64(1), int64(-2), uint64(3), uint64(math.MaxUint64), "etag", "", "CRC32C:x", int64(5))
	f.Add(appendRecord(nil, Record{Size: 1, ETag: "e"}), int64(0), int64(0), uint64(0), uint64(0), "", "", "", int64(0))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, int64(0), int64(0), uint64(0), uint64(0), "", "", "", int64(0))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, int64(0), int64(0), uint64(0), uint64(0), "", "", "", int64(0))
	f.Add([]byte{}, int64(math.MinInt64), int64(0), uint64(0), uint64(0), "", "\xff", "", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, data []byte, size, mtime int64, inode, hash uint64, etag, vid, cs string, up int64) {
		// Any bytes: a value or an error, never a panic; a value decoded
		// without error encodes to bytes that decode to it again.
		reencodes(t, data, decodeRecord, appendRecord)
		reencodes(t, data, decodePending, appendPending)
		reencodes(t, data, decodeState, appendState)
		reencodes(t, data, decodeCounts, appendCounts)

		want := Record{Size: size, MtimeNs: mtime, Inode: inode, Hash: hash, ETag: etag, VersionID: vid, Checksum: cs, UploadedNs: up}
		got, err := decodeRecord(appendRecord(nil, want))
		if err != nil || got != want {
			t.Fatalf("round trip of %+v = %+v, %v", want, got, err)
		}
		p := Pending{Seq: inode, QueuedNs: mtime}
		if got, err := decodePending(appendPending(nil, p)); err != nil || got != p {
			t.Fatalf("round trip of %+v = %+v, %v", p, got, err)
		}
		st := SourceState{FullWalkNs: up, Root: etag, Destination: vid}
		if got, err := decodeState(appendState(nil, st)); err != nil || got != st {
			t.Fatalf("round trip of %+v = %+v, %v", st, got, err)
		}
		c := counts{records: size, pending: up}
		if got, err := decodeCounts(appendCounts(nil, c)); err != nil || got != c {
			t.Fatalf("round trip of %+v = %+v, %v", c, got, err)
		}
	})
}

// reencodes checks that a value decoded from data without error encodes to
// bytes that decode to it again.
func reencodes[T comparable](t *testing.T, data []byte, decode func([]byte) (T, error), encode func([]byte, T) []byte) {
	t.Helper()
	v, err := decode(data)
	if err != nil {
		return
	}
	if again, err := decode(encode(nil, v)); err != nil || again != v {
		t.Fatalf("decoded %x to %+v; re-encoded and decoded: %+v, %v", data, v, again, err)
	}
}
