#!/bin/sh
# Prints the deb/rpm package version for a `git describe --tags --always
# --dirty` output ($1, default: this checkout's). Both formats want a version
# that starts with a digit and sorts forward from build to build:
#
#   describe                   package version
#   v1.2.3                     1.2.3
#   v1.2.3-rc1                 1.2.3~rc1            (~ sorts before 1.2.3)
#   v1.2.3-4-gabc1234          1.2.3+git4.abc1234   (after 1.2.3, before 1.2.4)
#   abc1234 (no tag yet)       0.0.0~git<N>.abc1234 (N: commits in HEAD; before any release)
#   any of them + -dirty       ... +dirty, or .dirty after a +
#
# $2 overrides N (tests).
set -eu
v=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
dirty=
case $v in *-dirty) dirty=yes v=${v%-dirty} ;; esac
case $v in
v[0-9]*.* | [0-9]*.*) # a tag; a bare hash has no dot
	v=$(printf '%s\n' "$v" | sed -E 's/^v//; s/-([0-9]+)-g([0-9a-f]+)$/+git\1.\2/; s/-/~/; s/-/./g')
	;;
*)
	n=${2:-$(git rev-list --count HEAD 2>/dev/null || echo 0)}
	v=0.0.0~git$n.$v
	;;
esac
if [ -n "$dirty" ]; then
	case $v in *+*) v=$v.dirty ;; *) v=$v+dirty ;; esac
fi
printf '%s\n' "$v"
