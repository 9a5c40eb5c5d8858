package s3_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// versityPages are two pages of ListObjectVersions as VersityGW answers
// them: "a" written at 10 and overwritten at 30 (both listed at 30); "c"
// written at 40 and deleted at 50 (the marker listed at 40, the version
// at 50); "d" written at 55 and 60, its history across the two pages.
// IsLatest and the order are S3's; the times are not.
var versityPages = map[string]string{
	"": `<Version><Key>a</Key><VersionId>a2</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-22T08:30:00.000Z</LastModified><ETag>"e2"</ETag><Size>3</Size></Version>` +
		`<Version><Key>a</Key><VersionId>a1</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-22T08:30:00.000Z</LastModified><ETag>"e1"</ETag><Size>3</Size></Version>` +
		`<DeleteMarker><Key>c</Key><VersionId>dm</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-22T08:40:00.000Z</LastModified></DeleteMarker>` +
		`<Version><Key>c</Key><VersionId>c1</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-22T08:50:00.000Z</LastModified><ETag>"e3"</ETag><Size>3</Size></Version>` +
		`<Version><Key>d</Key><VersionId>d2</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-22T09:00:00.000Z</LastModified><ETag>"e5"</ETag><Size>3</Size></Version>` +
		`<IsTruncated>true</IsTruncated><NextKeyMarker>d</NextKeyMarker><NextVersionIdMarker>d2</NextVersionIdMarker>`,
	"d": `<Version><Key>d</Key><VersionId>d1</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-22T09:00:00.000Z</LastModified><ETag>"e4"</ETag><Size>3</Size></Version>` +
		`<IsTruncated>false</IsTruncated>`,
}

// TestListVersionsKeepsServerOrder: each key's history is in the order the
// server listed it, across pages, not re-sorted by LastModified; so the
// current version is the one the server marks, and the history S3 cannot
// produce is caught by Check.
func TestListVersionsKeepsServerOrder(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := versityPages[r.URL.Query().Get("key-marker")]
		if !ok {
			http.Error(w, "no such page", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><MaxKeys>3</MaxKeys><EncodingType>url</EncodingType>%s</ListVersionsResult>`, page)
	}))
	t.Cleanup(srv.Close)
	c, err := s3.NewClient(context.Background(), s3.Config{EndpointURL: srv.URL, PathStyle: true, Region: "us-east-1"}, s3test.StaticCredentials("k", "secret-key"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uploader.History{}
	err = c.Bucket("b").ListVersions(context.Background(), "", uploader.ListOptions{Workers: 1}, func(h uploader.History) error {
		got[h.Key] = h
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(h uploader.History) []string {
		var ids []string
		for _, v := range h.Versions {
			ids = append(ids, v.VersionID)
		}
		return ids
	}
	if ids := ids(got["a"]); !slices.Equal(ids, []string{"a2", "a1"}) {
		t.Errorf("history of a = %q, want [a2 a1]", ids)
	}
	if ids := ids(got["c"]); !slices.Equal(ids, []string{"dm", "c1"}) {
		t.Errorf("history of c = %q, want [dm c1], as listed", ids)
	}
	if ids := ids(got["d"]); !slices.Equal(ids, []string{"d2", "d1"}) {
		t.Errorf("history of d = %q, want [d2 d1], across the pages", ids)
	}
	if v, ok, err := got["a"].Latest(); err != nil || !ok || v.VersionID != "a2" {
		t.Errorf("Latest of a = %q, %v, %v; want a2", v.VersionID, ok, err)
	}
	if v, ok, err := got["c"].Latest(); err != nil || ok {
		t.Errorf("Latest of c = %q, %v, %v; want deleted", v.VersionID, ok, err)
	}
	if err := got["c"].Check(); !errors.Is(err, uploader.ErrImpossibleHistory) {
		t.Errorf("Check of c = %v, want ErrImpossibleHistory (a noncurrent version newer than the current marker)", err)
	}
}
