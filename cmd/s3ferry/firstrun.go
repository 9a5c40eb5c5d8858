package main

import (
	"context"
	"log/slog"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
)

// adoptFirstRun is the agent's first-run step: for a source the index
// knows nothing of, list what its prefix already holds and record the
// objects that match their local files (bucket.Adopt), so a new, lost or
// rebuilt index costs a listing, not a re-upload.
func adoptFirstRun(e *env, s settings, log *slog.Logger) agent.AdoptFunc {
	return func(ctx context.Context, src *local.Source) error {
		a := &bucket.Adopt{
			Sources: []*local.Source{src},
			Index:   e.index,
			Open:    e.open,
			Options: agent.Options{Workers: s.workers, Settle: agentSettle(s.settle), Logger: log},
		}
		log.Info("index empty for this source: adopting what the bucket already holds before uploading", "source", src.Root, "destination", src.Destination())
		st, err := a.Run(ctx)
		if err != nil {
			return err
		}
		log.Info("adopted", "source", src.Root, "destination", src.Destination(), "listed", st.Listed, "adopted", st.Adopted, "differ", st.Differs,
			"unverified", st.Unverified, "seconds", st.Seconds)
		return nil
	}
}
