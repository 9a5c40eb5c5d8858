package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/local"
)

// Progress display knobs.
const (
	rateWindow  = 10 * time.Second // the rate is of the bytes moved in the last rateWindow
	rateMinSpan = time.Second      // no rate until the window spans this much
	barFiles    = 3                // files in flight with a bar of their own, at most
	barMinSize  = 8 << 20          // a file in flight gets a bar from this size up
	barWidth    = 20
	defaultCols = 80
)

// progress draws a command's progress on a terminal, for sync and restore
// alike, from the agent.Transfers the command's run reports into: bytes
// and files done of those found ("+" while the run still finds more),
// the rate of the bytes this run moved over the last rateWindow (bytes a
// resumed upload kept are done, not moved), the time left at that rate,
// and a bar for each large file in flight.
//
// It is also the writer of the command's log: a log line clears the
// drawn lines before it is written, and the next draw shows them below
// it. finish clears them for good; nothing is drawn after it, so the
// summary that follows stands alone. Its methods may be called from any
// goroutine.
type progress struct {
	tr    *agent.Transfers
	fd    int // the terminal's, for its width; -1: defaultCols
	start time.Time
	now   func() time.Time

	mu       sync.Mutex // guards what follows, and writes to w
	w        io.Writer
	drawn    int  // lines on the screen now
	finished bool // finish was called: nothing is drawn again
	samples  []sample
}

// sample is the bytes moved by a time.
type sample struct {
	at    time.Time
	moved int64
}

func newProgress(w io.Writer, tr *agent.Transfers) *progress {
	fd := -1
	if f, ok := w.(*os.File); ok {
		fd = int(f.Fd())
	}
	now := time.Now
	p := &progress{tr: tr, fd: fd, w: w, start: now(), now: now}
	p.samples = []sample{{at: p.start}}
	return p
}

// Write writes a log line below whatever was on the screen before the
// display, clearing the display first.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	return p.w.Write(b)
}

// above returns a writer to w (the same terminal, as stdout) whose
// writes clear the display first, as a log line does.
func (p *progress) above(w io.Writer) io.Writer { return aboveWriter{p, w} }

type aboveWriter struct {
	p *progress
	w io.Writer
}

func (a aboveWriter) Write(b []byte) (int, error) {
	a.p.mu.Lock()
	defer a.p.mu.Unlock()
	a.p.clear()
	return a.w.Write(b)
}

// progressFor returns the display of a command (sync, restore) on a
// terminal, unless --no-progress or --json, and the command's log written
// through it; otherwise nil and log.
func progressFor(c *cli.Context, s settings, log *slog.Logger) (*progress, *slog.Logger, error) {
	if c.Bool("no-progress") || c.Bool(flagJSON) || !isTerminal(c.App.ErrWriter) {
		return nil, log, nil
	}
	bar := newProgress(c.App.ErrWriter, agent.NewTransfers())
	log, err := newLogger(bar, s.logFormat, s.logLevel)
	if err != nil {
		return nil, nil, usageError{err}
	}
	return bar, log, nil
}

// syncCounts is what a sync's display adds to the transfers: the files
// looked at, and those that failed.
func syncCounts(s agent.Stats) string {
	return strings.Join(counts(count{s.Scanned, "scanned"}, count{s.Failed, "failed"}), ", ")
}

// count is a number of files and what they are, for a person.
type count struct {
	n    int64
	what string
}

// counts says each count that is not 0: "1,204 unchanged".
func counts(cs ...count) []string {
	var out []string
	for _, c := range cs {
		if c.n > 0 {
			out = append(out, humanize.Comma(c.n)+" "+c.what)
		}
	}
	return out
}

// draw shows the transfers as they are now, followed by counts (the
// command's own, such as files scanned).
func (p *progress) draw(counts string) {
	now := p.now()
	pr := p.tr.Progress()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	rate, ok := p.rate(now, pr.Moved)
	cols := defaultCols
	if p.fd >= 0 {
		if c, _, err := term.GetSize(p.fd); err == nil && c > 0 {
			cols = c
		}
	}
	lines := []string{progressLine(pr, rate, ok, now.Sub(p.start), counts)}
	for _, f := range pr.Flying {
		if len(lines) > barFiles || f.Size < barMinSize {
			break
		}
		lines = append(lines, fileLine(f, cols))
	}
	p.clear()
	for i, l := range lines {
		if i > 0 {
			io.WriteString(p.w, "\n")
		}
		io.WriteString(p.w, fit(l, cols-1))
	}
	p.drawn = len(lines)
}

// rate adds a sample and returns the bytes per second moved over the
// window; ok is false until the window spans rateMinSpan.
func (p *progress) rate(now time.Time, moved int64) (float64, bool) {
	p.samples = append(p.samples, sample{at: now, moved: moved})
	// Keep one sample at or before the window's start.
	for len(p.samples) > 2 && now.Sub(p.samples[1].at) >= rateWindow {
		p.samples = p.samples[1:]
	}
	first := p.samples[0]
	span := now.Sub(first.at)
	if span < rateMinSpan {
		return 0, false
	}
	return float64(moved-first.moved) / span.Seconds(), true
}

// clear erases the drawn lines and leaves the cursor at the start of the
// first; p.mu is held.
func (p *progress) clear() {
	if p.drawn == 0 {
		return
	}
	io.WriteString(p.w, "\r\x1b[K"+strings.Repeat("\x1b[1A\x1b[K", p.drawn-1))
	p.drawn = 0
}

// finish clears the display for good: what is written next (a summary)
// is not drawn over, and no line is drawn again.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	p.finished = true
}

// progressLine is the display's first line:
//
//	12.0 MiB of 40.0 MiB+, 3 of 10+ files, 4.0 MiB/s, 7s left (scanned 1,204)
func progressLine(pr agent.Progress, rate float64, rateOK bool, elapsed time.Duration, counts string) string {
	more := ""
	if pr.Counting {
		more = "+"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s of %s%s, %s of %s%s files", size(pr.Bytes), size(pr.BytesTotal), more, humanize.Comma(pr.Files), humanize.Comma(pr.FilesTotal), more)
	if pr.Kept > 0 {
		fmt.Fprintf(&b, " (%s resumed)", size(pr.Kept))
	}
	left := pr.BytesTotal - pr.Bytes
	switch {
	case !rateOK:
		b.WriteString(", -- B/s")
	default:
		fmt.Fprintf(&b, ", %s/s", size(int64(rate)))
		switch {
		case pr.Counting:
		case left <= 0:
		case rate >= 1:
			fmt.Fprintf(&b, ", ETA %s", duration(time.Duration(float64(left)/rate*float64(time.Second))))
		}
	}
	fmt.Fprintf(&b, ", %s", duration(elapsed))
	if counts != "" {
		fmt.Fprintf(&b, " (%s)", counts)
	}
	return b.String()
}

// fileLine is the line of one large file in flight:
//
//	[########------------]  40%  25.6 MiB of 64.0 MiB  2026-12-07/cam1.mp4
func fileLine(f agent.Flying, cols int) string {
	frac := 0.0
	if f.Size > 0 {
		frac = float64(f.Done) / float64(f.Size)
	}
	full := int(frac * barWidth)
	head := fmt.Sprintf("  [%s%s] %3d%%  %s of %s  ", strings.Repeat("#", full), strings.Repeat("-", barWidth-full), int(frac*100), size(f.Done), size(f.Size))
	name := local.Printable(f.Name)
	if room := cols - 1 - cells(head); cells(name) > room && room > 1 {
		name = "…" + tail(name, room-1) // the end of a path says most
	}
	return head + name
}

// fit cuts s to n cells of the terminal, so no line wraps: a wrapped line
// would be one clear does not erase.
func fit(s string, n int) string {
	if n < 1 || cells(s) <= n {
		return s
	}
	used := 0
	for i, r := range s {
		if used+cellsOf(r) > n {
			return s[:i]
		}
		used += cellsOf(r)
	}
	return s
}

// tail is the end of s that fills at most n cells.
func tail(s string, n int) string {
	r := []rune(s)
	used, i := 0, len(r)
	for i > 0 && used+cellsOf(r[i-1]) <= n {
		i--
		used += cellsOf(r[i])
	}
	return string(r[i:])
}

// cells is how many columns of a terminal s takes.
func cells(s string) int {
	n := 0
	for _, r := range s {
		n += cellsOf(r)
	}
	return n
}

// cellsOf is how many columns of a terminal r takes: two for the wide
// characters of East Asian scripts and emoji, one for the others (s3ferry
// writes names escaped: no control character is left).
func cellsOf(r rune) int {
	switch {
	case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf, r >= 0xac00 && r <= 0xd7a3,
		r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f, r >= 0xff00 && r <= 0xff60,
		r >= 0xffe0 && r <= 0xffe6, r >= 0x1f300 && r <= 0x1f64f, r >= 0x1f900 && r <= 0x1f9ff,
		r >= 0x20000 && r <= 0x3fffd:
		return 2
	}
	return 1
}

// size is n bytes for a person: 512 B, 1.5 KiB, 40.0 MiB, 7.2 GiB.
func size(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1024 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	panic("unreachable")
}

// duration is d for a person: 35ms, 12s, 1m12s, 2h05m.
func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// plural is n things: "1 file", "2 files", "1,204 files".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return humanize.Comma(n) + " " + many
}
