package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/dgraph-io/badger/v4"
)

// Check opens the index in dir and reads every entry back: Badger's
// checksums of every table (all verified as Open opens them), each value
// decoded as its kind, and each source's counts against its entries. It
// returns one line per problem found; none means the index is healthy.
// An index that does not open because it is damaged is a problem, not an
// error; err is for what kept Check from looking (locked, permissions).
func Check(dir string, opts Options) (problems []string, err error) {
	opts.VerifyAll = true
	db, err := Open(dir, opts)
	var damaged *DamagedError
	if errors.As(err, &damaged) {
		return []string{damaged.Cause}, nil
	} else if err != nil {
		return nil, err
	}
	defer db.Close()
	problems, err = db.check(context.Background())
	if errors.As(err, &damaged) {
		return append(problems, damaged.Cause), nil
	}
	return problems, err
}

// Check is the package's Check of an index this process has open (the
// daemon's, for `s3ferry index check` while it runs): it verifies the
// checksums of every table and reads every entry back in one snapshot,
// while writes go on. Problems as Check's; err is ctx's when it ended
// first.
func (db *DB) Check(ctx context.Context) (problems []string, err error) {
	var damaged *DamagedError
	err = guard(db.dir, db.db.VerifyChecksum)
	if errors.As(err, &damaged) {
		problems = append(problems, damaged.Cause)
	} else if err != nil {
		problems = append(problems, "verify the tables' checksums: "+oneLine(err.Error()))
	}
	more, err := db.check(ctx)
	problems = append(problems, more...)
	if errors.As(err, &damaged) {
		return append(problems, damaged.Cause), nil
	}
	return problems, err
}

// check reads every entry of db, until ctx ends; see Check.
func (db *DB) check(ctx context.Context) ([]string, error) {
	var problems []string
	found := map[string]*counts{} // per source, as counted
	stored := map[string]counts{} // per source, as recorded
	at := func(source string) *counts {
		if found[source] == nil {
			found[source] = &counts{}
		}
		return found[source]
	}
	err := db.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			item := it.Item()
			key := item.KeyCopy(nil)
			v, err := item.ValueCopy(nil)
			if err != nil {
				problems = append(problems, fmt.Sprintf("key %q: read value: %v", key, err))
				continue
			}
			if len(key) == 0 {
				problems = append(problems, "an empty key")
				continue
			}
			kind, rest := key[0], key[1:]
			source, path, hasPath := bytes.Cut(rest, []byte{0})
			var derr error
			switch {
			case kind == kindRecord && hasPath:
				_, derr = decodeRecord(v)
				at(string(source)).records++
			case kind == kindPending && hasPath:
				_, derr = decodePending(v)
				at(string(source)).pending++
			case kind == kindState:
				_, derr = decodeState(v)
			case kind == kindLock && hasPath:
				_, derr = decodeLock(v)
			case kind == kindGuard && hasPath:
				_, derr = decodeGuard(v)
			case kind == kindCounts:
				var c counts
				c, derr = decodeCounts(v)
				stored[string(rest)] = c
			default:
				continue // the sequence, and kinds a later version may add
			}
			if derr != nil {
				problems = append(problems, fmt.Sprintf("source %s, %q: %v", source, path, derr))
			}
		}
		return nil
	})
	sources := map[string]bool{}
	for s := range found {
		sources[s] = true
	}
	for s := range stored {
		sources[s] = true
	}
	var names []string
	for s := range sources {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		got := counts{}
		if found[s] != nil {
			got = *found[s]
		}
		if want := stored[s]; got != want {
			problems = append(problems, fmt.Sprintf("source %s: counts say %d records and %d pending, the index holds %d and %d", s, want.records, want.pending, got.records, got.pending))
		}
	}
	return problems, err
}
