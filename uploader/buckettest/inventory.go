package buckettest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"

	"github.com/s3ferry/s3ferry/uploader"
)

// InventoryRow is one row of an S3 Inventory report: one version of a key.
type InventoryRow struct {
	Key            string
	VersionID      string
	IsLatest       bool
	IsDeleteMarker bool
	Size           int64
	ETag           string
	// ReplicationStatus: "", COMPLETED, PENDING, FAILED or REPLICA.
	ReplicationStatus string
}

// InventorySchema is the fileSchema of the reports WriteInventory writes:
// the fields of an inventory of every version with the optional ones
// s3ferry reads, in AWS's order.
const InventorySchema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, ReplicationStatus"

// WriteInventory stores in b a CSV S3 Inventory report of bucket source
// in AWS's documented layout: gzipped CSV data files of at most perFile
// rows under dir/data/, and dir/2026-11-29T01-00Z/manifest.json (with
// its files, fileSchema and each file's MD5) and manifest.checksum beside
// it. It returns the manifest's key. rows is read once, and only one data
// file is held in memory, so a report of millions of rows can be made.
func WriteInventory(ctx context.Context, b uploader.Bucket, source, dir string, perFile int, rows iter.Seq[InventoryRow]) (string, error) {
	type file struct {
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		MD5checksum string `json:"MD5checksum"`
	}
	var (
		files []file
		buf   bytes.Buffer
		gz    = gzip.NewWriter(&buf)
		w     = csv.NewWriter(gz)
		n     int
	)
	flush := func() error {
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
		if err := gz.Close(); err != nil {
			return err
		}
		key := fmt.Sprintf("%sdata/%08d.csv.gz", dir, len(files))
		sum := md5.Sum(buf.Bytes())
		if _, err := b.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()), uploader.PutOptions{}); err != nil {
			return err
		}
		files = append(files, file{key, int64(buf.Len()), hex.EncodeToString(sum[:])})
		buf.Reset()
		gz.Reset(&buf)
		w = csv.NewWriter(gz)
		n = 0
		return nil
	}
	for r := range rows {
		size := strconv.FormatInt(r.Size, 10)
		if r.IsDeleteMarker {
			size = ""
		}
		// Keys are URL-encoded in CSV reports.
		if err := w.Write([]string{source, url.QueryEscape(r.Key), r.VersionID, strconv.FormatBool(r.IsLatest), strconv.FormatBool(r.IsDeleteMarker),
			size, "2026-11-29T00:00:00.000Z", r.ETag, "STANDARD", r.ReplicationStatus}); err != nil {
			return "", err
		}
		if n++; n == perFile {
			if err := flush(); err != nil {
				return "", err
			}
		}
	}
	if n > 0 || len(files) == 0 {
		if err := flush(); err != nil {
			return "", err
		}
	}
	manifest, err := json.MarshalIndent(map[string]any{
		"sourceBucket":      source,
		"destinationBucket": "arn:aws:s3:::" + b.Name(),
		"version":           "2016-11-30",
		"creationTimestamp": "1796000000000",
		"fileFormat":        "CSV",
		"fileSchema":        InventorySchema,
		"files":             files,
	}, "", "  ")
	if err != nil {
		return "", err
	}
	at := dir + "2026-11-29T01-00Z/"
	if _, err := b.Put(ctx, at+"manifest.json", bytes.NewReader(manifest), int64(len(manifest)), uploader.PutOptions{}); err != nil {
		return "", err
	}
	sum := md5.Sum(manifest)
	check := []byte(hex.EncodeToString(sum[:]))
	if _, err := b.Put(ctx, at+"manifest.checksum", bytes.NewReader(check), int64(len(check)), uploader.PutOptions{}); err != nil {
		return "", err
	}
	return at + "manifest.json", nil
}

// InventoryOf returns the rows of an inventory of every version below
// prefix in b, as S3 would report them.
func InventoryOf(ctx context.Context, b uploader.Bucket, prefix string) ([]InventoryRow, error) {
	var rows []InventoryRow
	err := b.ListVersions(ctx, prefix, uploader.ListOptions{Workers: 1}, func(h uploader.History) error {
		for _, v := range h.Versions {
			rows = append(rows, InventoryRow{Key: h.Key, VersionID: v.VersionID, IsLatest: v.Latest, IsDeleteMarker: v.Deleted, Size: v.Size, ETag: v.ETag})
		}
		return nil
	})
	return rows, err
}
