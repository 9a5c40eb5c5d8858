package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// found is a file a walk came across: its path relative to the source root
// and what stat said of it (lstat, or stat for a followed link).
type found struct {
	rel  string
	info fs.FileInfo
	// rec is the index's record of the file, read with those of the
	// directory's other files; indexed says the walk read one.
	rec     index.Record
	indexed bool
}

// candidate is the file as the pipeline considers it.
func (f found) candidate(src *local.Source) Candidate {
	return Candidate{Source: src, Path: f.rel, Info: f.info, rec: f.rec, indexed: f.indexed}
}

// walkBatch is how many of a directory's files a walk stats, and reads the
// records of, before it visits them: few enough to bound memory in a
// directory of millions, many enough that one index read serves many files.
const walkBatch = 1024

// walker lists a source's files. It reads directories, stat and, with idx,
// the index records of the files it finds: deciding what to do with a file
// is the pipeline's job.
type walker struct {
	src *local.Source
	// idx, when set, is read for each directory's files at once (one
	// GetMany instead of a Get per file), so visit gets found.rec.
	idx index.Store
	// visit is called for every regular file the filter admits.
	visit func(ctx context.Context, f found) error
	// skip is called for everything passed over: excluded, a link not
	// followed, a special file. It counts; it is not an error.
	skip func(rel string)
	// fail is called for a directory that cannot be read.
	fail func(rel string, err error)
	// flat walks a directory's files, not its subdirectories (the retry
	// pass, which looks again at the files beside one it passed over).
	flat bool
	// seen holds the directories entered through links, against loops.
	seen map[local.FileID]bool
	// paths is visitAll's buffer.
	paths []string
}

// tree walks the directory rel (relative to the root; "" is the root) and
// everything below it.
//
// The files of a directory are visited first, then its subdirectories, the
// most recently changed first: a directory's mtime moves when a file is
// added, so new files are found, and their uploads start, early in a walk.
func (w *walker) tree(ctx context.Context, rel string) error {
	dir, entries, err := w.readDir(rel)
	if err != nil || dir == nil {
		return err
	}
	defer dir.Close()
	var subdirs, files []found
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		child := path.Join(rel, e.Name())
		info, err := dir.Lstat(e.Name()) // relative to the directory's fd: no link on the way
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			w.fail(child, err)
			continue
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			if !w.src.FollowSymlinks {
				w.skip(child)
				continue
			}
			if info, err = dir.Stat(e.Name()); err != nil {
				w.skip(child) // a dangling link has nothing to back up
				continue
			}
			if info.IsDir() && w.visited(info) {
				w.skip(child)
				continue
			}
		}
		switch {
		case info.IsDir():
			if !w.src.Filter.Dir(child) {
				w.skip(child)
				continue
			}
			subdirs = append(subdirs, found{rel: child, info: info})
		case info.Mode().IsRegular():
			if !w.src.Filter.FileInWalk(child) {
				w.skip(child)
				continue
			}
			files = append(files, found{rel: child, info: info})
			if len(files) == walkBatch {
				if err := w.visitAll(ctx, files); err != nil {
					return err
				}
				files = files[:0]
			}
		default:
			w.skip(child) // sockets, FIFOs, devices: opening a FIFO would hang
		}
	}
	if err := w.visitAll(ctx, files); err != nil {
		return err
	}
	if w.flat {
		return nil
	}
	slices.SortStableFunc(subdirs, func(a, b found) int { return b.info.ModTime().Compare(a.info.ModTime()) })
	for _, d := range subdirs {
		if err := w.tree(ctx, d.rel); err != nil {
			return err
		}
	}
	return nil
}

// visitAll visits files, found in one directory in name order, after
// reading their records from the index, when the walker has one.
func (w *walker) visitAll(ctx context.Context, files []found) error {
	if w.idx != nil && len(files) > 0 {
		w.paths = w.paths[:0]
		for _, f := range files {
			w.paths = append(w.paths, f.rel)
		}
		err := w.idx.GetMany(w.src.ID(), w.paths, func(i int, r index.Record, ok bool) error {
			files[i].rec, files[i].indexed = r, ok
			return nil
		})
		if err != nil {
			return fmt.Errorf("read index for %s: %w", path.Dir(files[0].rel), err)
		}
	}
	for _, f := range files {
		if err := w.visit(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// visited says whether the directory info, reached through a link, was
// entered before, and marks it entered. The root counts as entered, so a
// link back to it (x/loop -> ..) does not walk the tree twice.
func (w *walker) visited(info fs.FileInfo) bool {
	if w.seen == nil {
		w.seen = map[local.FileID]bool{}
		if root, err := w.src.Stat(""); err == nil {
			w.seen[local.IDOf(root)] = true
		}
	}
	id := local.IDOf(info)
	if w.seen[id] {
		return true
	}
	w.seen[id] = true
	return false
}

// readDir opens and lists the directory rel, beneath the root (through no
// link, unless the source follows them); the caller closes dir. Only an
// unreadable root is an error; any other directory that cannot be read is
// reported through fail, and one removed during the walk (dir nil) simply
// held nothing to back up.
func (w *walker) readDir(rel string) (dir *beneath.Dir, entries []fs.DirEntry, err error) {
	dir, err = w.src.Tree().OpenDir(rel)
	if err == nil {
		if entries, err = dir.ReadDir(); err == nil {
			return dir, entries, nil
		}
		dir.Close()
	}
	if rel == "" {
		return nil, nil, fmt.Errorf("read source %s: %w (check the path, and that s3ferry may read it)", w.src.Root, err)
	}
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, beneath.ErrSymlink) {
		w.fail(rel, err) // a directory swapped for a link is passed over like a removed one
	}
	return nil, nil, nil
}

// partitions walks only the partition directories that end after from, as
// the source's layout names them, and every file below those.
func (w *walker) partitions(ctx context.Context, from time.Time, loc *time.Location) error {
	return w.level(ctx, 0, "", "", from, loc)
}

func (w *walker) level(ctx context.Context, depth int, rel, dated string, from time.Time, loc *time.Location) error {
	if depth == w.src.Layout.Depth() {
		return w.tree(ctx, rel)
	}
	dir, entries, err := w.readDir(rel)
	if err != nil || dir == nil {
		return err
	}
	defer dir.Close()
	type partition struct {
		rel, dated string
		start      time.Time
	}
	var inside []partition
	for _, e := range entries {
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 && w.src.FollowSymlinks {
			info, err := dir.Stat(e.Name())
			isDir = err == nil && info.IsDir()
		}
		if !isDir {
			continue // files above the partitions are seen by full walks
		}
		child := path.Join(rel, e.Name())
		if !w.src.Filter.Dir(child) {
			continue
		}
		d := dated
		if !w.src.Layout.Wildcard(depth) {
			d = path.Join(dated, e.Name())
		}
		start, in, ok := w.src.Layout.Match(depth, d, from, loc)
		if ok && in {
			inside = append(inside, partition{child, d, start})
		}
	}
	// Newest first: new files are most likely in today's partition, and
	// their uploads then overlap the walk of the older ones.
	slices.SortStableFunc(inside, func(a, b partition) int { return b.start.Compare(a.start) })
	for _, p := range inside {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.level(ctx, depth+1, p.rel, p.dated, from, loc); err != nil {
			return err
		}
	}
	return nil
}
