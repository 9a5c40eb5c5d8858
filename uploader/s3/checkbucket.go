package s3

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/s3ferry/s3ferry/uploader"
)

// bucketError is a checkBucket failure: a one-line message that says what
// to do, and the SDK error it came from for errors.Is/As; it is its own
// classification (classify).
type bucketError struct {
	reason uploader.Reason
	fatal  bool
	msg    string
	err    error
}

func (e *bucketError) Error() string { return e.msg }
func (e *bucketError) Unwrap() error { return e.err }

// Class is the check's own classification, which for a bucket that does
// not exist or an endpoint that cannot be reached says more than its
// cause's: it makes bucketError the uploader.Classifier ReasonOf and Fatal
// ask first.
func (e *bucketError) Class() (uploader.Reason, bool) { return e.reason, e.fatal }

// Describe keeps the message, which already says what to do.
func (e *bucketError) Describe() string { return "" }

// Is matches uploader.ErrInvalidBucketName for a name the store refused.
func (e *bucketError) Is(target error) bool {
	return target == uploader.ErrInvalidBucketName && e.reason == uploader.ReasonInvalidBucketName
}

// checkBucket is Bucket.Check: it verifies, before any upload, that client
// has credentials and can reach bucket (HeadBucket, which needs
// s3:ListBucket). Its error is one line a user can act on ("bucket x does
// not exist: create it or fix --destination"); uploader.ReasonOf and Fatal
// work on it as on an upload error.
//
// optFns apply to its requests (Ping makes them one attempt each).
func checkBucket(ctx context.Context, client *s3.Client, bucket string, optFns ...func(*s3.Options)) error {
	opts := client.Options()
	if opts.Credentials != nil {
		if _, err := opts.Credentials.Retrieve(ctx); err != nil {
			return bucketCheckError(ctx, opts, bucket, err)
		}
	}
	_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}, optFns...)
	if err == nil {
		return nil
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusForbidden {
		// A HEAD response has no body, so no error code: ask again with a
		// GET, whose code tells bad credentials from a denying policy.
		_, lerr := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1)}, optFns...)
		var apiErr smithy.APIError
		if errors.As(lerr, &apiErr) {
			err = lerr
		}
	}
	return bucketCheckError(ctx, opts, bucket, err)
}

// Ping is Bucket.Check of bucket in one attempt, for a caller that asks
// again itself (the daemon's endpoint probe): its error says in one line
// what that attempt met (a refused connection, a host that does not
// resolve, TLS, an S3 error), or that no answer came before ctx's
// deadline, never a deadline that passed during retries it does not see.
func (c *Client) Ping(ctx context.Context, bucket string) error {
	start := time.Now()
	err := checkBucket(ctx, c.api, bucket, func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		endpoint := cmp.Or(c.cfg.EndpointURL, aws.ToString(c.api.Options().BaseEndpoint), "S3 in "+c.api.Options().Region)
		// Not wrapping err: its context.DeadlineExceeded would make it
		// "canceled" for uploader.ReasonOf; it is the endpoint's silence.
		return &bucketError{reason: uploader.ReasonNetwork,
			msg: fmt.Sprintf("no answer from endpoint %s within %s: check that it runs, and the network, firewalls and proxies on the way", endpoint, time.Since(start).Round(100*time.Millisecond))}
	}
	return err
}

// Unreachable reports whether err is a failed Bucket.Check or Ping that
// did not reach the endpoint, or got only a server error or throttling,
// for a cause that may pass with no change to the settings: a refused
// connection, no answer, a connection cut, a host that does not resolve
// (yet), a 5xx. TLS that fails (a certificate, plain HTTP), credentials
// and the bucket's own answers are not: a person must fix those. A daemon
// starts despite the first kind, with its uploads held.
func Unreachable(err error) bool {
	var be *bucketError
	if !errors.As(err, &be) {
		return false
	}
	switch be.reason {
	case uploader.ReasonNetwork, uploader.ReasonServerError, uploader.ReasonThrottled:
	default:
		return false
	}
	var certErr *tls.CertificateVerificationError
	return !errors.As(err, &certErr) && !plainHTTP(err)
}

// bucketCheckError turns a CheckBucket failure into its one-line message.
func bucketCheckError(ctx context.Context, opts s3.Options, bucket string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("check bucket %s: %w", bucket, classified(err))
	}
	endpoint := aws.ToString(opts.BaseEndpoint)
	if endpoint == "" {
		endpoint = "S3 in " + opts.Region
	}
	reason, fatal := reasonOf(err)
	e := &bucketError{reason: reason, fatal: fatal, err: classified(err)}
	var certErr *tls.CertificateVerificationError
	var credErr *credentialsError

	var respErr *awshttp.ResponseError
	status := 0
	if errors.As(err, &respErr) && respErr.Response != nil && respErr.Response.Response != nil {
		status = respErr.HTTPStatusCode()
		if region := respErr.Response.Header.Get("X-Amz-Bucket-Region"); region != "" && region != opts.Region {
			e.reason, e.fatal = uploader.ReasonOther, true
			e.msg = fmt.Sprintf("bucket %s is in region %s, not %s: set --region %s", bucket, region, opts.Region, region)
			return e
		}
	}
	switch {
	case reason == uploader.ReasonCredentials && errors.As(err, &credErr):
		e.msg = fmt.Sprintf("no credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an instance role (%v)", credErr.cause)
	case reason == uploader.ReasonCredentials:
		e.msg = fmt.Sprintf("credentials rejected by %s for bucket %s: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the profile (%s)", endpoint, bucket, errorCode(err))
	case errorCode(err) == "InvalidBucketName" || status == http.StatusBadRequest:
		// A HEAD answer has no body: a bare 400 to HeadBucket (the region
		// was handled above) is a name the store does not accept.
		e.reason, e.fatal = uploader.ReasonInvalidBucketName, true
		e.msg = fmt.Sprintf("bucket name %q is not valid at %s: S3 bucket names are 3 to 63 lowercase letters, digits, dots and hyphens; fix the destination", bucket, endpoint)
	case reason == uploader.ReasonNoSuchBucket || status == http.StatusNotFound:
		e.reason, e.fatal = uploader.ReasonNoSuchBucket, true
		e.msg = fmt.Sprintf("bucket %s does not exist at %s: create it or fix --destination", bucket, endpoint)
	case reason == uploader.ReasonAccessDenied:
		e.msg = fmt.Sprintf("access denied to bucket %s: check the credentials' policy allows s3:ListBucket and s3:PutObject on it", bucket)
	case plainHTTP(err):
		e.fatal = true
		e.msg = fmt.Sprintf("endpoint %s speaks plain HTTP, not TLS: write its URL with http://, not https:// (--endpoint-url or AWS_ENDPOINT_URL)", endpoint)
	case reason == uploader.ReasonNetwork && errors.As(err, &certErr):
		e.fatal = true
		e.msg = fmt.Sprintf("cannot verify the certificate of %s: set AWS_CA_BUNDLE to the CA that signed it (%v)", endpoint, certErr)
	case reason == uploader.ReasonNetwork:
		e.fatal = true
		e.msg = fmt.Sprintf("cannot reach endpoint %s: check --endpoint-url, the network and proxies (%v)", endpoint, err)
		if what, check := explain(err); what != "" {
			e.msg = fmt.Sprintf("cannot reach bucket %s: %s: %s", bucket, what, check)
		}
	default:
		e.msg = fmt.Sprintf("check bucket %s: %v", bucket, err)
	}
	return e
}

// errorCode returns the S3 error code in err, or its text when it has none.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return err.Error()
}
