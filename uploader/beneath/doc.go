// Package beneath opens, stats and creates files relative to a directory
// file descriptor of a root, never through a symbolic link and never
// outside the root: openat2(2) with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS,
// and a per-component openat(O_NOFOLLOW) walk where the kernel lacks it.
// s3ferry can read every file of its host; this is what keeps a writer
// into a source tree (or into restore's target) from redirecting it.
package beneath
