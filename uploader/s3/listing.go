package s3

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
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

// ListPrefixes implements uploader.PrefixLister with one
// ListObjectVersions request, delimiter "/".
func (b *s3Bucket) ListPrefixes(ctx context.Context, prefix string, max int) ([]string, error) {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(b.name), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
		EncodingType: types.EncodingTypeUrl, MaxKeys: aws.Int32(int32(max))}
	page, err := b.client.ListObjectVersions(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("list s3://%s/%s: %w", b.name, prefix, err)
	}
	seen := map[string]bool{}
	add := func(raw *string) {
		if k, ok := decodeKey(b.name, raw, page.EncodingType); ok && strings.HasPrefix(k, prefix) && k != prefix {
			seen[strings.TrimPrefix(k, prefix)] = true
		}
	}
	for _, p := range page.CommonPrefixes {
		add(p.Prefix)
	}
	for _, v := range page.Versions {
		add(v.Key)
	}
	for _, d := range page.DeleteMarkers {
		add(d.Key)
	}
	names := slices.Sorted(maps.Keys(seen))
	return names[:min(len(names), max)], nil
}

// listObjects is the listFunc of current objects; pageSize 0 is S3's
// default (and largest), 1,000.
func (b *s3Bucket) listObjects(pageSize int32) listFunc[uploader.Object] {
	bucket := b.name
	return func(ctx context.Context, prefix, delimiter string, emit func(uploader.Object) error, dir func(string)) error {
		in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), EncodingType: types.EncodingTypeUrl}
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
				key, ok := decodeKey(bucket, o.Key, page.EncodingType)
				if !ok {
					continue
				}
				err := emit(uploader.Object{
					Key: key, Size: aws.ToInt64(o.Size),
					ETag: trimETag(o.ETag), LastModified: aws.ToTime(o.LastModified),
				})
				if err != nil {
					return err
				}
			}
			for _, p := range page.CommonPrefixes {
				if d, ok := decodeKey(bucket, p.Prefix, page.EncodingType); ok {
					dir(d)
				}
			}
		}
		return nil
	}
}

// listVersions is the listFunc of key histories, each in the order the
// server listed its entries: by key, newest first, a history possibly
// spanning pages (the parts of listParallel share no key). The SDK parses
// an answer's versions and delete markers into two lists, which loses how
// they interleave; the answer's own order is read again from its body
// (versionOrder), never rebuilt from LastModified, which some endpoints
// (VersityGW) shift: the server's IsLatest and order are what
// uploader.History.Check judges the times by.
func (b *s3Bucket) listVersions(pageSize int32) listFunc[uploader.History] {
	bucket := b.name
	return func(ctx context.Context, prefix, delimiter string, emit func(uploader.History) error, dir func(string)) error {
		in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix), EncodingType: types.EncodingTypeUrl}
		if pageSize > 0 {
			in.MaxKeys = aws.Int32(pageSize)
		}
		if delimiter != "" {
			in.Delimiter = aws.String(delimiter)
		}
		var (
			cur   uploader.History
			order versionOrder
		)
		// Not the SDK's paginator: it would send NextKeyMarker back as it
		// came, url-encoded, where S3 takes the key itself.
		for more := true; more; {
			page, err := b.client.ListObjectVersions(ctx, in, order.capture)
			if err != nil {
				return fmt.Errorf("list versions of s3://%s/%s: %w", bucket, prefix, err)
			}
			more, err = nextMarker(aws.ToBool(page.IsTruncated), page.NextKeyMarker, page.NextVersionIdMarker, page.EncodingType, &in.KeyMarker, &in.VersionIdMarker)
			if err != nil {
				return fmt.Errorf("list versions of s3://%s/%s: %w", bucket, prefix, err)
			}
			pos, err := order.positions()
			if err != nil {
				return fmt.Errorf("list versions of s3://%s/%s: %w", bucket, prefix, err)
			}
			type entry struct {
				key string
				pos int
				v   uploader.Version
			}
			var entries []entry
			missing := 0
			at := func(raw *string, id *string, marker bool) int {
				p, ok := pos[listedEntry{aws.ToString(raw), aws.ToString(id), marker}]
				if !ok {
					missing++
				}
				return p
			}
			for _, o := range page.Versions {
				key, ok := decodeKey(bucket, o.Key, page.EncodingType)
				if !ok {
					continue
				}
				entries = append(entries, entry{key, at(o.Key, o.VersionId, false), uploader.Version{
					VersionID: aws.ToString(o.VersionId), Latest: aws.ToBool(o.IsLatest), Size: aws.ToInt64(o.Size),
					ETag: trimETag(o.ETag), LastModified: aws.ToTime(o.LastModified),
				}})
			}
			for _, d := range page.DeleteMarkers {
				key, ok := decodeKey(bucket, d.Key, page.EncodingType)
				if !ok {
					continue
				}
				entries = append(entries, entry{key, at(d.Key, d.VersionId, true), uploader.Version{
					VersionID: aws.ToString(d.VersionId), Deleted: true, Latest: aws.ToBool(d.IsLatest),
					LastModified: aws.ToTime(d.LastModified),
				}})
			}
			if missing > 0 {
				return fmt.Errorf("list versions of s3://%s/%s: %d entries of the answer not found in its body", bucket, prefix, missing)
			}
			slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.pos, b.pos) })
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
				if d, ok := decodeKey(bucket, p.Prefix, page.EncodingType); ok {
					dir(d)
				}
			}
		}
		if len(cur.Versions) > 0 {
			return emit(cur)
		}
		return nil
	}
}

// versionOrder keeps the body of the last ListObjectVersions answer of a
// listing (capture), to read the order of its entries (positions).
type versionOrder struct {
	body bytes.Buffer
}

// listedEntry names one entry of an answer as it came: the url-encoded
// key, the version ID, and whether it is a delete marker.
type listedEntry struct {
	key, versionID string
	marker         bool
}

// capture is an option of ListObjectVersions that copies the answer's
// body into o.body as the SDK's deserializer reads it, each attempt's
// afresh.
func (o *versionOrder) capture(opts *s3.Options) {
	opts.APIOptions = append(opts.APIOptions, func(stack *middleware.Stack) error {
		return stack.Deserialize.Insert(middleware.DeserializeMiddlewareFunc("s3ferry:ListingOrder",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Body != nil {
					o.body.Reset()
					resp.Body = struct {
						io.Reader
						io.Closer
					}{io.TeeReader(resp.Body, &o.body), resp.Body}
				}
				return out, md, err
			}), "OperationDeserializer", middleware.After)
	})
}

// positions reads the captured body: each Version and DeleteMarker's
// place in the answer.
func (o *versionOrder) positions() (map[listedEntry]int, error) {
	var doc struct {
		Entries []struct {
			XMLName   xml.Name
			Key       string
			VersionID string `xml:"VersionId"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(o.body.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("read the order of the answer: %w", err)
	}
	pos := make(map[listedEntry]int, len(doc.Entries))
	for i, e := range doc.Entries {
		switch e.XMLName.Local {
		case "Version", "DeleteMarker":
			pos[listedEntry{e.Key, e.VersionID, e.XMLName.Local == "DeleteMarker"}] = i
		}
	}
	return pos, nil
}

// Every listing asks for url-encoded keys (EncodingType=url): S3's XML 1.0
// cannot carry most control characters, so a single key holding U+0007
// made the whole page fail to parse, and ESC or U+0008 came back as
// U+FFFD, a key that does not exist. The SDK decodes nothing of it: the
// keys, common prefixes and key markers of an answer are decoded here,
// with S3's encoding ('+' is a space). Continuation tokens, version and
// upload ID markers are not encoded.

// Only an answer that says it is encoded (its EncodingType is url, as S3
// echoes the request's) is decoded: VersityGW and SeaweedFS answer the
// keys as they are, and decoding those would turn a '+' into a space and
// "%41" into "A". Such stores cannot list a control character at all.

// decodeKey decodes a key of a listing whose answer's encoding is enc. A
// key that does not decode (a store that encoded it wrong) is logged by
// name, quoted, and left out: one bad key must not stop the listing of the
// rest.
func decodeKey(bucket string, encoded *string, enc types.EncodingType) (string, bool) {
	if enc != types.EncodingTypeUrl {
		return aws.ToString(encoded), true
	}
	key, err := url.QueryUnescape(aws.ToString(encoded))
	if err != nil {
		slog.Warn("listing: a key that cannot be decoded is left out", "bucket", bucket, "key", aws.ToString(encoded), "err", err)
		return "", false
	}
	return key, true
}

// nextMarker sets the markers of the next request of a listing paged by
// key marker from an answer's (keyMarker url-encoded when enc says so),
// and says whether there is a next page.
func nextMarker(truncated bool, nextKey, nextID *string, enc types.EncodingType, keyMarker, idMarker **string) (bool, error) {
	if !truncated {
		return false, nil
	}
	key := aws.ToString(nextKey)
	if enc == types.EncodingTypeUrl {
		var err error
		if key, err = url.QueryUnescape(key); err != nil {
			return false, fmt.Errorf("next key marker %q: %w", aws.ToString(nextKey), err)
		}
	}
	if key == "" && aws.ToString(nextID) == "" || key == aws.ToString(*keyMarker) && aws.ToString(nextID) == aws.ToString(*idMarker) {
		return false, fmt.Errorf("truncated answer without a new marker after %q", key)
	}
	*keyMarker, *idMarker = aws.String(key), nextID
	return true, nil
}
