package watch

import (
	"testing"

	"github.com/s3ferry/s3ferry/agent"
)

func TestCandidateQueueIsFIFO(t *testing.T) {
	q := NewQueue()
	for _, p := range []string{"a", "b", "c"} {
		q.Push(agent.Candidate{Path: p})
	}
	ctx := t.Context()
	for _, want := range []string{"a", "b", "c"} {
		c, ok := q.Pop(ctx)
		if !ok || c.Path != want {
			t.Fatalf("pop = %q, %v; want %q", c.Path, ok, want)
		}
	}
}
