package uploader_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// use returns an Uploader with cfg over client's buckets, retrying its
// Puts as client's SDK would, as the agent builds one.
func use(client *s3.Client, cfg uploader.Config) *uploader.Uploader {
	return uploader.New(client.Bucket, client, cfg)
}

// s3Config is srv's client config with cfg's checksum: the algorithm is
// in both configs and must be the same.
func s3Config(srv *s3test.Server, cfg uploader.Config) s3.Config {
	c := srv.Config()
	c.Checksum = cfg.Checksum
	return c
}

// checksumClient returns a client of srv whose writes carry cfg's
// checksum.
func checksumClient(tb testing.TB, srv *s3test.Server, cfg uploader.Config) *s3.Client {
	tb.Helper()
	c, err := srv.NewClient(context.Background(), s3Config(srv, cfg))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// withHook returns a client of srv whose HTTP client calls before on
// every request (every attempt) it sends. The SDK gives AWS_CA_BUNDLE's
// roots only to its own client type, so the hook is in that client's
// transport: its Proxy function sees each request before it is sent.
func withHook(tb testing.TB, srv *s3test.Server, before func(*http.Request)) *s3.Client {
	tb.Helper()
	hooked := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		proxy := tr.Proxy
		tr.Proxy = func(req *http.Request) (*url.URL, error) {
			before(req)
			if proxy == nil {
				return nil, nil
			}
			return proxy(req)
		}
	})
	opts := append(srv.LoadOptions(), config.WithHTTPClient(hooked))
	c, err := s3.NewClient(context.Background(), srv.Config(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
