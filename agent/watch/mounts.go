package watch

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// mountinfo is the mount table of this process's mount namespace, which
// the kernel marks with POLLPRI each time a file system is mounted or
// unmounted in it (proc(5)).
const mountinfo = "/proc/self/mountinfo"

// WatchMounts returns a channel that receives when a file system is
// mounted or unmounted in this process's mount namespace, until ctx ends
// (then it is closed): the event that tells a source's root was
// unmounted, or had another file system mounted over it, which inotify
// does not tell through fsnotify. It waits in poll(2) on the mount table,
// in a goroutine of its own: nothing runs while nothing is mounted. A
// burst of changes may be told once; the receiver looks at the roots
// again. An error (no /proc) says the caller must poll instead.
func WatchMounts(ctx context.Context) (<-chan struct{}, error) {
	fd, err := unix.Open(mountinfo, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("watch mounts: open %s: %w", mountinfo, err)
	}
	var stop [2]int // ctx's end, told to poll: the write end is closed
	if err := unix.Pipe2(stop[:], unix.O_CLOEXEC); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch mounts: %w", err)
	}
	changed := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		unix.Close(stop[1])
	}()
	go func() {
		defer close(changed)
		defer unix.Close(fd)
		defer unix.Close(stop[0])
		for {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}, {Fd: int32(stop[0]), Events: unix.POLLIN}}
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			if fds[1].Revents != 0 || fds[0].Revents&unix.POLLNVAL != 0 {
				return
			}
			if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
				// The kernel clears the mark as it reports it.
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}
	}()
	return changed, nil
}
