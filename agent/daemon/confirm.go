package daemon

import (
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/retention"
)

var _ admin.DeleteConfirmer = (*Daemon)(nil)

// ConfirmDeletes is `s3ferry retention confirm` while the daemon holds the
// index: the next sweep of each stopped guard goes on (see
// retention.Confirm).
func (d *Daemon) ConfirmDeletes() ([]string, error) {
	return retention.ConfirmLines(d.Index, d.Sources)
}
