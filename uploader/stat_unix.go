//go:build unix

package uploader

import (
	"io/fs"
	"syscall"
)

// openFlags opens without blocking on a FIFO that has no writer, so
// statFile can reject it; O_NONBLOCK does nothing to a regular file.
const openFlags = syscall.O_RDONLY | syscall.O_NONBLOCK

// inode returns fi's inode number.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
