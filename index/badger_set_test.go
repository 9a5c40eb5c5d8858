package index

import (
	"bytes"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestSetLayout pins the keys and values the sets write, so that indexes
// written before still read the same: an entry under its kind byte,
// source, NUL and path, and the count under the count's kind byte and
// source.
func TestSetLayout(t *testing.T) {
	db, err := Open(t.TempDir(), Options{MappedLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Retries().Add("s", "p", Retry{Dir: true, Size: 1, MtimeNs: 2, SeenNs: 3}); err != nil {
		t.Fatal(err)
	}
	if err := db.Replicas().Add("s", "p", Replica{VersionID: "v", UploadedNs: 1, CheckNs: 2, Checks: 3, Failed: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.Removed().Add("s", "p", Gone{Reason: GonePropagated, VersionID: "v", SinceNs: 1, MarkerID: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Locks().Add("s", "p", Lock{VersionID: "v", Mode: "G", RetainUntilNs: 1, Via: "h", Hold: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.Guards().Add("s", "p", Guard{Reason: "r", Deletes: 1, Records: 2, SinceNs: 3, Confirmed: 4, Dev: 5}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{
		"t" + "s\x00p": {1, 1, 2, 4, 6}, // Retry: version, Dir, zig-zag Size MtimeNs SeenNs
		"u" + "s":      {1, 2},          // count 1
		"v" + "s\x00p": {1, 1, 'v', 2, 4, 6, 1},
		"w" + "s":      {1, 2},
		"x" + "s\x00p": {1, 3, 1, 'v', 2, 1, 'm'},
		"y" + "s":      {1, 2},
		"l" + "s\x00p": {1, 1, 'v', 1, 'G', 2, 1, 'h', 1}, // Lock: VersionID Mode RetainUntilNs Via Hold
		"m" + "s":      {1, 2},
		"g" + "s\x00p": {1, 1, 'r', 2, 4, 6, 8, 5}, // Guard: Reason Deletes Records SinceNs Confirmed Dev
		"h" + "s":      {1, 2},
	}
	err = db.view(func(txn *badger.Txn) error {
		for key, value := range want {
			item, err := txn.Get([]byte(key))
			if err != nil {
				t.Errorf("key %q: %v", key, err)
				continue
			}
			got, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, value) {
				t.Errorf("value of %q = %v, want %v", key, got, value)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
