package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestListParallelListsEveryKeyOnce lists trees of several shapes with
// several depths and page sizes, and compares with one sequential listing.
func TestListParallelListsEveryKeyOnce(t *testing.T) {
	srv := s3test.Start(t)
	c := srv.Client(t)
	client := c.SDK()
	bucket := srv.NewBucket(t, true)
	ctx := context.Background()
	var keys []string
	for d := range 6 {
		for a := range 3 {
			for f := range 4 {
				keys = append(keys, fmt.Sprintf("rec/2026-11-%02d/agent%d/call-%d.wav", 10+d, a, f))
			}
		}
	}
	keys = append(keys,
		"rec/top.txt",                    // a file beside the partitions
		"rec/2026-11-10/loose.wav",       // a file beside the agent directories
		"rec/deep/a/b/c/d/e.wav",         // deeper than any discovery
		"rec/2026-11-10/agent0/",         // a "directory" object
		"other/not-below-the-prefix.wav", // outside the prefix
		"rec-sibling/x.wav",              // shares the prefix's letters, not its directory
	)
	for _, k := range keys {
		put(t, client, bucket, k, k)
	}
	want := sequentialKeys(t, client, bucket, "rec/")

	for _, tt := range []struct {
		depth, workers int
		pageSize       int32
	}{
		{0, 4, 0}, {1, 4, 0}, {2, 2, 5}, {3, 16, 3}, {6, 1, 2},
	} {
		t.Run(fmt.Sprintf("depth %d workers %d page %d", tt.depth, tt.workers, tt.pageSize), func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			b := c.Bucket(bucket)
			err := b.List(ctx, "rec/", uploader.ListOptions{Workers: tt.workers, Depth: tt.depth, PageSize: tt.pageSize},
				func(o uploader.Object) error {
					mu.Lock()
					got = append(got, o.Key)
					mu.Unlock()
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("got %d keys, want %d:\ngot  %q\nwant %q", len(got), len(want), got, want)
			}
		})
	}
}

// TestListVersionsHistories checks that versions and delete markers come
// back as one history per key, newest first, also when a key's versions
// span pages.
func TestListVersionsHistories(t *testing.T) {
	srv := s3test.Start(t)
	c := srv.Client(t)
	client := c.SDK()
	bucket := srv.NewBucket(t, true)
	ctx := context.Background()
	put(t, client, bucket, "p/a", "a1")
	put(t, client, bucket, "p/a", "a2")
	del(t, client, bucket, "p/a")
	put(t, client, bucket, "p/a", "a3")
	put(t, client, bucket, "p/b", "b1")
	del(t, client, bucket, "p/b")
	put(t, client, bucket, "p/c/d", "d1")

	for _, pageSize := range []int32{0, 1, 2} {
		var mu sync.Mutex
		got := map[string][]string{}
		b := c.Bucket(bucket)
		err := b.ListVersions(ctx, "p/", uploader.ListOptions{Workers: 2, Depth: 2, PageSize: pageSize},
			func(h uploader.History) error {
				var desc []string
				for _, v := range h.Versions {
					if v.Deleted {
						desc = append(desc, "deleted")
					} else {
						desc = append(desc, fmt.Sprint(v.Size))
					}
				}
				mu.Lock()
				defer mu.Unlock()
				if _, dup := got[h.Key]; dup {
					t.Errorf("page size %d: key %s emitted twice", pageSize, h.Key)
				}
				got[h.Key] = desc
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{
			"p/a":   {"2", "deleted", "2", "2"},
			"p/b":   {"deleted", "2"},
			"p/c/d": {"2"},
		}
		for k, w := range want {
			if !slices.Equal(got[k], w) {
				t.Errorf("page size %d: history of %s = %v, want %v", pageSize, k, got[k], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("page size %d: %d keys, want %d", pageSize, len(got), len(want))
		}
	}
}

func put(tb testing.TB, client *s3.Client, bucket, key, body string) {
	tb.Helper()
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(body)),
	})
	if err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

func del(tb testing.TB, client *s3.Client, bucket, key string) {
	tb.Helper()
	if _, err := client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		tb.Fatalf("delete %s: %v", key, err)
	}
}

// sequentialKeys lists prefix with one plain paginated loop.
func sequentialKeys(tb testing.TB, client *s3.Client, bucket, prefix string) []string {
	tb.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys
}
