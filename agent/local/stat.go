package local

import (
	"context"
	"io"
	"io/fs"
	"syscall"

	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// FileStat is the identity of a file's content as the index keeps it.
type FileStat struct {
	Size    int64
	MtimeNs int64
	Inode   uint64
}

// Matches says whether r was recorded from a file with this identity, so
// the content it recorded can be trusted without reading the file.
func (s FileStat) Matches(r index.Record) bool {
	return s.Size == r.Size && s.MtimeNs == r.MtimeNs && s.Inode == r.Inode
}

// Record is what the index records of s: Size, MtimeNs and Inode are set.
func (s FileStat) Record() index.Record {
	return index.Record{Size: s.Size, MtimeNs: s.MtimeNs, Inode: s.Inode}
}

// StatOf reads the identity of the file info describes.
func StatOf(info fs.FileInfo) FileStat {
	s := FileStat{Size: info.Size(), MtimeNs: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		s.Inode = st.Ino
	}
	return s
}

// FileID names a file by device and inode: a directory entered through a
// link, against loops; a file found, against one swapped in before it is
// opened.
type FileID struct{ Dev, Ino uint64 }

// IDOf reads the FileID of the file info describes; zero when it has none.
func IDOf(info fs.FileInfo) FileID {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return FileID{Dev: uint64(st.Dev), Ino: st.Ino}
	}
	return FileID{}
}

// HashFile reads the file rel of s once, opened beneath its root (not
// through a link the source does not follow), through xxhash64 and also,
// when extra is not nil, through extra (an ETag matcher), and returns the
// hash and the file's stat (uploader.HashFile). A file that changes while
// it is read gives an error wrapping uploader.ErrChanged.
func (s *Source) HashFile(ctx context.Context, rel string, extra io.Writer) (uint64, FileStat, error) {
	f, err := s.Tree().Open(rel)
	if err != nil {
		return 0, FileStat{}, err
	}
	defer f.Close()
	hash, info, err := uploader.HashFile(ctx, f, extra)
	if err != nil {
		return 0, FileStat{}, err
	}
	return hash, StatOf(info), nil
}
