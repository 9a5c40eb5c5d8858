package agent

import (
	"context"
	"fmt"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

// AdoptFunc records in the index the objects the bucket already holds
// for src that match its local files (same size and content), so that
// they are not uploaded again. agent/bucket's Adopt is the one the
// command wires in; agent does not import it.
type AdoptFunc func(ctx context.Context, src *local.Source) error

// AdoptFirstRun calls adopt for every source the index knows nothing of
// (no record, nothing pending, no full walk): the index is a cache of what
// the bucket holds, and one that is new, lost, purged or rebuilt must cost
// a listing, not a re-upload of what the bucket has. A nil adopt does
// nothing.
func AdoptFirstRun(ctx context.Context, idx index.Store, sources []*local.Source, adopt AdoptFunc) error {
	if adopt == nil {
		return nil
	}
	for _, src := range sources {
		records, pending, err := idx.Count(src.ID())
		if err != nil {
			return fmt.Errorf("read index of %s: %w", src, err)
		}
		state, err := idx.State(src.ID())
		if err != nil {
			return fmt.Errorf("read index state of %s: %w", src, err)
		}
		if records != 0 || pending != 0 || state.FullWalkNs != 0 {
			continue
		}
		if err := adopt(ctx, src); err != nil {
			return fmt.Errorf("adopt what the bucket holds for %s: %w", src, err)
		}
	}
	return nil
}
