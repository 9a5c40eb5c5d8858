package agent

import (
	"context"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Aborter discards a multipart upload. *uploader.Uploader implements it;
// a pipeline whose Uploader does not cannot abort the upload of a pending
// entry whose file is gone, and leaves it to the bucket's lifecycle rule.
type Aborter interface {
	Abort(ctx context.Context, bucket, key, uploadID string) error
}

// abort discards u, a multipart upload that cannot resume because the
// pending entry carrying it goes away without an upload (its file is
// gone, or unchanged after all). A failure is logged: the upload then
// stays until the bucket's lifecycle rule removes it, and `doctor` lists
// it meanwhile.
func (p *Pipeline) abort(ctx context.Context, src *local.Source, u *index.Upload) {
	a, ok := p.up.(Aborter)
	if u == nil || !ok {
		return
	}
	if err := a.Abort(ctx, src.Bucket, u.Key, u.ID); err != nil {
		p.opts.Logger.Warn("cannot abort a multipart upload that will not resume", "key", u.Key, "err", err)
	}
}

// multipartOf and uploadOf convert between the index's record of a
// multipart upload and the uploader's.
func multipartOf(u *index.Upload) *uploader.Multipart {
	if u == nil {
		return nil
	}
	m := &uploader.Multipart{
		ID: u.ID, Key: u.Key, PartSize: u.PartSize,
		Size: u.Size, MtimeNs: u.MtimeNs, Inode: u.Inode, Hash: u.Hash,
		Parts: make([]uploader.Part, len(u.Parts)), Refused: u.Refused,
	}
	for i, p := range u.Parts {
		m.Parts[i] = uploader.Part{Number: p.Number, Size: p.Size, Checksum: p.Checksum, ETag: p.ETag}
	}
	return m
}

func uploadOf(m uploader.Multipart) *index.Upload {
	u := &index.Upload{
		ID: m.ID, Key: m.Key, PartSize: m.PartSize,
		Size: m.Size, MtimeNs: m.MtimeNs, Inode: m.Inode, Hash: m.Hash,
		Parts: make([]index.UploadedPart, len(m.Parts)), Refused: m.Refused,
	}
	for i, p := range m.Parts {
		u.Parts[i] = index.UploadedPart{Number: p.Number, Size: p.Size, Checksum: p.Checksum, ETag: p.ETag}
	}
	return u
}
