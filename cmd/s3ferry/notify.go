package main

import (
	"fmt"
	"os"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// systemdNotifier is daemon.Notifier over systemd's sd_notify protocol
// (NOTIFY_SOCKET), for the unit's Type=notify and WatchdogSec=.
type systemdNotifier struct{}

// newSystemdNotifier returns the notifier and systemd's watchdog timeout
// (0: WatchdogSec= is off) when systemd started s3ferry with a notify
// socket; ok is false outside systemd, where nothing changes.
func newSystemdNotifier() (n systemdNotifier, watchdog time.Duration, ok bool, err error) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return n, 0, false, nil
	}
	watchdog, err = sd.SdWatchdogEnabled(false)
	if err != nil {
		return n, 0, false, fmt.Errorf("systemd watchdog: %w (check WATCHDOG_USEC and WatchdogSec= of the unit)", err)
	}
	return n, watchdog, true, nil
}

func (systemdNotifier) Ready() error             { return notify(sd.SdNotifyReady) }
func (systemdNotifier) Status(line string) error { return notify("STATUS=" + line) }
func (systemdNotifier) Stopping() error          { return notify(sd.SdNotifyStopping) }
func (systemdNotifier) Watchdog() error          { return notify(sd.SdNotifyWatchdog) }

func notify(state string) error {
	if _, err := sd.SdNotify(false, state); err != nil {
		return fmt.Errorf("sd_notify %s: %w", state, err)
	}
	return nil
}
