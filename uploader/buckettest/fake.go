package buckettest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
)

// Fake is an in-memory, versioned uploader.Bucket. It keeps every version
// and delete marker, computes ETags as S3 does (the MD5 of a single PUT's
// content, "MD5 of the parts' MD5s-N" for a multipart upload) and
// checksums of its algorithm (a multipart object's of the parts'
// checksums, "value-N"), verifies a Put's checksum, and enforces S3's
// smallest part. A call with a done context fails with its error.
// Failures are injected per operation with Fail or FailNext, lost answers
// with LoseNext; Calls counts the requests.
//
// The exported fields configure what the configuration reads answer, and
// which other servers' ways the Fake takes where they differ from AWS's;
// set them before the Fake is in use. It lists sequentially: ListOptions
// only tune the S3 implementation.
type Fake struct {
	VersioningStatus uploader.VersioningStatus // what Versioning answers; NewFake: Enabled
	ReplicationRules []uploader.ReplicationRule
	LifecycleRules   []uploader.LifecycleRule
	Lock             *uploader.ObjectLock
	Skew             time.Duration // what ClockSkew answers
	CredentialsErr   error         // what Credentials fails with
	CheckErr         error         // what Check fails with
	// Now stamps versions' LastModified; NewFake: time.Now.
	Now func() time.Time
	// Fail, when set, runs before every operation with its name (the
	// method's, e.g. "Put", "UploadPart") and key ("" for the bucket's);
	// an error it returns is the operation's.
	Fail func(op, key string) error

	// UnlistedPartChecksums makes ListParts answer parts without their
	// checksums, as SeaweedFS does. AWS lists each part's checksum of the
	// algorithm the upload was created with.
	UnlistedPartChecksums bool
	// ListReplacedParts makes ListParts list a part number that was sent
	// more than once once per time it was sent, oldest first, as
	// SeaweedFS does; CompleteMultipart still takes the last one. AWS
	// lists each number once, with the part sent last.
	ListReplacedParts bool
	// RequirePartChecksums makes CompleteMultipart refuse with a 400
	// InvalidRequest (InvalidRequest) a request that lacks a part's
	// checksum, as SeaweedFS does. AWS refuses so too when the upload was
	// created with a checksum algorithm, as every upload of package s3 is;
	// MinIO does not.
	RequirePartChecksums bool
	// ShiftedVersionTimes makes ListVersions answer LastModified as
	// VersityGW does: a version that was overwritten (or deleted) gets the
	// time of the version or delete marker above it, and a delete marker
	// the time of the version it hides, so that the times disagree with
	// IsLatest and with the order. AWS answers each version's own time of
	// writing, newest first.
	ShiftedVersionTimes bool
	// RefuseLockHeaders makes a write with Object Lock headers fail with
	// uploader.ErrLockHeadersRefused (501 NotImplemented), as a store that
	// implements PutObjectRetention but not the headers does; Object Lock
	// itself works (see lock.go).
	RefuseLockHeaders bool

	name string
	algo string

	mu       sync.Mutex
	objects  map[string][]*version // oldest first
	uploads  map[string]*upload
	failNext map[string][]error
	loseNext map[string][]error
	calls    map[string]int
	seq      int
	served   int64 // bytes of Get bodies read by callers
}

type version struct {
	id        string
	deleted   bool
	data      []byte
	etag      string
	checksum  string // base64, "value-N" for a multipart object
	composite bool
	meta      map[string]string
	modified  time.Time
	repl      uploader.ReplicationStatus
	lock      uploader.Lock
	hold      bool
}

type upload struct {
	key   string
	meta  map[string]string
	lock  uploader.Lock
	parts map[int32]partData
	// replaced are parts sent again since, in the order they were sent.
	replaced []partData
	started  time.Time
}

type partData struct {
	part uploader.Part
	data []byte
}

var _ uploader.Bucket = (*Fake)(nil)

// NewFake returns an empty, versioned Fake bucket whose writes carry
// checksums of algorithm ("" is uploader.DefaultChecksum).
func NewFake(name, algorithm string) *Fake {
	if algorithm == "" {
		algorithm = uploader.DefaultChecksum
	}
	return &Fake{
		VersioningStatus: uploader.VersioningEnabled, Now: time.Now,
		name: name, algo: strings.ToUpper(algorithm),
		objects: map[string][]*version{}, uploads: map[string]*upload{}, failNext: map[string][]error{},
		loseNext: map[string][]error{}, calls: map[string]int{},
	}
}

// FailNext makes the next n calls of op (a method name) fail with err.
func (f *Fake) FailNext(op string, n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failNext[op] = append(f.failNext[op], err)
	}
}

// LoseNext makes the next n calls of op (Put, CreateMultipart,
// UploadPart or CompleteMultipart) do their work and then fail with err,
// as a request whose answer was lost on its way back: the write is
// stored, its caller does not know. An err wrapping uploader.ErrNotFound
// on CompleteMultipart is what the S3 implementation returns when the
// SDK's retry of a completion whose answer was lost finds the upload gone.
func (f *Fake) LoseNext(op string, n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.loseNext[op] = append(f.loseNext[op], err)
	}
}

// lost returns the error of one call of op whose answer LoseNext lost, if
// any; under mu.
func (f *Fake) lost(op string) error {
	errs := f.loseNext[op]
	if len(errs) == 0 {
		return nil
	}
	f.loseNext[op] = errs[1:]
	return errs[0]
}

// BytesServed returns how many bytes of Get bodies callers have read.
func (f *Fake) BytesServed() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served
}

// Damage flips a bit in every byte of [offset, offset+n) of a stored
// version of key (versionID "": the current one), keeping its size, ETag,
// checksum and metadata: what rot in the store's disks does while every
// listing and HeadObject still looks right. Only a read of the bytes
// finds it. ErrNotFound when there is no such version.
func (f *Fake) Damage(key, versionID string, offset, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.find(key, versionID)
	if err != nil {
		return fmt.Errorf("damage %s: %w", key, err)
	}
	if offset < 0 || n <= 0 || offset+n > len(v.data) {
		return fmt.Errorf("damage %s: bytes %d+%d outside its %d", key, offset, n, len(v.data))
	}
	// A copy: a body handed out before keeps the bytes it had.
	data := slices.Clone(v.data)
	for i := offset; i < offset+n; i++ {
		data[i] ^= 0x01
	}
	v.data = data
	return nil
}

// Calls returns how many times op (a method name) was called, the calls
// that failed included.
func (f *Fake) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Keys returns the keys below prefix that have versions or delete
// markers, in order.
func (f *Fake) Keys(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys(prefix)
}

// fail counts one call of op and returns its error: ctx's when it is
// done (the S3 implementation sends nothing then), else the injected one,
// if any.
func (f *Fake) fail(ctx context.Context, op, key string) error {
	f.mu.Lock()
	f.calls[op]++
	if err := ctx.Err(); err != nil {
		f.mu.Unlock()
		return err
	}
	if errs := f.failNext[op]; len(errs) > 0 {
		f.failNext[op] = errs[1:]
		f.mu.Unlock()
		return errs[0]
	}
	f.mu.Unlock()
	if f.Fail != nil {
		return f.Fail(op, key)
	}
	return nil
}

func (f *Fake) Name() string { return f.name }

// nextID returns a new version or upload ID; under mu.
func (f *Fake) nextID() string {
	f.seq++
	return fmt.Sprintf("%016d", f.seq)
}

// add stores a new version of key and returns it: with versioning
// Enabled under a new ID, else as the "null" version, which it replaces;
// under mu.
func (f *Fake) add(key string, v *version) *version {
	v.modified = f.Now()
	if f.VersioningStatus == uploader.VersioningEnabled {
		v.id = f.nextID()
		f.objects[key] = append(f.objects[key], v)
		return v
	}
	v.id = "null"
	vs := slices.DeleteFunc(f.objects[key], func(o *version) bool { return o.id == "null" })
	f.objects[key] = append(vs, v)
	return v
}

func (f *Fake) written(v *version) uploader.Written {
	w := uploader.Written{ETag: v.etag, Checksum: f.algo + ":" + v.checksum}
	if v.id != "null" {
		w.VersionID = v.id
	}
	return w
}

func (f *Fake) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts uploader.PutOptions) (uploader.Written, error) {
	if err := f.fail(ctx, "Put", key); err != nil {
		return uploader.Written{}, fmt.Errorf("put %s: %w", key, err)
	}
	data, err := readN(body, size)
	if err != nil {
		return uploader.Written{}, fmt.Errorf("put %s: %w", key, err)
	}
	sum, err := uploader.SumChecksum(f.algo, data)
	if err != nil {
		return uploader.Written{}, fmt.Errorf("put %s: %w", key, err)
	}
	if opts.Checksum != "" && opts.Checksum != sum {
		return uploader.Written{}, fmt.Errorf("put %s: %w: %s %s sent, the body has %s", key, uploader.ErrCorrupt, f.algo, opts.Checksum, sum)
	}
	if err := f.lockWrite(opts.Lock, opts.Checksum != ""); err != nil {
		return uploader.Written{}, fmt.Errorf("put %s: %w", key, err)
	}
	etag := md5.Sum(data)
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.add(key, &version{data: data, etag: hex.EncodeToString(etag[:]), checksum: sum, meta: copyMeta(opts.Metadata), lock: f.defaultLock(opts.Lock)})
	if err := f.lost("Put"); err != nil {
		return uploader.Written{}, fmt.Errorf("put %s: %w", key, err)
	}
	return f.written(v), nil
}

func (f *Fake) CreateMultipart(ctx context.Context, key string, opts uploader.PutOptions) (string, error) {
	if err := f.fail(ctx, "CreateMultipart", key); err != nil {
		return "", fmt.Errorf("create multipart upload of %s: %w", key, err)
	}
	// Every part carries its checksum (UploadPart's contract), so the
	// upload has the checksum AWS wants beside lock headers.
	if err := f.lockWrite(opts.Lock, true); err != nil {
		return "", fmt.Errorf("create multipart upload of %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := "upload-" + f.nextID()
	f.uploads[id] = &upload{key: key, meta: copyMeta(opts.Metadata), lock: opts.Lock, parts: map[int32]partData{}, started: f.Now()}
	if err := f.lost("CreateMultipart"); err != nil {
		return "", fmt.Errorf("create multipart upload of %s: %w", key, err)
	}
	return id, nil
}

// upload returns the upload id of key; under mu.
func (f *Fake) upload(key, id string) (*upload, error) {
	u := f.uploads[id]
	if u == nil || u.key != key {
		return nil, fmt.Errorf("upload %s of %s: %w", id, key, uploader.ErrNotFound)
	}
	return u, nil
}

func (f *Fake) UploadPart(ctx context.Context, key, uploadID string, n int32, body io.ReadSeeker, size int64) (uploader.Part, error) {
	if err := f.fail(ctx, "UploadPart", key); err != nil {
		return uploader.Part{}, fmt.Errorf("upload part %d of %s: %w", n, key, err)
	}
	if n < 1 || n > 10000 {
		return uploader.Part{}, fmt.Errorf("upload part %d of %s: part numbers are 1 to 10000", n, key)
	}
	data, err := readN(body, size)
	if err != nil {
		return uploader.Part{}, fmt.Errorf("upload part %d of %s: %w", n, key, err)
	}
	sum, err := uploader.SumChecksum(f.algo, data)
	if err != nil {
		return uploader.Part{}, err
	}
	etag := md5.Sum(data)
	p := uploader.Part{Number: n, ETag: hex.EncodeToString(etag[:]), Size: size, Checksum: sum}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, err := f.upload(key, uploadID)
	if err != nil {
		return uploader.Part{}, fmt.Errorf("upload part %d of %s: %w", n, key, err)
	}
	if old, ok := u.parts[n]; ok {
		u.replaced = append(u.replaced, old)
	}
	u.parts[n] = partData{p, data}
	if err := f.lost("UploadPart"); err != nil {
		return uploader.Part{}, fmt.Errorf("upload part %d of %s: %w", n, key, err)
	}
	return p, nil
}

func (f *Fake) ListParts(ctx context.Context, key, uploadID string) ([]uploader.Part, error) {
	if err := f.fail(ctx, "ListParts", key); err != nil {
		return nil, fmt.Errorf("list parts of %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, err := f.upload(key, uploadID)
	if err != nil {
		return nil, fmt.Errorf("list parts of %s: %w", key, err)
	}
	var parts []uploader.Part
	if f.ListReplacedParts {
		for _, p := range u.replaced {
			parts = append(parts, p.part)
		}
	}
	for _, p := range u.parts {
		parts = append(parts, p.part)
	}
	// Stable: a replaced part before the one that replaced it.
	slices.SortStableFunc(parts, func(a, b uploader.Part) int { return int(a.Number - b.Number) })
	if f.UnlistedPartChecksums {
		for i := range parts {
			parts[i].Checksum = ""
		}
	}
	return parts, nil
}

func (f *Fake) CompleteMultipart(ctx context.Context, key, uploadID string, parts []uploader.Part) (uploader.Written, error) {
	if err := f.fail(ctx, "CompleteMultipart", key); err != nil {
		return uploader.Written{}, fmt.Errorf("complete multipart upload of %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, err := f.upload(key, uploadID)
	if err != nil {
		return uploader.Written{}, fmt.Errorf("complete multipart upload of %s: %w", key, err)
	}
	if len(parts) == 0 {
		return uploader.Written{}, fmt.Errorf("complete multipart upload of %s: no parts", key)
	}
	var data, md5s, sums []byte
	for i, p := range parts {
		stored, ok := u.parts[p.Number]
		switch {
		case i > 0 && p.Number <= parts[i-1].Number:
			return uploader.Written{}, fmt.Errorf("complete multipart upload of %s: parts out of order", key)
		case !ok || stored.part.ETag != p.ETag:
			return uploader.Written{}, fmt.Errorf("complete multipart upload of %s: part %d: %w", key, p.Number, uploader.ErrNotFound)
		case i < len(parts)-1 && stored.part.Size < uploader.MinPartSize:
			return uploader.Written{}, fmt.Errorf("complete multipart upload of %s: part %d has %d bytes, S3 wants at least %d", key, p.Number, stored.part.Size, uploader.MinPartSize)
		case f.RequirePartChecksums && p.Checksum == "":
			return uploader.Written{}, fmt.Errorf("complete multipart upload of %s: %w", key,
				InvalidRequest(fmt.Sprintf("The upload was created using a %s checksum. The complete request must include the checksum for each part. It was missing for part %d in the request.", strings.ToLower(f.algo), p.Number)))
		}
		data = append(data, stored.data...)
		m, _ := hex.DecodeString(stored.part.ETag)
		md5s = append(md5s, m...)
		raw, _ := base64.StdEncoding.DecodeString(stored.part.Checksum)
		sums = append(sums, raw...)
	}
	n := strconv.Itoa(len(parts))
	etag := md5.Sum(md5s)
	sum, _ := uploader.SumChecksum(f.algo, sums) // the algorithm worked for every part
	delete(f.uploads, uploadID)
	v := f.add(key, &version{data: data, etag: hex.EncodeToString(etag[:]) + "-" + n, checksum: sum + "-" + n, composite: true, meta: u.meta, lock: f.defaultLock(u.lock)})
	if err := f.lost("CompleteMultipart"); err != nil {
		return uploader.Written{}, fmt.Errorf("complete multipart upload of %s: %w", key, err)
	}
	return f.written(v), nil
}

func (f *Fake) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := f.fail(ctx, "AbortMultipart", key); err != nil {
		return fmt.Errorf("abort multipart upload of %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.uploads[uploadID]; u != nil && u.key == key {
		delete(f.uploads, uploadID)
	}
	return nil
}

func (f *Fake) ListMultipartUploads(ctx context.Context, prefix string, emit func(uploader.MultipartUpload) error) error {
	if err := f.fail(ctx, "ListMultipartUploads", ""); err != nil {
		return fmt.Errorf("list multipart uploads below %q: %w", prefix, err)
	}
	f.mu.Lock()
	var ups []uploader.MultipartUpload
	for id, u := range f.uploads {
		if strings.HasPrefix(u.key, prefix) {
			ups = append(ups, uploader.MultipartUpload{Key: u.key, ID: id, Initiated: u.started})
		}
	}
	f.mu.Unlock()
	slices.SortFunc(ups, func(a, b uploader.MultipartUpload) int { return strings.Compare(a.Key+"\x00"+a.ID, b.Key+"\x00"+b.ID) })
	for _, u := range ups {
		if err := emit(u); err != nil {
			return err
		}
	}
	return nil
}

// Uploads returns the IDs of the multipart uploads in progress.
func (f *Fake) Uploads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.uploads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// find returns a version of key (versionID "": the current one); under mu.
func (f *Fake) find(key, versionID string) (*version, error) {
	vs := f.objects[key]
	if versionID == "" {
		if len(vs) == 0 || vs[len(vs)-1].deleted {
			return nil, uploader.ErrNotFound
		}
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.id == versionID && !v.deleted {
			return v, nil
		}
	}
	return nil, uploader.ErrNotFound
}

func (f *Fake) object(key string, v *version) uploader.Object {
	return uploader.Object{
		Key: key, VersionID: v.id, Size: int64(len(v.data)), ETag: v.etag, LastModified: v.modified,
		Metadata: copyMeta(v.meta), Checksums: map[string]string{f.algo: v.checksum}, Composite: v.composite,
		Replication: v.repl, Lock: uploader.LockState{Lock: v.lock, LegalHold: v.hold},
	}
}

// SetReplication sets the replication status Head answers for a version of
// key, as a replicated bucket's would move from PENDING to COMPLETED or
// FAILED; ErrNotFound when there is no such version.
func (f *Fake) SetReplication(key, versionID string, status uploader.ReplicationStatus) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.find(key, versionID)
	if err != nil {
		return fmt.Errorf("set replication of %s: %w", key, err)
	}
	v.repl = status
	return nil
}

func (f *Fake) Head(ctx context.Context, key, versionID string) (uploader.Object, error) {
	if err := f.fail(ctx, "Head", key); err != nil {
		return uploader.Object{}, fmt.Errorf("head %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.find(key, versionID)
	if err != nil {
		return uploader.Object{}, fmt.Errorf("head %s: %w", key, err)
	}
	return f.object(key, v), nil
}

func (f *Fake) Get(ctx context.Context, key, versionID string, offset, length int64) (io.ReadCloser, uploader.Object, error) {
	if err := f.fail(ctx, "Get", key); err != nil {
		return nil, uploader.Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.find(key, versionID)
	if err != nil {
		return nil, uploader.Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	size := int64(len(v.data))
	end := size
	if length > 0 {
		end = min(offset+length, size)
	}
	if length == 0 || offset < 0 || offset > 0 && offset >= size {
		return nil, uploader.Object{}, fmt.Errorf("get %s: range %d+%d outside %d bytes", key, offset, length, size)
	}
	return io.NopCloser(&servedReader{f: f, r: bytes.NewReader(v.data[offset:end])}), f.object(key, v), nil
}

// servedReader counts the bytes of a Get body its reader took.
type servedReader struct {
	f *Fake
	r io.Reader
}

func (s *servedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.f.mu.Lock()
	s.f.served += int64(n)
	s.f.mu.Unlock()
	return n, err
}

// keys returns the keys below prefix in order; under mu.
func (f *Fake) keys(prefix string) []string {
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, prefix) && len(f.objects[k]) > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (f *Fake) List(ctx context.Context, prefix string, opts uploader.ListOptions, emit func(uploader.Object) error) error {
	if err := f.fail(ctx, "List", prefix); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	f.mu.Lock()
	var objs []uploader.Object
	for _, k := range f.keys(prefix) {
		if v, err := f.find(k, ""); err == nil {
			o := f.object(k, v)
			o.Metadata, o.Checksums, o.Composite = nil, nil, false // List has no more
			objs = append(objs, o)
		}
	}
	f.mu.Unlock()
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(o); err != nil {
			return err
		}
	}
	return nil
}

func (f *Fake) ListVersions(ctx context.Context, prefix string, opts uploader.ListOptions, emit func(uploader.History) error) error {
	if err := f.fail(ctx, "ListVersions", prefix); err != nil {
		return fmt.Errorf("list versions of %s: %w", prefix, err)
	}
	f.mu.Lock()
	var hs []uploader.History
	for _, k := range f.keys(prefix) {
		vs := f.objects[k]
		h := uploader.History{Key: k}
		for i := len(vs) - 1; i >= 0; i-- {
			v := vs[i]
			e := uploader.Version{VersionID: v.id, Deleted: v.deleted, Latest: i == len(vs)-1, LastModified: v.modified}
			if f.ShiftedVersionTimes {
				e.LastModified = shiftedTime(vs, i)
			}
			if !v.deleted {
				e.Size, e.ETag = int64(len(v.data)), v.etag
			}
			h.Versions = append(h.Versions, e)
		}
		hs = append(hs, h)
	}
	f.mu.Unlock()
	for _, h := range hs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(h); err != nil {
			return err
		}
	}
	return nil
}

// shiftedTime is the LastModified VersityGW answers for vs[i] (vs oldest
// first): a delete marker's is the time of the version it hides, an
// overwritten version's the time of the one above it.
func shiftedTime(vs []*version, i int) time.Time {
	switch {
	case vs[i].deleted && i > 0:
		return vs[i-1].modified
	case !vs[i].deleted && i < len(vs)-1:
		return vs[i+1].modified
	}
	return vs[i].modified
}

func (f *Fake) Delete(ctx context.Context, key, versionID string) (string, error) {
	if err := f.fail(ctx, "Delete", key); err != nil {
		return "", fmt.Errorf("delete %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if versionID != "" {
		for _, v := range f.objects[key] {
			if v.id == versionID && f.locked(v) {
				return "", fmt.Errorf("delete %s version %s: %w: %w", key, versionID, uploader.ErrLocked, AccessDenied())
			}
		}
		f.objects[key] = slices.DeleteFunc(f.objects[key], func(v *version) bool { return v.id == versionID })
		if len(f.objects[key]) == 0 {
			delete(f.objects, key)
		}
		return "", nil
	}
	if f.VersioningStatus == "" {
		// Never versioned: the object goes, no marker stays.
		delete(f.objects, key)
		return "", nil
	}
	v := f.add(key, &version{deleted: true})
	if v.id == "null" {
		return "", nil
	}
	return v.id, nil
}

func (f *Fake) Check(ctx context.Context) error {
	if err := f.fail(ctx, "Check", ""); err != nil {
		return err
	}
	return f.CheckErr
}

func (f *Fake) Credentials(ctx context.Context) (string, error) {
	if err := f.fail(ctx, "Credentials", ""); err != nil {
		return "", err
	}
	if f.CredentialsErr != nil {
		return "", f.CredentialsErr
	}
	return "FakeCredentials", nil
}

func (f *Fake) Versioning(ctx context.Context) (uploader.VersioningStatus, error) {
	if err := f.fail(ctx, "Versioning", ""); err != nil {
		return "", fmt.Errorf("get versioning of bucket %s: %w", f.name, err)
	}
	return f.VersioningStatus, nil
}

func (f *Fake) Replication(ctx context.Context) ([]uploader.ReplicationRule, error) {
	if err := f.fail(ctx, "Replication", ""); err != nil {
		return nil, fmt.Errorf("get replication of bucket %s: %w", f.name, err)
	}
	return f.ReplicationRules, nil
}

func (f *Fake) Lifecycle(ctx context.Context) ([]uploader.LifecycleRule, error) {
	if err := f.fail(ctx, "Lifecycle", ""); err != nil {
		return nil, fmt.Errorf("get lifecycle of bucket %s: %w", f.name, err)
	}
	return f.LifecycleRules, nil
}

func (f *Fake) ObjectLock(ctx context.Context) (*uploader.ObjectLock, error) {
	if err := f.fail(ctx, "ObjectLock", ""); err != nil {
		return nil, fmt.Errorf("get object lock of bucket %s: %w", f.name, err)
	}
	return f.Lock, nil
}

func (f *Fake) ClockSkew(ctx context.Context) (time.Duration, error) {
	if err := f.fail(ctx, "ClockSkew", ""); err != nil {
		return 0, fmt.Errorf("head bucket %s: %w", f.name, err)
	}
	return f.Skew, nil
}

// readN reads exactly n bytes of r.
func readN(r io.Reader, n int64) ([]byte, error) {
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("body shorter than %d bytes: %w", n, err)
	}
	return data, nil
}

func copyMeta(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}
