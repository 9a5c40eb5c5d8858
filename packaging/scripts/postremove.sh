#!/bin/sh
# s3ferry post-remove: deb postrm (remove | purge | upgrade | ...) and rpm
# %postun ($1: 0 on erase, 1 on upgrade).
#
# Removal keeps /etc/s3ferry and the index in /var/lib/s3ferry, so a
# reinstall carries on where it stopped. Purge (deb only) deletes them:
# dpkg removes s3ferry.yml, this script the index and s3ferry.env. The
# s3ferry user and group stay, as Debian and Fedora practice asks: files
# elsewhere may still belong to them.
set -e

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
	rm -rf /var/lib/s3ferry
	rm -f /etc/s3ferry/s3ferry.env
	rmdir /etc/s3ferry 2>/dev/null || true
fi
exit 0
