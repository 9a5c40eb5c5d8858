package bucket

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// RestoreStats counts what a restore did.
type RestoreStats struct {
	Listed   int64 `json:"listed"`   // keys with any version below the prefix
	Restored int64 `json:"restored"` // files written
	Bytes    int64 `json:"bytes"`    // bytes written
	Existing int64 `json:"existing"` // already there, left alone (no Overwrite)
	Deleted  int64 `json:"deleted"`  // deleted at the time (a delete marker was current)
	Later    int64 `json:"later"`    // created after the time
	Failed   int64 `json:"failed"`   // could not be downloaded or verified, or a key s3ferry does not write; each is logged
	// Untrusted counts keys not restored because their history is one S3
	// cannot produce (uploader.ErrImpossibleHistory), so which version was
	// current at At is unknown; each is logged with what to do.
	Untrusted int64 `json:"untrusted"`
	// Sanitized counts files and directories whose recorded mode lost
	// setuid, setgid or write for others (uploader.Sanitize), without
	// KeepSpecialBits.
	Sanitized int64 `json:"sanitized"`
	// Leftovers counts the temporary files of an earlier restore that was
	// killed before it ended, removed before this one began
	// (uploader.RemoveLeftovers).
	Leftovers int64   `json:"leftovers"`
	Seconds   float64 `json:"seconds"`
}

// Restore writes the files of a destination as they were at a point in
// time, from the bucket's version history. For each key it takes the newest
// version written at or before At, by the entries' LastModified, and
// only in a history S3 can produce (uploader.History.Check); without At it
// takes the version the server marks current, whatever the times say:
//
//	newest entry at or before At    action (without At: the newest entry)
//	an object version               download it (verified) to To/<path>
//	a delete marker                 none: the file was deleted then (Deleted)
//	none (every version is later)   none: the file did not exist yet (Later)
//	(an impossible history, At)     none: Untrusted, logged (see History.Check)
//	(To/<path> exists, !Overwrite)  none: left alone (Existing)
//	(a symbolic link on the way)    none: Failed, logged; nothing is written through it
//	(a key s3ferry does not write)  none: Failed, logged (see KeyPath)
//
// Before the first download, the temporary files an earlier restore left
// below where this one writes, when it was killed, are removed
// (uploader.RemoveLeftovers; counted in Leftovers).
// Downloads run in parallel, as many as the pool adapts to within the
// memory budget, a large file in ranged parts in parallel, and are
// verified (see uploader.Download, uploader.Fetch); a
// file appears only once complete and durable, with the mtime it had when
// uploaded, placed in a batch with others so the sync that makes it
// durable is paid once per batch (uploader.Placer).
// What the bucket says is not trusted: To is opened once, from "/",
// through no symbolic link (beneath.OpenRoot) and written beneath that fd;
// files are written 0600 and given their mode before they appear;
// directories restore creates stay 0700 until every file is in, then get
// the mode their files record for them (dirModes); setuid, setgid and
// write for others are removed unless KeepSpecialBits; an mtime no
// timespec holds is ignored.
type Restore struct {
	Bucket uploader.Bucket
	Prefix string    // the destination's key prefix; empty or ending in "/"
	Under  string    // only paths below this one (relative to Prefix)
	At     time.Time // zero: now, i.e. the current versions
	To     string    // directory to write into (absolute); created 0700 if missing
	// Overwrite replaces files that exist in To.
	Overwrite bool
	// KeepSpecialBits restores setuid, setgid and write for others as the
	// bucket records them (see uploader.Sanitize).
	KeepSpecialBits bool
	// AllowSharedParent accepts a To below a directory another user may
	// change (see beneath.OpenRoot).
	AllowSharedParent bool
	// Pool is how many files are downloaded at once: Workers (0:
	// agent.DefaultWorkers), or with Auto from Workers on, adapting to
	// the rate downloads end at and to throttling as the upload pool
	// does, up to MaxWorkers.
	Pool agent.PoolOptions
	// Download is how a large file is split into ranged parts fetched in
	// parallel (see uploader.Fetch); zero: the defaults.
	Download uploader.DownloadConfig
	// Memory bounds what the downloads in flight hold (see
	// uploader.DownloadConfig.Memory): a download that does not fit waits
	// for one to end. 0: DefaultRestoreMemory.
	Memory      int64
	ListWorkers int // listings at once; 0: uploader.DefaultListWorkers
	Depth       int // levels the listing may split the prefix into; 0: 2
	Logger      *slog.Logger
	// Progress, when set, is called with the running totals every
	// ProgressInterval and once at the end.
	Progress func(RestoreStats)
	// Written, when set, is told the bytes written into files as they
	// land, from many goroutines at once (see uploader.FetchJob.Written):
	// the hook of a byte progress display.
	Written          func(n int64)
	ProgressInterval time.Duration
	// Transfers, when set, is told each version to download as the
	// listing finds it, the bytes of each download as they cross the
	// network (uploader.WithMeter), and each download's end.
	Transfers *agent.Transfers
	// Place is how many finished files are made durable together, and
	// how long one waits for company, before they are placed under their
	// names (see uploader.Placer); zero: the defaults.
	Place uploader.PlacerOptions
	Now   func() time.Time // clock; nil: time.Now
}

// DefaultRestoreMemory is Restore.Memory's default.
const DefaultRestoreMemory int64 = 64 << 20

type restoreRun struct {
	*Restore
	memory  *semaphore.Weighted // Memory
	placer  *uploader.Placer
	to      beneath.Root
	umask   fs.FileMode
	mu      sync.Mutex
	created map[string]dirMode // directories made, and the mode their files record; under mu
	log     *slog.Logger
	now     func() time.Time
	started time.Time

	listed, restored, bytes, existing, deleted, later, failed, sanitized, untrusted, leftovers atomic.Int64
}

// dirMode is what the files restored into a directory record for it.
type dirMode struct {
	mode fs.FileMode // the AND of every recorded mode
	has  bool        // some file recorded one
}

// restoreJob is one version to download.
type restoreJob struct {
	key, rel string
	v        uploader.Version
}

// Run restores. Its error is one that stopped it (listing, a fatal S3
// error, ctx); files that fail alone are counted in Failed and logged.
func (r *Restore) Run(ctx context.Context) (RestoreStats, error) {
	run := &restoreRun{Restore: r, log: r.Logger, now: r.Now}
	if run.now == nil {
		run.now = time.Now
	}
	run.started = run.now()
	if run.log == nil {
		run.log = slog.New(slog.DiscardHandler)
	}
	budget := r.Memory
	if budget <= 0 {
		budget = DefaultRestoreMemory
	}
	run.memory = semaphore.NewWeighted(budget)
	pool := r.Pool
	pool.What = "download concurrency"
	if pool.Logger == nil {
		pool.Logger = run.log
	}
	depth := r.Depth
	if depth <= 0 {
		depth = 2
	}
	// Nothing below the prefix (a typo in it, a key that does not exist)
	// is said before To is created: an empty To would look like a restore.
	if err := r.anything(ctx); err != nil {
		return run.stats(), err
	}
	stop := func() {}
	if r.Progress != nil {
		stop = agent.Every(r.ProgressInterval, func() { r.Progress(run.stats()) })
	}
	list := func(ctx context.Context, send func(restoreJob) error) error {
		return r.Bucket.ListVersions(ctx, r.Prefix+r.Under, uploader.ListOptions{Workers: r.ListWorkers, Depth: depth},
			func(h uploader.History) error {
				rel, ok, err := KeyPath(r.Prefix, h.Key)
				if !ok {
					return nil // a "directory" key, which consoles create
				}
				run.listed.Add(1)
				if err != nil {
					run.failed.Add(1)
					run.log.Error("not restored", "key", h.Key, "err", err)
					return nil
				}
				v, ok, err := h.Latest() // without At: IsLatest, whatever the clocks say
				if !r.At.IsZero() {
					v, ok, err = h.At(r.At)
				}
				if err != nil {
					run.untrusted.Add(1)
					run.log.Error(UntrustedHistory(h.Key, err), "key", h.Key)
					return nil
				}
				if !ok {
					if r.At.IsZero() || !h.Versions[len(h.Versions)-1].LastModified.After(r.At) {
						run.deleted.Add(1)
					} else {
						run.later.Add(1)
					}
					return nil
				}
				if r.Transfers != nil {
					r.Transfers.Found(v.Size)
				}
				return send(restoreJob{key: h.Key, rel: rel, v: v})
			})
	}
	produce := func(ctx context.Context, send func(restoreJob) error) error {
		err := list(ctx, send)
		if r.Transfers != nil {
			r.Transfers.Counted()
		}
		return err
	}
	to, _, err := beneath.OpenRoot(r.To, beneath.RootOptions{Create: true, AllowSharedParent: r.AllowSharedParent})
	if err != nil {
		return run.stats(), fmt.Errorf("restore to %s: %w", r.To, err)
	}
	defer to.Close()
	run.to, run.umask = to, uploader.Umask()
	run.removeLeftovers(ctx)
	run.placer = uploader.NewPlacer(r.Place)
	placed := make(chan struct{})
	go func() {
		defer close(placed)
		run.placer.Run(ctx) // how each file ended is told run.placed
	}()
	err = agent.RunAdaptivePool(ctx, pool, produce, run.download)
	run.placer.Close()
	<-placed
	run.dirModes()
	stop()
	if r.Progress != nil {
		r.Progress(run.stats())
	}
	return run.stats(), err
}

// removeLeftovers removes the temporary files a killed restore left where
// this one writes (below the directory of Under), before any download of
// this one begins: they are never anyone's file, and would stay forever.
// A failure is logged; the restore goes on.
func (r *restoreRun) removeLeftovers(ctx context.Context) {
	dir := r.Under
	if !strings.HasSuffix(dir, "/") {
		dir = path.Dir(dir)
	}
	n, err := uploader.RemoveLeftovers(ctx, r.to, dir)
	r.leftovers.Store(int64(n))
	if n > 0 {
		r.log.Info("removed the temporary files an earlier restore left when it was killed", "files", n, "below", r.to.Join(dir))
	}
	if err != nil && ctx.Err() == nil {
		r.log.Warn("looking for the temporary files of an earlier, killed restore", "below", r.to.Join(dir), "err", err)
	}
}

// UntrustedHistory is the finding for a key whose history is impossible
// (err wraps uploader.ErrImpossibleHistory): the key escaped for a
// terminal, why, and what to do instead of trusting the timestamps.
func UntrustedHistory(key string, err error) string {
	return fmt.Sprintf("%s: not restored: the endpoint's version timestamps cannot be trusted (%v); "+
		"restore this key by its version ID (the versions are listed newest first) or from the replica, "+
		"and report the endpoint: S3 cannot produce this history", local.Printable(key), err)
}

// ErrUncleanKey means a key is not one s3ferry writes: below the prefix
// it has an empty segment ("a//b", "/a"), a "." or a "..". S3 stores
// "a//b", "a/./b" and "a/b" as three keys; restoring them all to a/b would
// let a planted key race the genuine one, so none of them is written.
var ErrUncleanKey = errors.New("not a key s3ferry writes")

// KeyPath maps a key listed below prefix to the path of the file it
// restores (slash-separated, relative to the target directory): the key
// less the prefix, as it is, so no two keys restore to one path. ok is
// false for a key that restores nothing: not below prefix, or a
// "directory" key (ending in "/", which consoles create). A key that is not
// clean ("a//b", "./a", "a/../b", "/a") is an ErrUncleanKey error. Writes
// go beneath the target through no link as well (package beneath): this
// is the second line.
func KeyPath(prefix, key string) (rel string, ok bool, err error) {
	rel, ok = strings.CutPrefix(key, prefix)
	if !ok || rel == "" || strings.HasSuffix(rel, "/") {
		return "", false, nil
	}
	for seg := range strings.SplitSeq(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", true, fmt.Errorf("key %s: %w (an empty, \".\" or \"..\" segment)", strconv.Quote(key), ErrUncleanKey)
		}
	}
	return rel, true, nil
}

// download restores one file, once what it holds fits in the memory
// budget (a version larger than the budget waits for all of it).
func (r *restoreRun) download(ctx context.Context, j restoreJob) (agent.Done, error) {
	need := min(r.Download.Memory(j.v.Size), r.budget())
	if err := r.memory.Acquire(ctx, need); err != nil {
		return agent.Done{}, err
	}
	defer r.memory.Release(need)
	if r.Transfers != nil {
		tr := r.Transfers.Start(j.rel, j.v.Size)
		defer tr.End()
		ctx = uploader.WithMeter(ctx, tr)
	}
	res, err := uploader.Download(ctx, r.Bucket, uploader.DownloadJob{
		Key: j.key, VersionID: j.v.VersionID, Root: r.to, Rel: j.rel, Overwrite: r.Overwrite,
		KeepSpecialBits: r.KeepSpecialBits, DefaultMode: 0o666 &^ r.umask,
		Size: j.v.Size, ETag: j.v.ETag, Config: r.Download, Written: r.Written,
		Placer: r.placer, Placed: func(res uploader.DownloadResult, err error) { r.placed(j, res, err) },
	})
	r.noteDirs(j.rel, res)
	done := agent.Done{Throttled: uploader.ReasonOf(err) == uploader.ReasonThrottled}
	switch {
	case err == nil: // handed to the placer, which tells r.placed
		done.Files, done.Bytes = 1, res.Size
		return done, nil
	case ctx.Err() != nil:
		return done, ctx.Err()
	case uploader.Fatal(err):
		return done, err
	}
	r.placed(j, res, err)
	return done, nil
}

// placed counts and logs how restoring one file ended: err is Download's
// or, once the file was handed to the placer, the placer's.
func (r *restoreRun) placed(j restoreJob, res uploader.DownloadResult, err error) {
	if err == nil && res.Sanitized {
		r.sanitized.Add(1)
		r.log.Debug("restored without setuid, setgid or write for others (--keep-special-bits keeps them)", "key", j.key, "mode", res.Perm.Mode.String())
	}
	if err == nil && res.BadMtime != "" {
		r.log.Warn("its recorded mtime is out of range (before 1678 or after 2262) and was ignored; the file has the object's date", "key", j.key, "mtime", res.BadMtime)
	}
	switch {
	case err == nil:
		r.restored.Add(1)
		r.bytes.Add(res.Size)
		r.log.Debug("restored", "key", j.key, "version", j.v.VersionID, "bytes", res.Size, "parts", res.Parts, "checked", strings.Join(res.Checked, ","))
	case errors.Is(err, fs.ErrExist):
		r.existing.Add(1)
		r.log.Debug("exists, left alone (--overwrite replaces it)", "path", j.rel)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// the run is ending: not restored, and not a failure of this file
	case errors.Is(err, beneath.ErrSymlink):
		r.failed.Add(1)
		r.log.Error("not restored: a symbolic link is on its way in the target directory; nothing was written through it", "key", j.key, "err", err)
	default:
		r.failed.Add(1)
		r.log.Error("restore failed", "key", j.key, "version", j.v.VersionID, "reason", uploader.ReasonOf(err), "err", err)
	}
}

// budget is the memory budget's size.
func (r *restoreRun) budget() int64 {
	if r.Memory <= 0 {
		return DefaultRestoreMemory
	}
	return r.Memory
}

// noteDirs records the directories a download created, and the mode the
// object says its directory had.
func (r *restoreRun) noteDirs(rel string, res uploader.DownloadResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.created == nil {
		r.created = map[string]dirMode{}
	}
	for _, d := range res.Created {
		if _, ok := r.created[d]; !ok {
			r.created[d] = dirMode{}
		}
	}
	if dir := path.Dir(rel); res.Perm.HasDirMode && dir != "." {
		if m, ok := r.created[dir]; ok {
			if !m.has {
				m = dirMode{mode: res.Perm.DirMode, has: true}
			}
			m.mode &= res.Perm.DirMode
			r.created[dir] = m
		}
	}
}

// dirModes gives each directory the restore created (0700 until now) its
// mode, deepest first, once every file is in it (a 0500 directory would
// refuse them). The mode is one decision per directory, whatever order
// the files came in:
//
//	files restored into it          its mode
//	some record a directory mode    the AND of them (the narrowest), less what
//	                                uploader.Sanitize removes unless KeepSpecialBits
//	none records one                0777 less the umask
//
// A failure is logged and counted.
func (r *restoreRun) dirModes() {
	dirs := slices.Collect(maps.Keys(r.created))
	slices.SortFunc(dirs, func(a, b string) int {
		return cmp.Or(strings.Count(b, "/")-strings.Count(a, "/"), strings.Compare(a, b))
	})
	for _, d := range dirs {
		m := r.created[d]
		mode := 0o777 &^ r.umask
		if m.has {
			mode = m.mode
			if !r.KeepSpecialBits {
				var removed bool
				if mode, removed = uploader.Sanitize(mode, true); removed {
					r.sanitized.Add(1)
					r.log.Debug("restored directory without setuid, setgid or write for others (--keep-special-bits keeps them)", "path", d, "recorded", m.mode.String())
				}
			}
		}
		if err := r.to.Chmod(d, mode); err != nil {
			r.failed.Add(1)
			r.log.Error("restored directory keeps mode 0700", "path", d, "mode", mode.String(), "err", err)
		}
	}
}

func (r *restoreRun) stats() RestoreStats {
	return RestoreStats{
		Listed: r.listed.Load(), Restored: r.restored.Load(), Bytes: r.bytes.Load(), Existing: r.existing.Load(),
		Deleted: r.deleted.Load(), Later: r.later.Load(), Failed: r.failed.Load(), Sanitized: r.sanitized.Load(),
		Untrusted: r.untrusted.Load(), Leftovers: r.leftovers.Load(),
		Seconds: r.now().Sub(r.started).Seconds(),
	}
}

// errStopListing ends a listing once it found what it looked for.
var errStopListing = errors.New("stop listing")

// anything returns a *NothingToRestoreError when no key has any version
// below Prefix+Under: one listing request (of S3's default page: VersityGW
// pages wrongly when pages are small), not the whole listing.
func (r *Restore) anything(ctx context.Context) error {
	err := r.Bucket.ListVersions(ctx, r.Prefix+r.Under, uploader.ListOptions{Workers: 1}, func(uploader.History) error {
		return errStopListing
	})
	switch {
	case errors.Is(err, errStopListing):
		return nil
	case err != nil:
		return err
	}
	found, err := TopPrefixes(ctx, r.Bucket, r.Prefix, maxHints)
	if err != nil {
		found = nil // the hint is a courtesy; the finding stands
	}
	return &NothingToRestoreError{Bucket: r.Bucket.Name(), Prefix: r.Prefix, Under: r.Under, Found: found}
}

// maxHints is how many of the names found a NothingToRestoreError lists.
const maxHints = 10

// NothingToRestoreError is a restore whose prefix holds no key: Found
// lists (some of) the names right below the destination's prefix.
type NothingToRestoreError struct {
	Bucket, Prefix, Under string
	Found                 []string
}

func (e *NothingToRestoreError) Error() string {
	where := "s3://" + e.Bucket + "/" + e.Prefix + e.Under
	if len(e.Found) == 0 {
		return fmt.Sprintf("nothing to restore: no key below %s, and none below s3://%s/%s: check the destination", local.Printable(where), e.Bucket, local.Printable(e.Prefix))
	}
	q := make([]string, len(e.Found))
	for i, f := range e.Found {
		q[i] = strconv.Quote(f)
	}
	more := ""
	if len(e.Found) == maxHints {
		more = ", ..."
	}
	return fmt.Sprintf("nothing to restore: no key below %s; below s3://%s/%s there are %s%s: check --prefix", local.Printable(where), e.Bucket, local.Printable(e.Prefix), strings.Join(q, ", "), more)
}

// TopPrefixes returns up to max of the names right below prefix, in
// order, when b can list them in one request (uploader.PrefixLister);
// otherwise none.
func TopPrefixes(ctx context.Context, b uploader.Bucket, prefix string, max int) ([]string, error) {
	l, ok := b.(uploader.PrefixLister)
	if !ok {
		return nil, nil
	}
	return l.ListPrefixes(ctx, prefix, max)
}
