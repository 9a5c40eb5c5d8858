package agent

import (
	"context"
	"sync"
)

// candidateQueue is an unbounded FIFO between the event loop, which must
// never block, and the submitter, which blocks on the upload pool. What it
// holds is not durable: after a crash the catch-up walk finds those files
// again (they are in watched, so look-back, directories).
type candidateQueue struct {
	mu    sync.Mutex
	items []Candidate
	ready chan struct{} // has a token while items is not empty
}

func newCandidateQueue() *candidateQueue {
	return &candidateQueue{ready: make(chan struct{}, 1)}
}

func (q *candidateQueue) push(c Candidate) {
	q.mu.Lock()
	q.items = append(q.items, c)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop waits for a candidate; ok is false when ctx ended first.
func (q *candidateQueue) pop(ctx context.Context) (c Candidate, ok bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			c = q.items[0]
			q.items[0] = Candidate{}
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
			return Candidate{}, false
		}
	}
}
