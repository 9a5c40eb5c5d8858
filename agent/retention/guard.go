package retention

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

// Defaults of the mass-deletion guards (local.Source.MaxDelete,
// MaxDeleteFraction; Sweeper.GuardMinRecords).
const (
	DefaultMaxDelete         = 10_000
	DefaultMaxDeleteFraction = 0.5
	// DefaultGuardMinRecords is the size of a source from which the
	// fraction and the empty root are judged: in a source of a handful of
	// files, losing most of them is no sign of a mistake.
	DefaultGuardMinRecords = 1000
)

// The entries of a source in the guard set (index.Store.Guards), by path.
const (
	GuardRetention   = "retention"   // a retention pass stopped: too many deletes
	GuardPropagation = "propagation" // a propagation pass stopped: too many delete markers
	GuardUnmounted   = "unmounted"   // the root looked unmounted: nothing is propagated
	guardRoot        = "root"        // the root's device id, as first seen
)

// devChanged starts the reason of a root whose device changed, the one
// unmounted reason an operator can confirm (a tree moved to a new disk).
const devChanged = "the root's device changed"

// Blocked is a guard that stopped a source's deletes, for status, health
// and `s3ferry retention confirm`.
type Blocked struct {
	Source *local.Source
	Name   string // GuardRetention, GuardPropagation or GuardUnmounted
	index.Guard
}

func (b Blocked) String() string {
	return fmt.Sprintf("%s: %s deletes stopped: %s", b.Source.Root, b.Name, b.Reason)
}

// BlockedOf returns the guards that stop deletes of sources now (not
// confirmed since).
func BlockedOf(idx index.Store, sources []*local.Source) ([]Blocked, error) {
	var out []Blocked
	for _, src := range sources {
		err := idx.Guards().Each(src.ID(), func(name string, g index.Guard) error {
			if name != guardRoot && g.Confirmed == 0 {
				out = append(out, Blocked{Source: src, Name: name, Guard: g})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the guards of %s: %w", src, err)
		}
	}
	return out, nil
}

// Confirm lets the next pass of each blocked guard of sources make the
// deletes it stopped, and returns what it confirmed. A root whose device
// changed takes the new device as its own; a root that looks unmounted
// otherwise (empty, a recent partition missing) is not confirmed: mount
// it, and the next sweep clears the guard.
func Confirm(idx index.Store, sources []*local.Source) ([]Blocked, error) {
	blocked, err := BlockedOf(idx, sources)
	if err != nil {
		return nil, err
	}
	var done []Blocked
	for _, b := range blocked {
		id := b.Source.ID()
		if b.Name == GuardUnmounted {
			if !strings.HasPrefix(b.Reason, devChanged) {
				continue
			}
			if err := idx.Guards().Remove(id, guardRoot); err != nil {
				return done, err
			}
			if err := idx.Guards().Remove(id, GuardUnmounted); err != nil {
				return done, err
			}
			done = append(done, b)
			continue
		}
		g := b.Guard
		g.Confirmed = max(g.Deletes, 1)
		if err := idx.Guards().Add(id, b.Name, g); err != nil {
			return done, err
		}
		done = append(done, b)
	}
	return done, nil
}

// overLimit says why n deletes in one pass over src, of records recorded
// files, are too many; "" when they are not:
//
//	deletes in one pass                                  stopped
//	more than MaxDelete (< 0: no limit)                  yes
//	more than MaxDeleteFraction of the records, in a     yes
//	  source of at least GuardMinRecords (< 0: none)
//	otherwise                                            no
func (sw *Sweeper) overLimit(src *local.Source, n, records int64, what string) string {
	maxN := int64(src.MaxDelete)
	if maxN == 0 {
		maxN = DefaultMaxDelete
	}
	frac := src.MaxDeleteFraction
	if frac == 0 {
		frac = DefaultMaxDeleteFraction
	}
	switch {
	case maxN > 0 && n > maxN:
		return fmt.Sprintf("%d %s in one pass, more than max-delete %d", n, what, maxN)
	case frac > 0 && records >= sw.GuardMinRecords && float64(n) > frac*float64(records):
		return fmt.Sprintf("%d %s in one pass, %.0f%% of the source's %d files, more than max-delete-fraction %g", n, what, 100*float64(n)/float64(records), records, frac)
	}
	return ""
}

// allow decides whether a pass over src that would make n deletes (files
// or delete markers, what) goes on, with the guard name's entry:
//
//	over a limit (overLimit)  entry                        pass
//	no                        removed if any                goes on
//	yes                       confirmed for n or more       goes on; the entry is removed
//	yes                       none, or not confirmed        stops before any delete: the entry
//	                                                          records why (unhealthy until
//	                                                          confirmed or the limit raised)
//
// A dry run reads the entry but never writes it.
func (sw *Sweeper) allow(src *local.Source, name string, n int64, what string, st *Stats) (bool, error) {
	id := src.ID()
	records, _, err := sw.Index.Count(id)
	if err != nil {
		return false, err
	}
	entry, found, err := guardEntry(sw.Index, id, name)
	if err != nil {
		return false, err
	}
	why := sw.overLimit(src, n, records, what)
	switch {
	case why == "":
		if found && !sw.DryRun {
			return true, sw.Index.Guards().Remove(id, name)
		}
		return true, nil
	case found && entry.Confirmed >= n:
		sw.Logger.Warn("mass deletion confirmed by an operator: going on", "source", src.Root, "guard", name, "deletes", n)
		if !sw.DryRun {
			return true, sw.Index.Guards().Remove(id, name)
		}
		return true, nil
	}
	st.Blocked++
	sw.Logger.Error(fmt.Sprintf("%s stopped before deleting anything: %s; check the source, then run s3ferry retention confirm, or raise max-delete / max-delete-fraction", what, why), "source", src.Root)
	if sw.DryRun {
		fmt.Fprintf(sw.DryRunOut, "would stop: %s\n", why)
		return false, nil
	}
	if found && entry.Deletes == n && entry.Reason == why {
		return false, nil
	}
	return false, sw.Index.Guards().Add(id, name, index.Guard{Reason: why, Deletes: n, Records: records, SinceNs: sw.Now().UnixNano()})
}

// unmounted says why src's root looks unmounted, "" when it does not; a
// root that looks so propagates no delete:
//
//	sign                                                   why
//	the root's device id is not the one first recorded     a mount came or went
//	the root is empty and the index holds at least         the mount is missing
//	  GuardMinRecords of its files
//	a file vanished whose partition directory is missing,  a recent day cannot be gone
//	  for a partition inside the look-back window
//
// The device of the root is recorded at the first sweep that finds it.
func (sw *Sweeper) unmounted(src *local.Source, vanished []string) (string, error) {
	id := src.ID()
	info, err := os.Stat(src.Root)
	if err != nil {
		return fmt.Sprintf("the root cannot be read: %v", err), nil
	}
	dev := local.IDOf(info).Dev
	root, known, err := guardEntry(sw.Index, id, guardRoot)
	if err != nil {
		return "", err
	}
	switch {
	case !known && !sw.DryRun:
		if err := sw.Index.Guards().Add(id, guardRoot, index.Guard{Dev: dev, SinceNs: sw.Now().UnixNano()}); err != nil {
			return "", err
		}
	case known && root.Dev != dev:
		return fmt.Sprintf("%s from %d to %d: another file system is mounted there, or none", devChanged, root.Dev, dev), nil
	}
	records, _, err := sw.Index.Count(id)
	if err != nil {
		return "", err
	}
	if records >= sw.GuardMinRecords {
		empty, err := emptyDir(src.Root)
		if err != nil {
			return "", err
		}
		if empty {
			return fmt.Sprintf("the root is empty where the index holds %d files", records), nil
		}
	}
	if src.Layout.IsZero() {
		return "", nil
	}
	recent := sw.Now().Add(-src.Window())
	checked := map[string]bool{}
	for _, rel := range vanished {
		comps := strings.Split(rel, "/")
		if len(comps) <= src.Layout.Depth() {
			continue
		}
		part := path.Join(comps[:src.Layout.Depth()]...)
		if checked[part] || src.Layout.Ended(part, recent, sw.Location) {
			continue
		}
		checked[part] = true
		if _, err := src.Stat(part); errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("the partition directory %s of a recent date is missing", local.Printable(part)), nil
		}
	}
	return "", nil
}

// emptyDir says whether dir has no entries.
func emptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// looksUnmounted records (or clears) the unmounted guard of src and says
// whether its deletes must not be propagated.
func (sw *Sweeper) looksUnmounted(src *local.Source, vanished []string, st *Stats) (bool, error) {
	why, err := sw.unmounted(src, vanished)
	if err != nil {
		return false, err
	}
	id := src.ID()
	if why == "" {
		if sw.DryRun {
			return false, nil
		}
		return false, sw.Index.Guards().Remove(id, GuardUnmounted)
	}
	st.Blocked++
	sw.Logger.Error("the source root looks unmounted: no local delete is propagated: "+why, "source", src.Root)
	if sw.DryRun {
		fmt.Fprintf(sw.DryRunOut, "would propagate nothing: the root looks unmounted: %s\n", why)
		return true, nil
	}
	old, _, err := guardEntry(sw.Index, id, GuardUnmounted)
	if err != nil {
		return true, err
	}
	if old.Reason == why {
		return true, nil
	}
	return true, sw.Index.Guards().Add(id, GuardUnmounted, index.Guard{Reason: why, SinceNs: sw.Now().UnixNano()})
}

// guardEntry reads the entry name of source id's guards; ok is false when
// there is none.
func guardEntry(idx index.Store, id, name string) (g index.Guard, ok bool, err error) {
	err = idx.Guards().Each(id, func(p string, e index.Guard) error {
		if p == name {
			g, ok = e, true
		}
		return nil
	})
	return g, ok, err
}

// ConfirmLines is Confirm for a person: one line per stopped guard, saying
// whether it was confirmed; none when nothing is stopped.
func ConfirmLines(idx index.Store, sources []*local.Source) ([]string, error) {
	blocked, err := BlockedOf(idx, sources)
	if err != nil || len(blocked) == 0 {
		return nil, err
	}
	done, err := Confirm(idx, sources)
	if err != nil {
		return nil, err
	}
	lines := make([]string, 0, len(blocked))
	for _, b := range blocked {
		verdict := "not confirmed: mount the source; the next sweep clears it"
		for _, d := range done {
			if d.Source == b.Source && d.Name == b.Name {
				verdict = "confirmed: the next pass goes on"
			}
		}
		lines = append(lines, b.String()+": "+verdict)
	}
	return lines, nil
}
