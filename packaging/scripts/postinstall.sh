#!/bin/sh
# s3ferry post-install: deb postinst (configure [OLD-VERSION]) and rpm %post
# ($1: 1 on install, 2 on upgrade). Creates the s3ferry system user and group
# and /var/lib/s3ferry, and checks the configuration. Never enables or starts
# anything: the configuration must be edited first. On upgrade restarts
# s3ferry only if it was running and its configuration checks.
# Where systemd does not run (containers, chroots, CI) it touches nothing of
# systemd's and leaves the kernel's settings alone.
set -e

upgrade=
case "$1" in
configure) upgrade=$2 ;;
[0-9]*) [ "$1" -lt 2 ] || upgrade=$1 ;;
*) exit 0 ;; # abort-upgrade, abort-remove, ...: nothing to redo
esac

if ! getent group s3ferry >/dev/null; then
	groupadd --system s3ferry
fi
if ! getent passwd s3ferry >/dev/null; then
	useradd --system --gid s3ferry --no-create-home --home-dir /var/lib/s3ferry \
		--shell /usr/sbin/nologin --comment "s3ferry backup agent" s3ferry
fi
# The index. StateDirectory= makes it at the first start too, but
# `sudo -u s3ferry s3ferry status` before that needs it, as do hosts where
# systemd does not run.
if [ ! -d /var/lib/s3ferry ]; then
	install -d -o s3ferry -g s3ferry -m 0750 /var/lib/s3ferry
fi

# Credentials for hosts without an instance role (AWS_ACCESS_KEY_ID=...):
# systemd reads this file for the units, and s3ferry itself for a command
# given --config /etc/s3ferry/s3ferry.yml, so that `sudo -u s3ferry s3ferry
# doctor --config /etc/s3ferry/s3ferry.yml` has them too. Root's, readable
# by the s3ferry group and no one else. One left root's with mode 0600 (as
# earlier versions advised) is given to the group; any other keeps its
# owner and group, but loses what others may do with it and the group's
# write (s3ferry refuses a file of credentials others could read or change).
env=/etc/s3ferry/s3ferry.env
if [ ! -e "$env" ]; then
	(
		umask 077
		cat >"$env" <<'EOF'
# /etc/s3ferry/s3ferry.env: credentials of the s3ferry service, and of
# s3ferry commands given --config /etc/s3ferry/s3ferry.yml: KEY=VALUE lines,
# as systemd's EnvironmentFile= reads them. Keep it root:s3ferry, mode 0640.
#AWS_ACCESS_KEY_ID=
#AWS_SECRET_ACCESS_KEY=
EOF
	)
	chown root:s3ferry "$env"
	chmod 0640 "$env"
elif [ "$(stat -c %u:%g:%a "$env")" = 0:0:600 ]; then
	chgrp s3ferry "$env"
	chmod 0640 "$env"
elif [ ! -L "$env" ]; then
	chmod g-w,o-rwx "$env"
fi

# The configuration as the service would read it: a bad one is reported
# here (the install goes on) and keeps a running service from restarting.
config_ok=yes
if ! /usr/bin/s3ferry config check --config /etc/s3ferry/s3ferry.yml >/dev/null; then
	config_ok=
	echo "s3ferry: /etc/s3ferry/s3ferry.yml has the error above: fix it, then systemctl restart s3ferry" >&2
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	# Raise, never lower, the running inotify limits to those of the drop-in
	# (systemd-sysctl applies it at every boot).
	grep -E '^[a-z]' /usr/lib/sysctl.d/60-s3ferry.conf | while IFS=' =' read -r key value; do
		f=/proc/sys/$(printf '%s' "$key" | tr . /)
		cur=$(cat "$f" 2>/dev/null) || continue
		if [ "$cur" -lt "$value" ]; then
			echo "$value" >"$f" 2>/dev/null || true
		fi
	done
	if [ -n "$upgrade" ] && [ -n "$config_ok" ]; then
		systemctl try-restart s3ferry.service ||
			echo "s3ferry: restart after upgrade failed; see journalctl -u s3ferry" >&2
	fi
fi
exit 0
