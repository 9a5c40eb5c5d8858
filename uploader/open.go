package uploader

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// openJob opens the file of job: with job.Open, or else by its path.
//
//	open error                          the upload's error
//	ENOTDIR (a directory on the way     fs.ErrNotExist: the file vanished
//	  became a file)                      as surely as with ENOENT
//	beneath.ErrSymlink (a link on the   fs.ErrNotExist: no file to back up
//	  way, links not followed)            is at that path any more
//	any other                           itself
func openJob(job Job) (*os.File, error) {
	var f *os.File
	var err error
	if job.Open != nil {
		f, err = job.Open()
	} else {
		f, err = os.OpenFile(job.Path, syscall.O_RDONLY|syscall.O_NONBLOCK, 0) // no block on a FIFO without a writer
	}
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, beneath.ErrSymlink) {
		err = fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return f, err
}

// checkIdentity returns an error wrapping ErrChanged when job names the
// identity of the file that was found and the opened file, fi, is another
// file: a rename put it there since, and the next detection finds it.
func checkIdentity(job Job, fi fs.FileInfo) error {
	if job.Inode == 0 {
		return nil
	}
	dev, ino := identity(fi)
	if fi.Mode().IsRegular() && dev == job.Dev && ino == job.Inode {
		return nil
	}
	return fmt.Errorf("%s: %w (found as inode %d on device %d, opened %s inode %d on device %d)",
		job.Path, ErrChanged, job.Inode, job.Dev, fi.Mode().Type(), ino, dev)
}
