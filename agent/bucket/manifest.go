package bucket

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

// ManifestStats counts what Manifest wrote.
type ManifestStats struct {
	Bucket  string `json:"bucket"`
	Objects int64  `json:"objects"` // rows written
	Later   int64  `json:"later"`   // uploaded at or after Before, left out
}

// Manifest writes an S3 Batch Operations manifest (format
// S3BatchOperations_CSV_20180820, fields Bucket, Key, VersionId) of the
// objects the index records as uploaded: the input of an S3 Batch
// Replication job that copies objects written before replication was
// turned on to the replica. It reads only the index, never the bucket.
//
// Keys are URL-encoded, as the format requires; every byte but letters,
// digits and -_.~/ is %XX, so decoders that read "+" as a space and those
// that do not agree. A version ID is "null" for an object written while
// versioning was off, which is what S3 calls it.
type Manifest struct {
	Sources []*local.Source // all in one bucket: a manifest lists one
	Index   index.Store
	Before  time.Time // zero: every object; else only those uploaded before it
	Out     io.Writer
	// ReplicationFailed lists instead the versions whose replication
	// FAILED and that s3ferry could not send again (their files gone or
	// changed): the input of a Batch Replication job that retries them.
	ReplicationFailed bool
}

// Run writes the manifest.
func (m *Manifest) Run(ctx context.Context) (ManifestStats, error) {
	var st ManifestStats
	for _, src := range m.Sources {
		if st.Bucket == "" {
			st.Bucket = src.Bucket
		}
		if src.Bucket != st.Bucket {
			return st, fmt.Errorf("sources back up to buckets %s and %s, and a manifest lists one: give the destination to write it for (s3ferry manifest s3://BUCKET/PREFIX/)", st.Bucket, src.Bucket)
		}
	}
	w := csv.NewWriter(m.Out)
	for _, src := range m.Sources {
		row := func(rel, version string, uploadedNs int64) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !m.Before.IsZero() && uploadedNs >= m.Before.UnixNano() {
				st.Later++
				return nil
			}
			key, err := src.Key(rel)
			if err != nil {
				return err
			}
			if version == "" {
				version = "null"
			}
			st.Objects++
			return w.Write([]string{src.Bucket, EscapeKey(key), version})
		}
		var err error
		if m.ReplicationFailed {
			err = m.Index.Replicas().Each(src.ID(), func(rel string, r index.Replica) error {
				if !r.Failed {
					return nil
				}
				return row(rel, r.VersionID, r.UploadedNs)
			})
		} else {
			err = m.Index.Records(src.ID(), "", func(rel string, rec index.Record) error {
				return row(rel, rec.VersionID, rec.UploadedNs)
			})
		}
		if err != nil {
			return st, fmt.Errorf("write manifest of %s: %w", src, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return st, fmt.Errorf("write manifest: %w", err)
	}
	return st, nil
}

// EscapeKey URL-encodes an object key for a Batch Operations manifest:
// letters, digits, "-", "_", ".", "~" and "/" stay, every other byte is %XX.
func EscapeKey(key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
