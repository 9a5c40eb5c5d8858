#!/bin/sh
# s3ferry pre-remove: deb prerm (remove | upgrade NEW-VERSION | ...) and rpm
# %preun ($1: 0 on erase, 1 on upgrade). On removal stops the service and
# its timer and disables them; on upgrade does nothing (the new package's
# post-install restarts a running service).
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

set -- s3ferry.service s3ferry-catchup.timer s3ferry-catchup.service
if [ -d /run/systemd/system ]; then
	systemctl stop "$@" >/dev/null 2>&1 || true
fi
# disable edits only symlinks under /etc/systemd: it works, and is needed,
# where systemd does not run too.
if command -v systemctl >/dev/null 2>&1; then
	systemctl --no-reload disable "$@" >/dev/null 2>&1 || true
fi
exit 0
