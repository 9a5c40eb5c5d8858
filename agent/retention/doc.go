// Package retention deletes local files that are safely in the bucket
// (the local retention) and mirrors local deletes as delete markers when a
// source asks for it (propagate-deletes): Sweeper, one pass over the
// sources, which sync runs once and the daemon on a timer.
package retention
