package uploader

import "golang.org/x/sys/unix"

// startWriteback asks the kernel to start writing n bytes of f from off
// to storage, without waiting for them (sync_file_range(2)
// SYNC_FILE_RANGE_WRITE): a hint, never durability, so that the sync
// that makes the file durable does not write it all at the end. A file
// without a descriptor, or an error, is ignored.
func startWriteback(f any, off, n int64) {
	fd, ok := f.(interface{ Fd() uintptr })
	if !ok || n <= 0 {
		return
	}
	unix.SyncFileRange(int(fd.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
