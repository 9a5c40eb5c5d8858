package uploader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

var (
	// ErrChanged means the file changed while it was read or sent: what
	// reached the bucket may be a mix of two versions. The caller must not
	// record the upload and sends the file again once it has settled.
	ErrChanged = errors.New("file changed while uploading")

	// ErrNoCredentials means the SDK's credential chain found no
	// credentials, or could not refresh them.
	ErrNoCredentials = errors.New("no credentials")

	// ErrInvalidConfig means a Config field no upload can work with.
	ErrInvalidConfig = errors.New("invalid config")

	// ErrNotRegular means the path is not a regular file (a directory,
	// FIFO, device or socket); nothing is read from it.
	ErrNotRegular = errors.New("not a regular file")
)

// Reason returns a short, stable label for err, for metrics and logs:
// "changed", "vanished", "permission", "no-such-bucket", "access-denied",
// "credentials", "checksum-mismatch", "throttled", "server-error",
// "network", "canceled" or "other" (and "invalid-bucket-name" for a
// CheckBucket error). Reason(nil) is "".
func Reason(err error) string {
	reason, _ := classify(err)
	return reason
}

// Fatal reports whether err means that no further upload can succeed until
// a person fixes something (the bucket, the policy, the credentials, the
// config), so the caller should stop the run with this one error instead of
// failing every remaining file with it.
func Fatal(err error) bool {
	_, fatal := classify(err)
	return fatal
}

// apiErrorClass returns what an S3 (or MinIO) error code means for Reason
// and Fatal, and false for a code it does not know; see classify.
func apiErrorClass(code string) (reason string, fatal bool, ok bool) {
	switch code {
	case "NoSuchBucket":
		return "no-such-bucket", true, true
	case "AccessDenied", "AllAccessDisabled":
		return "access-denied", true, true
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
		return "credentials", true, true
	case "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch":
		return "checksum-mismatch", false, true
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestThrottled", "ServiceUnavailable":
		return "throttled", false, true
	case "RequestTimeout":
		return "network", false, true
	case "InternalError", "InternalServerError", "BadGateway", "GatewayTimeout":
		return "server-error", false, true
	case "InvalidBucketName", "InvalidStorageClass", "AuthorizationHeaderMalformed", "PermanentRedirect",
		"KMS.NotFoundException", "KMS.DisabledException", "NotImplemented":
		return "other", true, true
	}
	return "", false, false
}

// classify implements Reason and Fatal. The first matching row wins:
//
//	err matches                                          reason             fatal
//	nil                                                  ""                 no
//	ErrChanged                                           changed            no
//	ErrCorrupt (a download did not match its checksum)   checksum-mismatch  no
//	context.Canceled, context.DeadlineExceeded           canceled           no
//	a CheckBucket error                                  its own            its own
//	ErrNoCredentials (the chain found none or
//	  could not refresh them)                            credentials        yes
//	ErrInvalidConfig                                     other              yes
//	fs.ErrNotExist (open: ENOENT, ENOTDIR)               vanished           no
//	fs.ErrPermission (open: EACCES, EPERM)               permission         no
//	S3 code NoSuchBucket                                 no-such-bucket     yes
//	S3 code AccessDenied, AllAccessDisabled              access-denied      yes [1]
//	S3 code InvalidAccessKeyId, SignatureDoesNotMatch,
//	  ExpiredToken, InvalidToken, TokenRefreshRequired   credentials        yes
//	S3 code BadDigest, InvalidDigest,
//	  XAmzContentChecksumMismatch,
//	  XAmzContentSHA256Mismatch                          checksum-mismatch  no  [2]
//	S3 code SlowDown, Throttling, ThrottlingException,
//	  RequestLimitExceeded, RequestThrottled,
//	  ServiceUnavailable; the SDK's retry quota spent    throttled          no
//	S3 code RequestTimeout                               network            no
//	S3 code InternalError, InternalServerError,
//	  BadGateway, GatewayTimeout                         server-error       no
//	S3 code InvalidBucketName, InvalidStorageClass,
//	  AuthorizationHeaderMalformed (wrong region),
//	  PermanentRedirect, KMS.NotFoundException,
//	  KMS.DisabledException, NotImplemented (the store
//	  lacks a feature Config asks for, e.g. SSE)         other              yes
//	no response: the request was not sent or its
//	  answer not received (net.Error, RequestSendError)  network            no
//	HTTP 503, 429 without a known code                   throttled          no
//	HTTP 500, 502, 504 without a known code              server-error       no
//	HTTP 403 without a known code (HEAD answers)         access-denied      yes
//	anything else                                        other              no
//
// [1] S3 does not say whether a denial is for the bucket or for one key;
// a policy that allows only some prefixes stops the run at the first file
// outside them, which is what its owner has to fix anyway.
// [2] the bytes were damaged on the way; sending them again is the cure.
func classify(err error) (reason string, fatal bool) {
	if err == nil {
		return "", false
	}
	if errors.Is(err, ErrChanged) {
		return "changed", false
	}
	if errors.Is(err, ErrCorrupt) {
		return "checksum-mismatch", false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled", false
	}
	var be *bucketError
	if errors.As(err, &be) {
		return be.reason, be.fatal
	}
	if errors.Is(err, ErrNoCredentials) {
		return "credentials", true
	}
	if errors.Is(err, ErrInvalidConfig) {
		return "other", true
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "vanished", false
	}
	if errors.Is(err, fs.ErrPermission) {
		return "permission", false
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if reason, fatal, ok := apiErrorClass(apiErr.ErrorCode()); ok {
			return reason, fatal
		}
	}
	var quotaErr ratelimit.QuotaExceededError
	if errors.As(err, &quotaErr) {
		return "throttled", false
	}
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	if errors.As(err, &sendErr) || errors.As(err, &netErr) {
		return "network", false
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			return "throttled", false
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			return "server-error", false
		case http.StatusForbidden:
			return "access-denied", true
		}
	}
	return "other", false
}

// describedError is an SDK error told in one line a user can act on; it
// unwraps to the SDK's error, so Reason and Fatal see through it.
type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.err }

// describe returns err with a message that says what happened and what to
// check, for the failures whose SDK text misleads: a request that got no
// answer reads "https response error StatusCode: 0" even for an http://
// endpoint. Other errors are returned as they are.
//
//	cause                                  says
//	the stall watchdog cancelled it        no byte moved for T; check the path for idle-connection drops
//	connection refused                     the endpoint refused the connection; check it runs, scheme, host and port
//	host not found                         the endpoint's host does not resolve; check the URL and DNS
//	a timeout while connecting             no connection within the connect timeout; check network, firewall, proxy
//	connection reset, closed, EOF          the endpoint closed the connection
//	TLS to a plain-HTTP server             the endpoint does not speak TLS; use http://
//	an S3 answer with a status             its status, code and message
func describe(err error) error {
	what, check := explain(err)
	if what == "" {
		return err
	}
	msg := what
	var opErr *smithy.OperationError
	if errors.As(err, &opErr) {
		msg = opErr.OperationName + ": " + what
	}
	var maxErr *retry.MaxAttemptsError
	if errors.As(err, &maxErr) {
		msg += fmt.Sprintf(" (%d attempts)", maxErr.Attempt)
		if maxErr.Attempt == 1 {
			msg = strings.TrimSuffix(msg, "s)") + ")"
		}
	}
	if check != "" {
		msg += ": " + check
	}
	return &describedError{msg: msg, err: err}
}

// explain returns what describe says of err, or "" to leave it as it is.
func explain(err error) (what, check string) {
	var stall *stallError
	if errors.As(err, &stall) {
		return stall.Error(), "check the network path to the endpoint for firewalls, NAT or VPN timeouts that drop idle connections"
	}
	endpoint := "the endpoint"
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if u, perr := url.Parse(urlErr.URL); perr == nil && u.Host != "" {
			endpoint = "endpoint " + u.Scheme + "://" + u.Host
		}
	}
	var dnsErr *net.DNSError
	var netErr net.Error
	var sendErr *smithyhttp.RequestSendError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return endpoint + " refused the connection", "check that the S3 server runs and that --endpoint-url (or AWS_ENDPOINT_URL) names its scheme, host and port"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the host of %s does not resolve (%s)", endpoint, dnsErr.Err), "check --endpoint-url (or AWS_ENDPOINT_URL) and DNS"
	case strings.Contains(errText(urlErr), "first record does not look like a TLS handshake"),
		strings.Contains(errText(urlErr), "server gave HTTP response to HTTPS client"):
		return endpoint + " does not speak TLS", "write its URL with http://, not https://"
	case errors.As(err, &sendErr) && errors.As(err, &netErr) && netErr.Timeout():
		return "no connection to " + strings.TrimPrefix(endpoint, "endpoint ") + " within the connect timeout", "check the network, firewalls and proxies on the way"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return endpoint + " closed the connection", "check the endpoint and any proxy or load balancer in front of it"
	}
	var respErr *awshttp.ResponseError
	var apiErr smithy.APIError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() != 0 && errors.As(err, &apiErr) {
		if req := respErr.Response.Request; req != nil && req.URL != nil {
			endpoint = "endpoint " + req.URL.Scheme + "://" + req.URL.Host
		}
		return fmt.Sprintf("%s answered HTTP %d %s: %s", endpoint, respErr.HTTPStatusCode(), apiErr.ErrorCode(), apiErr.ErrorMessage()), ""
	}
	return "", ""
}

// errText is err's text, or "" for a nil *url.Error.
func errText(err *url.Error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
