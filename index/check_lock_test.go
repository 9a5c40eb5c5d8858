package index

import (
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestCheckReadsLocksAndGuards: index check decodes the lock and guard
// sets too, and names an entry that does not decode.
func TestCheckReadsLocksAndGuards(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{MappedLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Locks().Add("s", "good", Lock{VersionID: "v", Mode: "COMPLIANCE", RetainUntilNs: 1}); err != nil {
		t.Fatal(err)
	}
	err = db.update(func(txn *badger.Txn) error {
		if err := txn.Set([]byte("l"+"s\x00bad-lock"), []byte{1, 9}); err != nil {
			return err
		}
		return txn.Set([]byte("g"+"s\x00bad-guard"), []byte{1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	problems, err := Check(dir, Options{MappedLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problems, "\n")
	if len(problems) != 2 || !strings.Contains(got, "bad-lock") || !strings.Contains(got, "bad-guard") {
		t.Errorf("Check = %q, want the bad lock and guard entries named", problems)
	}
}
