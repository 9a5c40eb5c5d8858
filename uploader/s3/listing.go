package s3

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/uploader"
)

// A bucket of ten million objects takes 10,000 ListObjectsV2 pages; one
// after the other that is most of an hour. The listing below splits the key
// space at "/" into parts and lists them concurrently: it lists the prefix
// with delimiter "/" to learn its subdirectories, then theirs, level by
// level, until there are enough parts to keep the workers busy (or the
// layout's partition depth is reached), and then lists each part in full.
// Every key is listed exactly once: the objects found at a level while
// discovering it are passed on, and the parts below never overlap.

// listFunc lists every item below prefix, all pages, calling emit for each
// in key order. With delimiter "/" it lists only the level right below
// prefix and passes each subdirectory (common prefix) to dir.
type listFunc[T any] func(ctx context.Context, prefix, delimiter string, emit func(T) error, dir func(string)) error

// listParallel lists everything below prefix with list, as described above.
// emit is called from several goroutines at once, each with the items of
// one part in key order; an error from it stops the listing.
func listParallel[T any](ctx context.Context, list listFunc[T], prefix string, opts uploader.ListOptions, emit func(T) error) error {
	workers := opts.Workers
	if workers <= 0 {
		workers = uploader.DefaultListWorkers
	}
	target := 4 * workers // parts enough to even out their sizes
	frontier := []string{prefix}
	for level := 0; level < opts.Depth && len(frontier) < target; level++ {
		var (
			mu   sync.Mutex
			next []string
		)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(workers)
		for _, p := range frontier {
			g.Go(func() error {
				return list(gctx, p, "/", emit, func(d string) {
					mu.Lock()
					next = append(next, d)
					mu.Unlock()
				})
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		slices.Sort(next)
		frontier = next
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, p := range frontier {
		g.Go(func() error { return list(gctx, p, "", emit, nil) })
	}
	return g.Wait()
}

func (b *s3Bucket) List(ctx context.Context, prefix string, opts uploader.ListOptions, emit func(uploader.Object) error) error {
	return listParallel(ctx, b.listObjects(opts.PageSize), prefix, opts, emit)
}

func (b *s3Bucket) ListVersions(ctx context.Context, prefix string, opts uploader.ListOptions, emit func(uploader.History) error) error {
	return listParallel(ctx, b.listVersions(opts.PageSize), prefix, opts, emit)
}

// listObjects is the listFunc of current objects; pageSize 0 is S3's
// default (and largest), 1,000.
func (b *s3Bucket) listObjects(pageSize int32) listFunc[uploader.Object] {
	bucket := b.name
	return func(ctx context.Context, prefix, delimiter string, emit func(uploader.Object) error, dir func(string)) error {
		in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
		if pageSize > 0 {
			in.MaxKeys = aws.Int32(pageSize)
		}
		if delimiter != "" {
			in.Delimiter = aws.String(delimiter)
		}
		pages := s3.NewListObjectsV2Paginator(b.client, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
			}
			for _, o := range page.Contents {
				err := emit(uploader.Object{
					Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size),
					ETag: trimETag(o.ETag), LastModified: aws.ToTime(o.LastModified),
				})
				if err != nil {
					return err
				}
			}
			for _, p := range page.CommonPrefixes {
				dir(aws.ToString(p.Prefix))
			}
		}
		return nil
	}
}

// listVersions is the listFunc of key histories. ListObjectVersions sends
// versions and delete markers as two lists, each by key and newest first;
// they are merged back into one history per key, which may span pages.
func (b *s3Bucket) listVersions(pageSize int32) listFunc[uploader.History] {
	bucket := b.name
	return func(ctx context.Context, prefix, delimiter string, emit func(uploader.History) error, dir func(string)) error {
		in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
		if pageSize > 0 {
			in.MaxKeys = aws.Int32(pageSize)
		}
		if delimiter != "" {
			in.Delimiter = aws.String(delimiter)
		}
		var cur uploader.History
		pages := s3.NewListObjectVersionsPaginator(b.client, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list versions of s3://%s/%s: %w", bucket, prefix, err)
			}
			type entry struct {
				key string
				v   uploader.Version
			}
			var entries []entry
			for _, o := range page.Versions {
				entries = append(entries, entry{aws.ToString(o.Key), uploader.Version{
					VersionID: aws.ToString(o.VersionId), Latest: aws.ToBool(o.IsLatest), Size: aws.ToInt64(o.Size),
					ETag: trimETag(o.ETag), LastModified: aws.ToTime(o.LastModified),
				}})
			}
			for _, d := range page.DeleteMarkers {
				entries = append(entries, entry{aws.ToString(d.Key), uploader.Version{
					VersionID: aws.ToString(d.VersionId), Deleted: true, Latest: aws.ToBool(d.IsLatest),
					LastModified: aws.ToTime(d.LastModified),
				}})
			}
			// By key, then newest first; the latest version wins a tie of
			// timestamps (S3 has millisecond ones).
			slices.SortStableFunc(entries, func(a, b entry) int {
				if c := strings.Compare(a.key, b.key); c != 0 {
					return c
				}
				if c := b.v.LastModified.Compare(a.v.LastModified); c != 0 {
					return c
				}
				return cmp.Compare(boolInt(b.v.Latest), boolInt(a.v.Latest))
			})
			for _, e := range entries {
				if e.key != cur.Key && len(cur.Versions) > 0 {
					if err := emit(cur); err != nil {
						return err
					}
					cur = uploader.History{}
				}
				cur.Key = e.key
				cur.Versions = append(cur.Versions, e.v)
			}
			for _, p := range page.CommonPrefixes {
				dir(aws.ToString(p.Prefix))
			}
		}
		if len(cur.Versions) > 0 {
			return emit(cur)
		}
		return nil
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
