package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
)

// maxReadProblems is how many of a drill's problems /status shows.
const maxReadProblems = 10

// readChecks runs the restore drill (a bucket.ReadCheck of ReadSample) at
// start and every ReadInterval until ctx ends. It is off unless
// ReadSample is set: reading back costs GET requests and, from a host
// outside the bucket's region, egress, and needs s3:GetObjectVersion,
// which the packaged IAM policy does not grant. A drill that stops
// early (access denied, the endpoint down) is logged and tried again at
// the next.
func (d *Daemon) readChecks(ctx context.Context) error {
	o := d.Options
	c := &bucket.ReadCheck{Sources: d.Sources, Index: d.Index, Open: d.Buckets, Sample: d.ReadSample, Rate: d.ReadRate, Now: o.Now}
	t := time.NewTicker(d.ReadInterval)
	defer t.Stop()
	for {
		c.Again = d.reads.start()
		rep, err := c.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		now := o.Now()
		d.reads.end(rep, err, now)
		failures := map[string]int64{admin.ReadCorrupt: rep.Corrupt, admin.ReadMissing: rep.Missing, admin.ReadUnreadable: rep.Unreadable}
		var clean time.Time
		switch {
		case err != nil:
			failures[admin.ReadStopped] = 1
			o.Logger.Error("restore drill stopped; trying again at the next", "err", err, "read", rep.Objects, "bytes", rep.Bytes)
		case rep.Problems() > 0:
			o.Logger.Error("restore drill: versions not read back as recorded: s3ferry status lists them; s3ferry verify --read all --repair uploads the local files again",
				"read", rep.Objects, "bytes", rep.Bytes, "corrupt", rep.Corrupt, "missing", rep.Missing, "unreadable", rep.Unreadable)
		default:
			clean = now
			o.Logger.Info("restore drill: every version read back as recorded", "sample", rep.Sample, "read", rep.Objects, "bytes", rep.Bytes, "seconds", rep.Seconds)
		}
		d.metrics.ReadChecked(rep.Objects, rep.Bytes, failures, clean)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// readState is where the restore drills stand, for /status and /healthz;
// readChecks updates it, under mu.
type readState struct {
	mu      sync.Mutex
	status  admin.ReadCheckStatus
	damaged int64 // versions the last drill that ended proved corrupt or gone
	// damagedSince is when the drills first proved damage, kept until one
	// ends without.
	damagedSince time.Time
	// bad are the files whose versions the last drill that ended proved
	// damaged: the next one reads them again.
	bad     []bucket.ReadTarget
	sources map[string]*local.Source // a Finding's Source → the source
}

func newReadState(sources []*local.Source, sample bucket.ReadSample, interval time.Duration) *readState {
	byName := map[string]*local.Source{}
	for _, src := range sources {
		byName[src.String()] = src
	}
	return &readState{status: admin.ReadCheckStatus{Sample: sample.String(), Interval: interval.Seconds()}, sources: byName}
}

// start marks a drill running and returns what it must read again.
func (s *readState) start() []bucket.ReadTarget {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Running = true
	return s.bad
}

// end records a drill that ended at now. A drill that stopped early
// (err) does not clear the damage an earlier one proved: only one that
// read its whole sample does.
func (s *readState) end(rep bucket.ReadReport, err error, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.status
	st.Running, st.LastEnded = false, now
	st.Objects, st.Bytes, st.Corrupt, st.Missing, st.Unreadable = rep.Objects, rep.Bytes, rep.Corrupt, rep.Missing, rep.Unreadable
	st.Error = ""
	if err != nil {
		st.Error = err.Error()
	}
	st.Problems = nil
	var bad []bucket.ReadTarget
	for _, f := range rep.Findings {
		src := s.sources[f.Source]
		if f.Kind != bucket.FindingReadUnreadable && src != nil {
			bad = append(bad, bucket.ReadTarget{Source: src, Path: f.Path})
		}
		if len(st.Problems) < maxReadProblems {
			p := admin.ReadProblem{Kind: f.Kind, Path: f.Path, Detail: f.Detail}
			if src != nil {
				p.Root = src.Root
			}
			st.Problems = append(st.Problems, p)
		}
	}
	switch n := rep.Damaged(); {
	case n > 0:
		if s.damaged == 0 {
			s.damagedSince = now
		}
		s.damaged, s.bad = n, bad
	case err == nil:
		s.damaged, s.damagedSince, s.bad = 0, time.Time{}, nil
	}
	if err == nil && rep.Problems() == 0 {
		st.LastSuccess = now
	}
}

// snapshot returns the status, nil when s is nil (no drills).
func (s *readState) snapshot() *admin.ReadCheckStatus {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Problems = append([]admin.ReadProblem(nil), st.Problems...)
	return &st
}

// health is the drills' part of /healthz (see Daemon.health): proven
// damage fails it until a drill reads its whole sample, and the damaged
// files again, back without;
// a version that could not be read, or a drill that stopped, warns.
func (s *readState) health(now time.Time) (admin.Health, bool) {
	if s == nil {
		return admin.Health{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	switch {
	case s.damaged > 0:
		msg := fmt.Sprintf("restore drill: %d recorded versions read back corrupt or gone since %s (%d corrupt, %d gone in the last): the backup of those files cannot be restored; s3ferry status lists them, s3ferry verify --read all --repair uploads them again",
			s.damaged, s.damagedSince.UTC().Format(time.RFC3339), st.Corrupt, st.Missing)
		if len(st.Problems) > 0 {
			p := st.Problems[0]
			msg += fmt.Sprintf("; first: %s (%s)", local.Printable(p.Path), p.Kind)
		}
		anon := fmt.Sprintf("restore drill: %d recorded versions read back corrupt or gone: s3ferry status lists them", s.damaged)
		return admin.Health{Why: msg, Anonymous: anon}, true
	case st.Error != "":
		msg := fmt.Sprintf("warning: the last restore drill stopped (%s ago): %s", now.Sub(st.LastEnded).Round(time.Second), st.Error)
		return admin.Health{OK: true, Why: msg, Anonymous: "warning: the last restore drill stopped early: s3ferry status says why"}, true
	case st.Unreadable > 0:
		msg := fmt.Sprintf("warning: the last restore drill could not read %d versions to their end", st.Unreadable)
		return admin.Health{OK: true, Why: msg, Anonymous: msg}, true
	}
	return admin.Health{}, false
}
