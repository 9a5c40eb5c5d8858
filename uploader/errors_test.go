package uploader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
)

// sdkError builds an error shaped like the SDK's for an S3 answer with
// status and code, after the retryer gave up.
func sdkError(status int, code string) error {
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
		reason string
		fatal  bool
	}{
		{"nil", nil, "", false},
		{"changed", fmt.Errorf("upload k: %w", ErrChanged), "changed", false},
		{"canceled", fmt.Errorf("upload k: %w", context.Canceled), "canceled", false},
		{"deadline", context.DeadlineExceeded, "canceled", false},
		{"canceled while sending", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: context.Canceled}}, "canceled", false},
		{"vanished", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, "vanished", false},
		{"permission", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, "permission", false},
		{"eperm", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EPERM}, "permission", false},
		{"no credentials", &smithy.OperationError{Err: fmt.Errorf("get identity: %w", &credentialsError{errors.New("no EC2 IMDS role found")})}, "credentials", true},
		{"no credentials wrapping a missing file", &credentialsError{os.ErrNotExist}, "credentials", true},
		{"invalid config", fmt.Errorf("upload k: %w", ErrInvalidConfig), "other", true},
		{"NoSuchBucket", sdkError(404, "NoSuchBucket"), "no-such-bucket", true},
		{"AccessDenied", sdkError(403, "AccessDenied"), "access-denied", true},
		{"InvalidAccessKeyId", sdkError(403, "InvalidAccessKeyId"), "credentials", true},
		{"SignatureDoesNotMatch", sdkError(403, "SignatureDoesNotMatch"), "credentials", true},
		{"ExpiredToken", sdkError(400, "ExpiredToken"), "credentials", true},
		{"BadDigest", sdkError(400, "BadDigest"), "checksum-mismatch", false},
		{"XAmzContentChecksumMismatch", sdkError(400, "XAmzContentChecksumMismatch"), "checksum-mismatch", false},
		{"SlowDown", sdkError(503, "SlowDown"), "throttled", false},
		{"503 without a code", sdkError(503, ""), "throttled", false},
		{"403 without a code", sdkError(403, ""), "access-denied", true},
		{"retry quota", ratelimit.QuotaExceededError{Available: 0, Requested: 5}, "throttled", false},
		{"RequestTimeout", sdkError(400, "RequestTimeout"), "network", false},
		{"InvalidStorageClass", sdkError(400, "InvalidStorageClass"), "other", true},
		{"NotImplemented", sdkError(501, "NotImplemented"), "other", true},
		{"InternalError", sdkError(500, "InternalError"), "server-error", false},
		{"500 without a code", sdkError(500, ""), "server-error", false},
		{"502 without a code", sdkError(502, ""), "server-error", false},
		{"stalled", &smithy.OperationError{Err: &retry.MaxAttemptsError{Err: &smithyhttp.RequestSendError{Err: &stallError{timeout: time.Minute}}}}, "network", false},
		{"404 without a code", sdkError(404, ""), "other", false},
		{"refused", &smithy.OperationError{Err: &retry.MaxAttemptsError{Err: &smithyhttp.RequestSendError{Err: dialErr}}}, "network", false},
		{"reset while reading the answer", &smithy.OperationError{Err: &smithy.DeserializationError{Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}}, "network", false},
		{"not regular", fmt.Errorf("upload k: %w", ErrNotRegular), "other", false},
		{"anything", errors.New("boom"), "other", false},
		{"bucket check", &bucketError{reason: "network", fatal: true, msg: "cannot reach", err: dialErr}, "network", true},
	}
	for _, tt := range tests {
		if got := Reason(tt.err); got != tt.reason {
			t.Errorf("%s: Reason(%v) = %q, want %q", tt.name, tt.err, got, tt.reason)
		}
		if got := Fatal(tt.err); got != tt.fatal {
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
		{"server error", sdkError(500, "InternalError"), "PutObject: the endpoint answered HTTP 500 InternalError: message (5 attempts)"},
		{"stalled", &smithy.OperationError{OperationName: "UploadPart", Err: &stallError{timeout: time.Minute, phase: "sending the request"}},
			"UploadPart: no byte moved for 1m0s sending the request: connection stalled, attempt cancelled: check the network path"},
	}
	for _, tt := range tests {
		got := describe(tt.err)
		if !strings.HasPrefix(got.Error(), tt.want) {
			t.Errorf("%s: describe = %q, want it to start with %q", tt.name, got, tt.want)
		}
		if !errors.Is(got, tt.err) || Reason(got) != Reason(tt.err) {
			t.Errorf("%s: describe(err) does not unwrap to err", tt.name)
		}
	}
	if other := errors.New("boom"); describe(other) != other {
		t.Errorf("describe changed an error it has nothing to say about")
	}
}
