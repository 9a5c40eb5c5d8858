//go:build !unix

package uploader

import (
	"io/fs"
	"os"
)

const openFlags = os.O_RDONLY

// inode returns 0: this platform has no inode numbers in fs.FileInfo.
func inode(fs.FileInfo) uint64 { return 0 }
