package main

import (
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"

	"github.com/s3ferry/s3ferry/agent"
)

// progress draws a run's totals on a terminal: bytes sent and their rate,
// with the file counts as the description.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	shown bool // show was called: finish ends the line it drew
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
		progressbar.OptionThrottle(0),
	)}
}

func (p *progress) update(s agent.Stats) {
	p.show(fmt.Sprintf("scanned %d  unchanged %d  uploaded %d  failed %d", s.Scanned, s.Unchanged, s.Uploaded, s.Failed), s.Bytes)
}

// show draws a description and a byte count, for any command's totals.
func (p *progress) show(desc string, bytes int64) {
	p.shown = true
	p.bar.Describe(desc)
	_ = p.bar.Set64(bytes)
}

// finish draws the last totals and ends the line; a run that showed
// nothing (refused before it began) leaves no empty bar above its error.
func (p *progress) finish() {
	if !p.shown {
		return
	}
	_ = p.bar.Finish()
	fmt.Fprintln(p.w)
}
