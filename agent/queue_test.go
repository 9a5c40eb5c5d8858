package agent

import "testing"

func TestCandidateQueueIsFIFO(t *testing.T) {
	q := newCandidateQueue()
	for _, p := range []string{"a", "b", "c"} {
		q.push(Candidate{Path: p})
	}
	ctx := t.Context()
	for _, want := range []string{"a", "b", "c"} {
		c, ok := q.pop(ctx)
		if !ok || c.Path != want {
			t.Fatalf("pop = %q, %v; want %q", c.Path, ok, want)
		}
	}
}
