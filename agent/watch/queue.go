package watch

import (
	"context"
	"sync"

	"github.com/s3ferry/s3ferry/agent"
)

// Queue is an unbounded FIFO between the event loop, which must
// never block, and the submitter, which blocks on the upload pool. What it
// holds is not durable: after a crash the catch-up walk finds those files
// again (they are in watched, so look-back, directories).
type Queue struct {
	mu    sync.Mutex
	items []agent.Candidate
	ready chan struct{} // has a token while items is not empty
}

func NewQueue() *Queue {
	return &Queue{ready: make(chan struct{}, 1)}
}

func (q *Queue) Push(c agent.Candidate) {
	q.mu.Lock()
	q.items = append(q.items, c)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Pop waits for a candidate; ok is false when ctx ended first.
func (q *Queue) Pop(ctx context.Context) (c agent.Candidate, ok bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			c = q.items[0]
			q.items[0] = agent.Candidate{}
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				select {
				case q.ready <- struct{}{}:
				default:
				}
			}
			return c, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return agent.Candidate{}, false
		}
	}
}
