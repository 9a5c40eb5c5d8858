//go:build !linux

package uploader

// startWriteback does nothing here: Linux's sync_file_range(2) is what
// starts a range's writeback early (see writeback_linux.go).
func startWriteback(f any, off, n int64) {}
