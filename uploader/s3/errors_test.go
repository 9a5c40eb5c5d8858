package s3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3ferry/s3ferry/uploader"
)

// apiError builds an error shaped like the SDK's for an S3 answer with
// status and code, after the retryer gave up.
func apiError(status int, code string) error {
	var cause error = fmt.Errorf("http %d", status)
	if code != "" {
		cause = &smithy.GenericAPIError{Code: code, Message: "message"}
	}
	resp := &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
		Err:      cause,
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &retry.MaxAttemptsError{
		Attempt: 5,
		Err:     &awshttp.ResponseError{ResponseError: resp, RequestID: "id"},
	}}
}

func TestClassify(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name   string
		err    error
		reason uploader.Reason
		fatal  bool
	}{
		{"nil", nil, "", false},
		{"canceled while sending", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: context.Canceled}}, uploader.ReasonCanceled, false},
		{"no credentials", &smithy.OperationError{Err: fmt.Errorf("get identity: %w", &credentialsError{errors.New("no EC2 IMDS role found")})}, uploader.ReasonCredentials, true},
		{"no credentials wrapping a missing file", &credentialsError{os.ErrNotExist}, uploader.ReasonCredentials, true},
		{"NoSuchBucket", apiError(404, "NoSuchBucket"), uploader.ReasonNoSuchBucket, true},
		{"AccessDenied", apiError(403, "AccessDenied"), uploader.ReasonAccessDenied, true},
		{"InvalidAccessKeyId", apiError(403, "InvalidAccessKeyId"), uploader.ReasonCredentials, true},
		{"SignatureDoesNotMatch", apiError(403, "SignatureDoesNotMatch"), uploader.ReasonCredentials, true},
		{"ExpiredToken", apiError(400, "ExpiredToken"), uploader.ReasonCredentials, true},
		{"BadDigest", apiError(400, "BadDigest"), uploader.ReasonChecksumMismatch, false},
		{"XAmzContentChecksumMismatch", apiError(400, "XAmzContentChecksumMismatch"), uploader.ReasonChecksumMismatch, false},
		{"SlowDown", apiError(503, "SlowDown"), uploader.ReasonThrottled, false},
		{"503 without a code", apiError(503, ""), uploader.ReasonThrottled, false},
		{"403 without a code", apiError(403, ""), uploader.ReasonAccessDenied, true},
		{"retry quota", ratelimit.QuotaExceededError{Available: 0, Requested: 5}, uploader.ReasonThrottled, false},
		{"RequestTimeout", apiError(400, "RequestTimeout"), uploader.ReasonNetwork, false},
		{"InvalidStorageClass", apiError(400, "InvalidStorageClass"), uploader.ReasonOther, true},
		{"NotImplemented", apiError(501, "NotImplemented"), uploader.ReasonOther, true},
		{"InternalError", apiError(500, "InternalError"), uploader.ReasonServerError, false},
		{"500 without a code", apiError(500, ""), uploader.ReasonServerError, false},
		{"502 without a code", apiError(502, ""), uploader.ReasonServerError, false},
		{"stalled", &smithy.OperationError{Err: &retry.MaxAttemptsError{Err: &smithyhttp.RequestSendError{Err: &stallError{timeout: time.Minute}}}}, uploader.ReasonNetwork, false},
		{"404 without a code", apiError(404, ""), uploader.ReasonOther, false},
		{"refused", &smithy.OperationError{Err: &retry.MaxAttemptsError{Err: &smithyhttp.RequestSendError{Err: dialErr}}}, uploader.ReasonNetwork, false},
		{"plain HTTP to https://", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: &url.Error{Op: "Head", URL: "https://127.0.0.1:9/b", Err: http.ErrSchemeMismatch}}}, uploader.ReasonNetwork, true},
		{"not TLS to https://", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: &url.Error{Op: "Head", URL: "https://127.0.0.1:9/b", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}}}, uploader.ReasonNetwork, true},
		{"reset while reading the answer", &smithy.OperationError{Err: &smithy.DeserializationError{Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}}, uploader.ReasonNetwork, false},
		{"anything", errors.New("boom"), uploader.ReasonOther, false},
		{"bucket check", &bucketError{reason: uploader.ReasonNetwork, fatal: true, msg: "cannot reach", err: dialErr}, uploader.ReasonNetwork, true},
	}
	for _, tt := range tests {
		if got := uploader.ReasonOf(classified(tt.err)); got != tt.reason {
			t.Errorf("%s: ReasonOf(%v) = %q, want %q", tt.name, tt.err, got, tt.reason)
		}
		if got := uploader.Fatal(classified(tt.err)); got != tt.fatal {
			t.Errorf("%s: Fatal(%v) = %t, want %t", tt.name, tt.err, got, tt.fatal)
		}
	}
}

func TestDescribe(t *testing.T) {
	refused := &smithy.OperationError{OperationName: "PutObject", Err: &retry.MaxAttemptsError{Attempt: 3, Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 0, Header: http.Header{}}},
			Err: &smithyhttp.RequestSendError{Err: &url.Error{Op: "Put", URL: "http://127.0.0.1:9/b/k?x-id=PutObject",
				Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}},
		},
	}}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", refused, "PutObject: endpoint http://127.0.0.1:9 refused the connection (3 attempts): check that the S3 server runs"},
		{"server error", apiError(500, "InternalError"), "PutObject: the endpoint answered HTTP 500 InternalError: message (5 attempts)"},
		{"stalled", &smithy.OperationError{OperationName: "UploadPart", Err: &stallError{timeout: time.Minute, phase: "sending the request"}},
			"UploadPart: no byte moved for 1m0s sending the request: connection stalled, attempt cancelled: check the network path"},
	}
	for _, tt := range tests {
		var c uploader.Classifier
		if !errors.As(classified(tt.err), &c) {
			t.Fatalf("%s: classified(err) is no uploader.Classifier", tt.name)
		}
		if got := c.Describe(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: Describe() = %q, want it to start with %q", tt.name, got, tt.want)
		}
	}
	if got := describe(errors.New("boom")); got != "" {
		t.Errorf("describe(boom) = %q, want nothing to say", got)
	}
}

// TestUnreachable: a check that could not reach the endpoint for a cause
// that may pass lets a daemon start; one a person must fix does not.
func TestUnreachable(t *testing.T) {
	dialErr := &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	plain := &smithyhttp.RequestSendError{Err: &url.Error{Op: "Head", URL: "https://127.0.0.1:9/b", Err: http.ErrSchemeMismatch}}
	cert := &smithyhttp.RequestSendError{Err: &tls.CertificateVerificationError{Err: errors.New("unknown authority")}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", &bucketError{reason: uploader.ReasonNetwork, fatal: true, err: dialErr}, true},
		{"no answer", &bucketError{reason: uploader.ReasonNetwork}, true},
		{"server error", &bucketError{reason: uploader.ReasonServerError, err: apiError(500, "InternalError")}, true},
		{"plain HTTP", &bucketError{reason: uploader.ReasonNetwork, fatal: true, err: plain}, false},
		{"certificate", &bucketError{reason: uploader.ReasonNetwork, fatal: true, err: cert}, false},
		{"no such bucket", &bucketError{reason: uploader.ReasonNoSuchBucket, fatal: true, err: apiError(404, "NoSuchBucket")}, false},
		{"not a check", classified(dialErr), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := Unreachable(tt.err); got != tt.want {
			t.Errorf("%s: Unreachable = %t, want %t", tt.name, got, tt.want)
		}
	}
}
