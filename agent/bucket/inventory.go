package bucket

import (
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/uploader"
)

// Inventory is where an S3 Inventory report is: the key of its
// manifest.json in Bucket. Its data files are read from the same bucket.
type Inventory struct {
	Bucket   string
	Manifest string // e.g. inv/src-bucket/daily/2026-11-29T01-00Z/manifest.json
}

// String is the manifest's s3:// address.
func (inv Inventory) String() string { return "s3://" + inv.Bucket + "/" + inv.Manifest }

// inventoryManifest is the part of an S3 Inventory manifest.json s3ferry
// reads (AWS's documented layout).
type inventoryManifest struct {
	SourceBucket string `json:"sourceBucket"`
	FileFormat   string `json:"fileFormat"`
	FileSchema   string `json:"fileSchema"`
	Files        []struct {
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		MD5checksum string `json:"MD5checksum"`
	} `json:"files"`
}

// maxManifestSize bounds the manifest read into memory: it lists data
// files, not objects (a few hundred bytes per file).
const maxManifestSize = 64 << 20

// inventoryRow is one current object of an inventory.
type inventoryRow struct {
	uploader.Object
	// Replication is the row's ReplicationStatus (COMPLETED, PENDING,
	// FAILED, REPLICA); "" when the report has no such field.
	Replication string
}

// inventoryColumns are the positions of the fields s3ferry reads in a
// row; -1 when the schema has no such field.
type inventoryColumns struct {
	bucket, key, versionID, isLatest, isDeleteMarker, size, etag, replication int
	n                                                                         int
}

func parseSchema(schema string) (inventoryColumns, error) {
	c := inventoryColumns{bucket: -1, key: -1, versionID: -1, isLatest: -1, isDeleteMarker: -1, size: -1, etag: -1, replication: -1}
	fields := strings.Split(schema, ",")
	c.n = len(fields)
	for i, f := range fields {
		switch strings.TrimSpace(f) {
		case "Bucket":
			c.bucket = i
		case "Key":
			c.key = i
		case "VersionId":
			c.versionID = i
		case "IsLatest":
			c.isLatest = i
		case "IsDeleteMarker":
			c.isDeleteMarker = i
		case "Size":
			c.size = i
		case "ETag":
			c.etag = i
		case "ReplicationStatus":
			c.replication = i
		}
	}
	if c.key < 0 || c.size < 0 || c.etag < 0 {
		return c, fmt.Errorf("its fileSchema %q lacks Key, Size or ETag: add the optional fields Size and ETag to the inventory configuration", schema)
	}
	return c, nil
}

// inventoryReport is a manifest read and checked.
type inventoryReport struct {
	inventoryManifest
	cols inventoryColumns
}

// openInventory reads the manifest of a CSV report from b.
func openInventory(ctx context.Context, b uploader.Bucket, manifest string) (*inventoryReport, error) {
	m, err := getManifest(ctx, b, manifest)
	if err != nil {
		return nil, err
	}
	if m.FileFormat != "CSV" {
		return nil, fmt.Errorf("the report is %s: s3ferry reads CSV reports; configure the inventory with the CSV format", m.FileFormat)
	}
	cols, err := parseSchema(m.FileSchema)
	if err != nil {
		return nil, err
	}
	return &inventoryReport{m, cols}, nil
}

// read streams every data file of the report from b, workers at once:
// file(i) gives the emit that data file i's current objects (latest
// version, not a delete marker) are passed to, one at a time, and the done
// called once all of them were. Each is streamed through gunzip and the CSV
// reader, never held in memory, and its MD5 checked against the manifest
// once it is read whole: one that differs fails the whole read, since its
// rows were emitted.
func (rep *inventoryReport) read(ctx context.Context, b uploader.Bucket, workers int, file func(ctx context.Context, i int) (emit func(inventoryRow) error, done func() error)) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(workers, 1))
	for i := range rep.Files {
		g.Go(func() error {
			emit, done := file(gctx, i)
			if err := rep.readFile(gctx, b, i, emit); err != nil {
				return err
			}
			return done()
		})
	}
	return g.Wait()
}

// readFile streams data file i, calling emit for each current object.
func (rep *inventoryReport) readFile(ctx context.Context, b uploader.Bucket, i int, emit func(inventoryRow) error) error {
	f := rep.Files[i]
	if err := readInventoryFile(ctx, b, f.Key, f.MD5checksum, rep.cols, rep.SourceBucket, emit); err != nil {
		return fmt.Errorf("data file %s: %w", f.Key, err)
	}
	return nil
}

// getManifest reads and checks manifest.json: against manifest.checksum
// beside it (its MD5) when there is one.
func getManifest(ctx context.Context, b uploader.Bucket, key string) (inventoryManifest, error) {
	var m inventoryManifest
	data, err := getSmall(ctx, b, key)
	if errors.Is(err, uploader.ErrNotFound) {
		return m, fmt.Errorf("manifest not found: give the manifest.json of a delivered report")
	}
	if err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	if dir, ok := strings.CutSuffix(key, "manifest.json"); ok {
		sum, err := getSmall(ctx, b, dir+"manifest.checksum")
		switch {
		case errors.Is(err, uploader.ErrNotFound):
		case err != nil:
			return m, fmt.Errorf("manifest.checksum: %w", err)
		default:
			got := md5.Sum(data)
			if want := strings.TrimSpace(string(sum)); !strings.EqualFold(hex.EncodeToString(got[:]), want) {
				return m, fmt.Errorf("the manifest's MD5 is %x, manifest.checksum says %s: the report is damaged or being written; use another report", got, want)
			}
		}
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("manifest: %w: give the manifest.json of an S3 Inventory report", err)
	}
	return m, nil
}

// getSmall reads a whole object of at most maxManifestSize bytes.
func getSmall(ctx context.Context, b uploader.Bucket, key string) ([]byte, error) {
	body, _, err := b.Get(ctx, key, "", 0, -1)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("larger than %d bytes: not an inventory manifest", maxManifestSize)
	}
	return data, nil
}

// readInventoryFile streams one gzipped CSV data file.
func readInventoryFile(ctx context.Context, b uploader.Bucket, key, wantMD5 string, cols inventoryColumns, sourceBucket string, emit func(inventoryRow) error) error {
	body, _, err := b.Get(ctx, key, "", 0, -1)
	if err != nil {
		return err
	}
	defer body.Close()
	sum := md5.New()
	raw := io.TeeReader(body, sum)
	gz, err := gzip.NewReader(raw)
	if err != nil {
		return fmt.Errorf("not gzip: %w", err)
	}
	r := csv.NewReader(gz)
	r.FieldsPerRecord = cols.n
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		row, current, err := cols.row(rec, sourceBucket)
		if err != nil {
			line, _ := r.FieldPos(0)
			return fmt.Errorf("line %d: %w", line, err)
		}
		if !current {
			continue
		}
		if err := emit(row); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, raw); err != nil { // the rest, for the MD5
		return err
	}
	if got := hex.EncodeToString(sum.Sum(nil)); !strings.EqualFold(got, wantMD5) {
		return fmt.Errorf("its MD5 is %s, the manifest says %s: the report is damaged; use another report", got, wantMD5)
	}
	return nil
}

// row reads one CSV record; current is false for a version that is not
// the latest, or a delete marker.
func (c inventoryColumns) row(rec []string, sourceBucket string) (row inventoryRow, current bool, err error) {
	field := func(i int) string {
		if i < 0 {
			return ""
		}
		return rec[i]
	}
	if b := field(c.bucket); b != "" && sourceBucket != "" && b != sourceBucket {
		return row, false, fmt.Errorf("bucket %q, the manifest's is %q", b, sourceBucket)
	}
	if field(c.isLatest) == "false" || field(c.isDeleteMarker) == "true" {
		return row, false, nil
	}
	// CSV reports URL-encode the key.
	if row.Key, err = url.QueryUnescape(field(c.key)); err != nil {
		return row, false, fmt.Errorf("key %q: %w", field(c.key), err)
	}
	if row.Size, err = strconv.ParseInt(field(c.size), 10, 64); err != nil {
		return row, false, fmt.Errorf("size of %s: %w", row.Key, err)
	}
	row.ETag = strings.Trim(field(c.etag), `"`)
	row.VersionID = field(c.versionID)
	row.Replication = field(c.replication)
	return row, true, nil
}
