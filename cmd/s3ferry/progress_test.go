package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// tty is a run of the binary with stdout and stderr on a pseudo-terminal,
// as a person at a terminal sees it.
type tty struct {
	cmd  *exec.Cmd
	out  *syncBuffer // every byte the terminal got, control sequences too
	done chan struct{}
	err  error // Wait's, once done is closed
}

// ptyCols is the width of the tests' terminal.
const ptyCols = 160

// openPTY returns a new pseudo-terminal's master and slave, the slave
// ptyCols wide.
func openPTY(tb testing.TB) (master, slave *os.File) {
	tb.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		tb.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		tb.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		tb.Fatalf("pty number: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("open pty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: ptyCols}); err != nil {
		tb.Fatalf("pty size: %v", err)
	}
	return master, slave
}

// startTTY starts the binary with args ("{root}", "{dest}", "{index}" as
// in run) on a new pseudo-terminal.
func (e *testEnv) startTTY(tb testing.TB, args ...string) *tty {
	tb.Helper()
	r := strings.NewReplacer("{root}", e.root, "{dest}", "s3://"+e.bucket+"/rec/", "{index}", e.index)
	for i, a := range args {
		args[i] = r.Replace(a)
	}
	master, slave := openPTY(tb)
	t := &tty{cmd: exec.Command(binary, args...), out: &syncBuffer{}, done: make(chan struct{})}
	t.cmd.Env = append(os.Environ(), e.srv.Env()...)
	t.cmd.Stdout, t.cmd.Stderr = slave, slave
	if err := t.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	slave.Close() // the child's copy keeps it open: reads end when it exits
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(t.out, master) // ends with EIO once the child is gone
	}()
	go func() {
		t.err = t.cmd.Wait()
		<-read
		master.Close()
		close(t.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-t.done:
		default:
			_ = t.cmd.Process.Kill()
			<-t.done
		}
	})
	return t
}

// wait waits for the run to end and returns its exit code.
func (t *tty) wait(tb testing.TB, limit time.Duration) int {
	tb.Helper()
	select {
	case <-t.done:
	case <-time.After(limit):
		tb.Fatalf("%s did not end within %s\n%s", t.cmd.Args[1], limit, screen(t.out.String()))
	}
	var ee *exec.ExitError
	if errors.As(t.err, &ee) {
		return ee.ExitCode()
	} else if t.err != nil {
		tb.Fatal(t.err)
	}
	return 0
}

// runTTY runs the binary on a pseudo-terminal and returns what the
// terminal got, failing the test unless it exits with want.
func (e *testEnv) runTTY(tb testing.TB, want int, args ...string) string {
	tb.Helper()
	t := e.startTTY(tb, args...)
	if code := t.wait(tb, 3*time.Minute); code != want {
		tb.Fatalf("%s: exit %d, want %d\n%s", args[0], code, want, screen(t.out.String()))
	}
	return t.out.String()
}

// screen is what a terminal shows after out: the lines left on it, with
// what a carriage return, a cursor-up or an erase-line wrote over gone.
// It knows the sequences s3ferry writes (CR, LF, ESC [K, ESC [nA) and
// fails on any other, so a new one is not passed over.
func screen(out string) string {
	out = strings.ReplaceAll(out, "\r\n", "\n") // the pty's output processing
	lines := [][]rune{nil}
	row, col := 0, 0
	put := func(r rune) {
		for len(lines[row]) < col {
			lines[row] = append(lines[row], ' ')
		}
		if col < len(lines[row]) {
			lines[row][col] = r
		} else {
			lines[row] = append(lines[row], r)
		}
		col++
	}
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\r':
			col = 0
		case '\n':
			row, col = row+1, 0
			if row == len(lines) {
				lines = append(lines, nil)
			}
		case 0x1b:
			j := i + 1
			if j >= len(rs) || rs[j] != '[' {
				return fmt.Sprintf("unknown escape at %d in %q", i, out)
			}
			j++
			n := 0
			for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
				n = n*10 + int(rs[j]-'0')
				j++
			}
			if j >= len(rs) {
				return fmt.Sprintf("cut escape at %d in %q", i, out)
			}
			switch rs[j] {
			case 'K':
				if col < len(lines[row]) {
					lines[row] = lines[row][:col]
				}
			case 'A':
				row = max(row-max(n, 1), 0)
			default:
				return fmt.Sprintf("unknown escape %q at %d in %q", string(rs[i:j+1]), i, out)
			}
			i = j
		default:
			put(r)
		}
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimRight(string(l), " "))
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// frames splits what the terminal got into what each draw showed: the
// text between two clears.
func frames(out string) []string {
	return regexp.MustCompile(`\r\x1b\[K(\x1b\[1A\x1b\[K)*`).Split(out, -1)
}

var (
	// 1.5 MiB of 4.0 MiB+, 12 of 30+ files, 1.0 MiB/s, ETA 2s, 3s (scanned 40)
	progressRe = regexp.MustCompile(`([0-9.]+ [KMG]?i?B) of ([0-9.]+ [KMG]?i?B)(\+?), ([0-9,]+) of ([0-9,]+)(\+?) files.*, ([0-9.]+ [KMG]?i?B)/s, ETA ([0-9hms.]+)`)
	// [#####---------------]  25%  16.0 MiB of 64.0 MiB  name
	barRe  = regexp.MustCompile(`\[[#-]{20}\] +([0-9]+)%  [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B  (\S+)`)
	rateRe = regexp.MustCompile(`([0-9.]+) ([KMG]i)?B/s`)
)

// bytesOf reads 1.5 KiB, 2.0 MiB, 3 B.
func bytesOf(tb testing.TB, n, unit string) float64 {
	tb.Helper()
	v, err := strconv.ParseFloat(n, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v * map[string]float64{"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[unit]
}

// TestSyncProgressOfSmallFiles: many small files under a bandwidth limit
// show bytes done of the total, files done of the total, a rate and the
// time left, and a summary for a person at the end, not a log line.
func TestSyncProgressOfSmallFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 150 {
		e.writeRandom(t, fmt.Sprintf("%s/call-%03d.wav", day(0), i), 20<<10)
	}
	out := e.runTTY(t, 0, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--bwlimit", "1MiB/s")
	var shown []string
	for _, f := range frames(out) {
		if m := progressRe.FindStringSubmatch(f); m != nil && m[3] == "" && m[6] == "" {
			shown = append(shown, m[0])
			if m[2] != "2.9 MiB" || m[5] != "150" {
				t.Errorf("progress %q: want a total of 2.9 MiB in 150 files", m[0])
			}
		}
	}
	if len(shown) == 0 {
		t.Fatalf("no progress with bytes and files of their totals, a rate and an ETA:\n%s", screen(out))
	}
	scr := screen(out)
	last := lastLine(scr)
	if want := "sync done in "; !strings.HasPrefix(last, want) || !strings.Contains(last, ": 150 files uploaded (2.9 MiB, ") {
		t.Errorf("last line %q, want the summary: sync done in ...: 150 files uploaded (2.9 MiB, ...)\n%s", last, scr)
	}
	if strings.Contains(scr, `msg="sync done"`) || strings.Contains(scr, "level=") && strings.Contains(scr, "bytes=") {
		t.Errorf("the terminal shows the summary as a log line:\n%s", scr)
	}
}

// TestSyncProgressOffATerminal: with stderr not a terminal there is no
// display, no control character, and the summary is the log line.
func TestSyncProgressOffATerminal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeRandom(t, day(0)+"/a.wav", 10<<10)
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s")
	if r.code != 0 {
		t.Fatalf("sync: exit %d\n%s", r.code, r.stderr)
	}
	if strings.ContainsAny(r.stderr+r.stdout, "\r\x1b") {
		t.Errorf("control characters off a terminal: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, `level=INFO msg="sync done"`) || !strings.Contains(r.stderr, "bytes=10240") {
		t.Errorf("no sync done log line off a terminal:\n%s", r.stderr)
	}
	// On a terminal, the same totals are for a person.
	e.writeRandom(t, day(0)+"/b.wav", 10<<10)
	scr := screen(e.runTTY(t, 0, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s"))
	if last := lastLine(scr); !strings.HasPrefix(last, "sync done in ") || !strings.Contains(last, "1 file uploaded (10.0 KiB") || !strings.Contains(last, "1 unchanged") {
		t.Errorf("last line on a terminal %q, want sync done in ...: 1 file uploaded (10.0 KiB, ...), 1 unchanged\n%s", last, scr)
	}
}

// TestSyncProgressOfALargeFile: a large file sent under a bandwidth limit
// has a bar of its own, which moves while its parts are on their way.
func TestSyncProgressOfALargeFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeRandom(t, day(0)+"/cam1.mp4", 48<<20)
	out := e.runTTY(t, 0, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--bwlimit", "12MiB/s")
	seen := map[string]bool{}
	for _, f := range frames(out) {
		if m := barRe.FindStringSubmatch(f); m != nil && m[2] == day(0)+"/cam1.mp4" && m[1] != "0" && m[1] != "100" {
			seen[m[1]] = true
		}
	}
	if len(seen) < 2 {
		t.Fatalf("the large file's bar showed %v, want it moving through two values or more:\n%s", slices.Sorted(func(yield func(string) bool) {
			for k := range seen {
				if !yield(k) {
					return
				}
			}
		}), screen(out))
	}
}

// TestSyncProgressRateOfAResumedUpload: the parts an interrupted run sent
// are done when the next run resumes the upload, but not sent by it: the
// rate shown stays within the bandwidth limit.
func TestSyncProgressRateOfAResumedUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeRandom(t, day(0)+"/cam1.mp4", 40<<20)
	first := e.startTTY(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--part-size", "5MiB", "--bwlimit", "8MiB/s")
	eventually(t, time.Minute, "parts of the upload to be acknowledged", func() bool {
		m := barRe.FindAllStringSubmatch(first.out.String(), -1)
		if len(m) == 0 {
			return false
		}
		pct, _ := strconv.Atoi(m[len(m)-1][1])
		return pct >= 60
	})
	if err := first.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := first.wait(t, time.Minute); code != exitInterrupted {
		t.Fatalf("interrupted sync: exit %d, want %d\n%s", code, exitInterrupted, screen(first.out.String()))
	}

	const limit = 4 << 20
	out := e.runTTY(t, 0, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--part-size", "5MiB", "--bwlimit", "4MiB/s")
	scr := screen(out)
	if !strings.Contains(out, " resumed)") || !strings.Contains(lastLine(scr), "of it sent by an earlier run") {
		t.Fatalf("the second sync resumed nothing:\n%s", scr)
	}
	rates := 0
	for _, f := range frames(out) {
		for _, m := range rateRe.FindAllStringSubmatch(f, -1) {
			rates++
			// Within the limit, give or take the limiter's burst and one
			// read counted before it waits: not the kept parts.
			if got := bytesOf(t, m[1], m[2]); got > 1.5*limit {
				t.Errorf("rate %s while resuming under --bwlimit 4MiB/s: the kept parts counted as sent", m[0])
			}
		}
	}
	if rates == 0 {
		t.Fatalf("no rate shown:\n%s", scr)
	}
}

// TestRestoreSummaryBelowProgress: restore's summary is on a line of its
// own, and the display is not drawn again after it.
func TestRestoreSummaryBelowProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 40 {
		e.writeRandom(t, fmt.Sprintf("d/call-%02d.wav", i), 50<<10)
	}
	e.sync(t, 0)
	// A slow link, so that the restore takes long enough to draw.
	p := s3test.NewFaultProxy(t, e.srv.Endpoint, 1)
	p.Set(s3test.Faults{Latency: 100 * time.Millisecond})
	out := e.runTTY(t, 0, "restore", "{dest}", "--to", t.TempDir(), "--workers", "2", "--endpoint-url", p.URL)
	scr := screen(out)
	out = strings.ReplaceAll(out, "\r\n", "\n") // the terminal's, not s3ferry's
	i := strings.Index(out, "restored 40 files (")
	if i < 0 {
		t.Fatalf("no summary restored 40 files (...):\n%s", scr)
	}
	if !strings.Contains(out[:i], "\r") {
		t.Fatalf("restore drew no progress before its summary:\n%s", scr)
	}
	if after := out[i:]; strings.ContainsAny(after, "\r\x1b") {
		t.Errorf("the display was drawn after the summary: %q", after)
	}
	if last := lastLine(scr); !strings.HasPrefix(last, "restored 40 files (2.0 MiB, ") {
		t.Errorf("the summary shares its line, or is not for a person: %q\n%s", last, scr)
	}
}

// TestRunOnATerminalLogsEachUpload: run on a terminal says each upload in
// one line: key, size, how long it took. Off a terminal it does not.
func TestRunOnATerminalLogsEachUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeRandom(t, day(0)+"/a.wav", 3<<10)
	d := e.startTTY(t, "run", "{root}", "{dest}", "--index-dir", "{index}", "--admin-listen", "off", "--settle", "200ms", "--rescan-interval", "1h")
	uploaded := regexp.MustCompile(`level=INFO msg=uploaded key=rec/` + regexp.QuoteMeta(day(0)) + `/(a|b).wav size="3.0 KiB" took=[0-9.]+(ms|s)`)
	eventually(t, time.Minute, "the catch-up's upload to be logged", func() bool { return uploaded.MatchString(d.out.String()) })
	e.writeRandom(t, day(0)+"/b.wav", 3<<10)
	eventually(t, time.Minute, "the new file's upload to be logged", func() bool { return len(uploaded.FindAllString(d.out.String(), -1)) >= 2 })
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t, time.Minute); code != 0 {
		t.Errorf("run: exit %d after SIGTERM", code)
	}

	// Off a terminal, the journal is as it was: no line per upload at
	// info level.
	off := e.startDaemon(t, "--log-level", "info")
	e.writeRandom(t, day(0)+"/c.wav", 3<<10)
	eventually(t, time.Minute, "c.wav to be uploaded", func() bool { return e.hasKeys(t, day(0)+"/c.wav") })
	off.stop(t, time.Minute)
	if strings.Contains(off.out.String(), "msg=uploaded") {
		t.Errorf("run off a terminal logs each upload:\n%s", off.out)
	}
}

// TestHumanUnits: sizes, durations and counts for a person.
func TestHumanUnits(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{size(0), "0 B"}, {size(1023), "1023 B"}, {size(1536), "1.5 KiB"}, {size(40 << 20), "40.0 MiB"}, {size(7 << 30), "7.0 GiB"},
		{duration(35 * time.Millisecond), "35ms"}, {duration(12 * time.Second), "12s"}, {duration(72 * time.Second), "1m12s"}, {duration(125 * time.Minute), "2h05m"},
		{plural(1, "file", "files"), "1 file"}, {plural(2, "file", "files"), "2 files"}, {plural(1204, "file", "files"), "1,204 files"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestFitNeverWraps: a line is cut to the terminal's width counting wide
// characters as two columns, and a long name keeps its end.
func TestFitNeverWraps(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abcdef", 4, "abcd"},
		{"ab通話cd", 4, "ab通"},
		{"ab通話cd", 5, "ab通"},
		{"short", 10, "short"},
	} {
		if got := fit(tc.s, tc.n); got != tc.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
	f := fileLine(agent.Flying{Name: "2026-12-07/agent07/通話-録音-0001.wav", Done: 1 << 20, Size: 64 << 20}, 80)
	if got := cells(f); got > 79 || !strings.HasSuffix(f, "通話-録音-0001.wav") || !strings.Contains(f, "…") {
		t.Errorf("fileLine at 80 columns = %q (%d columns), want its end, cut at 79 columns", f, got)
	}
}
