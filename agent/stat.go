package agent

import (
	"context"
	"io"
	"io/fs"
	"syscall"

	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// fileStat is the identity of a file's content as the index keeps it.
type fileStat struct {
	size    int64
	mtimeNs int64
	inode   uint64
}

// matches says whether r was recorded from a file with this identity, so
// the content it recorded can be trusted without reading the file.
func (s fileStat) matches(r index.Record) bool {
	return s.size == r.Size && s.mtimeNs == r.MtimeNs && s.inode == r.Inode
}

func statOf(info fs.FileInfo) fileStat {
	s := fileStat{size: info.Size(), mtimeNs: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		s.inode = st.Ino
	}
	return s
}

// fileID names a directory entered through a link, against loops.
type fileID struct{ dev, ino uint64 }

func idOf(info fs.FileInfo) fileID {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: st.Ino}
	}
	return fileID{}
}

// hashFile reads the file rel of src once, opened beneath its root,
// through xxhash64 and also, when it is not nil, through extra (an ETag
// matcher), and returns the hash and the file's stat (uploader.HashFile).
// A file that changes while it is read gives an error wrapping
// uploader.ErrChanged.
func hashFile(ctx context.Context, src *Source, rel string, extra io.Writer) (uint64, fileStat, error) {
	f, err := src.root().Open(rel)
	if err != nil {
		return 0, fileStat{}, err
	}
	defer f.Close()
	hash, info, err := uploader.HashFile(ctx, f, extra)
	if err != nil {
		return 0, fileStat{}, err
	}
	return hash, statOf(info), nil
}
