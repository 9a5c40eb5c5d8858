package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
)

// remoteDelay is what the proxy adds to each request to stand for an
// endpoint in another region.
const remoteDelay = 20 * time.Millisecond

// verifyRows measures `s3ferry verify` on the bucket the sync scenario
// filled (issue 5), and verify --read (readBackRow): the rate of its parallel listing (the key space split
// at the partitions, listed 16 parts at a time, each object looked up in
// the index) against one sequential ListObjectsV2 loop over the same
// prefix, alternately, -rounds times; the medians are reported. Against the
// local MinIO both are CPU-bound on this machine; through a proxy that adds
// remoteDelay to each request, as a distant endpoint does, the loop waits
// for every page and the parallel listing does not.
func (b *bench) verifyRows(ctx context.Context, root, idx string) error {
	local, err := b.compareListings(ctx, root, idx, b.srv.Endpoint)
	if err != nil {
		return err
	}
	proxy, stop, err := delayingProxy(b.srv.Endpoint, remoteDelay)
	if err != nil {
		return err
	}
	defer stop()
	remote, err := b.compareListings(ctx, root, idx, proxy)
	if err != nil {
		return err
	}
	for _, m := range []struct {
		where string
		l     listingRates
	}{{"local MinIO", local}, {fmt.Sprintf("%s added per request", remoteDelay), remote}} {
		b.add(fmt.Sprintf("verify, %s: parallel listing of %d objects", m.where, m.l.objects), fmt.Sprintf("%.0f objects/s (%d listings at once; median of %d)", m.l.parallel, uploader.DefaultListWorkers, b.rounds))
		b.add(fmt.Sprintf("verify, %s: one sequential ListObjectsV2 loop", m.where), fmt.Sprintf("%.0f objects/s (median of %d)", m.l.sequential, b.rounds))
		b.add(fmt.Sprintf("verify, %s: parallel / sequential", m.where), fmt.Sprintf("%.2f", m.l.parallel/m.l.sequential))
		b.add(fmt.Sprintf("verify, %s: whole run (listing, index pass)", m.where), fmt.Sprintf("%.1f s (median of %d)", m.l.verifySeconds, b.rounds))
	}
	for _, e := range []struct{ where, endpoint string }{{"local MinIO", b.srv.Endpoint}, {fmt.Sprintf("%s added per request", remoteDelay), proxy}} {
		if err := b.readBackRow(ctx, root, idx, e.where, e.endpoint); err != nil {
			return err
		}
	}
	return nil
}

// readBackSample is what the read-back row reads, as a user would ask.
const readBackSample = "1%"

// readBackRow measures `s3ferry verify --read 1%` (issue 25) against
// endpoint with the default workers and rate, once: the whole run (the
// listing verify, then the drill) and the drill alone, with the objects and
// bytes it says it read.
func (b *bench) readBackRow(ctx context.Context, root, idx, where, endpoint string) error {
	fmt.Fprintf(os.Stderr, "verify --read %s against %s...\n", readBackSample, endpoint)
	rep, run, err := b.runVerify(ctx, root, idx, endpoint, "--read", readBackSample)
	if err != nil {
		return err
	}
	r := rep.Read
	if r == nil || rep.Problems() != 0 {
		return fmt.Errorf("verify --read %s: %d problems, read report %+v", readBackSample, rep.Problems(), r)
	}
	b.add(fmt.Sprintf("verify --read %s, %s: whole run (listing, index pass, drill)", readBackSample, where), fmt.Sprintf("%.1f s, peak RSS %d MiB", rep.Seconds, run.maxRSS>>20))
	b.add(fmt.Sprintf("verify --read %s, %s: the drill", readBackSample, where),
		fmt.Sprintf("%d of %d versions, %.1f MiB in %.1f s (%.0f objects/s; %d workers, %d MiB/s at most)",
			r.Objects, r.Records, float64(r.Bytes)/(1<<20), r.Seconds, float64(r.Objects)/r.Seconds, bucket.DefaultReadWorkers, bucket.DefaultReadRate>>20))
	return nil
}

// listingRates are the medians of compareListings.
type listingRates struct {
	objects              int64
	parallel, sequential float64 // objects per second
	verifySeconds        float64
}

// compareListings runs the sequential loop and verify against endpoint,
// alternately, b.rounds times.
func (b *bench) compareListings(ctx context.Context, root, idx, endpoint string) (listingRates, error) {
	cfg := b.srv.Config()
	cfg.EndpointURL = endpoint
	client, err := b.srv.NewClient(ctx, cfg)
	if err != nil {
		return listingRates{}, err
	}
	var seq, par, totals []float64
	var res listingRates
	for r := range b.rounds {
		fmt.Fprintf(os.Stderr, "verify against %s: round %d of %d...\n", endpoint, r+1, b.rounds)
		n, d, err := b.listSequential(ctx, client, "rec/")
		if err != nil {
			return res, err
		}
		seq = append(seq, float64(n)/d.Seconds())
		rep, _, err := b.runVerify(ctx, root, idx, endpoint)
		if err != nil {
			return res, err
		}
		if p := rep.Problems(); p != 0 || rep.Listed != n {
			return res, fmt.Errorf("verify found %d problems and listed %d objects; the loop listed %d", p, rep.Listed, n)
		}
		par = append(par, rep.ObjectsPerSec)
		totals = append(totals, rep.Seconds)
		res.objects = n
	}
	res.parallel, res.sequential, res.verifySeconds = medianFloat(par), medianFloat(seq), medianFloat(totals)
	return res, nil
}

// listSequential counts the objects below prefix with one paginated loop.
func (b *bench) listSequential(ctx context.Context, client *s3.Client, prefix string) (int64, time.Duration, error) {
	start := time.Now()
	n, _, err := b.listed(ctx, client, prefix)
	return n, time.Since(start), err
}

// runVerify runs `s3ferry verify` with flags as a user would, against
// endpoint, and returns its report and peak RSS.
func (b *bench) runVerify(ctx context.Context, root, idx, endpoint string, flags ...string) (bucket.VerifyReport, toolRun, error) {
	cmd := exec.CommandContext(ctx, b.bin, append([]string{"verify", root, "s3://" + b.bucket + "/rec/",
		"--partition-layout", "2006-01-02", "--index-dir", idx, "--json", "--log-level", "warn"}, flags...)...)
	cmd.Env = append(append(os.Environ(), b.srv.Env()...), "AWS_ENDPOINT_URL="+endpoint) // the last one counts
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	var rep bucket.VerifyReport
	run, err := measure(cmd)
	if err != nil {
		return rep, run, fmt.Errorf("s3ferry verify: %w", err)
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return rep, run, fmt.Errorf("decode report %q: %w", out.String(), err)
	}
	return rep, run, nil
}

// delayingProxy forwards every request to endpoint after delay. The Host
// header is passed on unchanged, so signatures still match.
func delayingProxy(endpoint string, delay time.Duration) (proxyURL string, stop func(), err error) {
	target, err := url.Parse(endpoint)
	if err != nil {
		return "", nil, err
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		forward.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	return "http://" + l.Addr().String(), func() { srv.Close() }, nil
}

func medianFloat(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
