package uploader

import "context"

// A Meter is told the bytes a Bucket moves over the network on behalf of
// the requests made with a context that carries it (WithMeter): the
// request bodies it sends and the answer bodies it receives, each time
// some go, retries included. Bytes a request reads to checksum its body
// before sending it are not moved and not told. Moved is called from
// many goroutines at once and must not block.
type Meter interface {
	Moved(n int64)
}

type meterKey struct{}

// WithMeter returns ctx carrying m, for a Bucket to report into.
func WithMeter(ctx context.Context, m Meter) context.Context {
	return context.WithValue(ctx, meterKey{}, m)
}

// MeterOf returns the Meter ctx carries, or nil.
func MeterOf(ctx context.Context) Meter {
	m, _ := ctx.Value(meterKey{}).(Meter)
	return m
}
