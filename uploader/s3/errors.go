package s3

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
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

	"github.com/s3ferry/s3ferry/uploader"
)

// sdkError is an SDK error as the Bucket and the Client return it: an
// uploader.Classifier, so uploader.ReasonOf and Fatal know what its S3
// code or HTTP failure means, and Upload tells what describe says of it.
// With notFound it also matches uploader.ErrNotFound (see notFound).
type sdkError struct {
	err      error
	notFound bool
}

func (e *sdkError) Error() string { return e.err.Error() }
func (e *sdkError) Unwrap() error { return e.err }
func (e *sdkError) Is(target error) bool {
	return e.notFound && target == uploader.ErrNotFound
}
func (e *sdkError) Class() (uploader.Reason, bool) { return classify(e.err) }
func (e *sdkError) Describe() string               { return describe(e.err) }

// classified wraps an SDK error in an sdkError; nil stays nil, and an
// error that is one already is returned as it is.
func classified(err error) error {
	var e *sdkError
	if err == nil || errors.As(err, &e) {
		return err
	}
	return &sdkError{err: err}
}

// apiErrorClass returns what an S3 (or MinIO) error code means for
// uploader.ReasonOf and Fatal, and false for a code it does not know; see
// classify.
func apiErrorClass(code string) (reason uploader.Reason, fatal bool, ok bool) {
	switch code {
	case "NoSuchBucket":
		return uploader.ReasonNoSuchBucket, true, true
	case "AccessDenied", "AllAccessDisabled":
		return uploader.ReasonAccessDenied, true, true
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
		return uploader.ReasonCredentials, true, true
	case "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch":
		return uploader.ReasonChecksumMismatch, false, true
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestThrottled", "ServiceUnavailable":
		return uploader.ReasonThrottled, false, true
	case "RequestTimeout":
		return uploader.ReasonNetwork, false, true
	case "InternalError", "InternalServerError", "BadGateway", "GatewayTimeout":
		return uploader.ReasonServerError, false, true
	case "InvalidBucketName", "InvalidStorageClass", "AuthorizationHeaderMalformed", "PermanentRedirect",
		"KMS.NotFoundException", "KMS.DisabledException", "NotImplemented":
		return uploader.ReasonOther, true, true
	}
	return "", false, false
}

// classify is an sdkError's Class: the rows of uploader's classify that
// need the SDK. uploader.ReasonOf and Fatal ask it only when none of
// their own rows (changed, canceled, credentials, a file that vanished...)
// matches; reasonOf asks both. The first matching row wins:
//
//	err matches                                          reason             fatal
//	uploader.ErrChanged, ErrCorrupt, context.Canceled,
//	  uploader.ErrNoCredentials... (uploader's rows)              uploader's         uploader's
//	a uploader.Bucket.Check error                                 its own            its own
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
//	an https:// endpoint that answered the TLS handshake
//	  in plain HTTP (plainHTTP)                          network            yes [3]
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
// [3] every attempt meets the same answer until a person fixes the URL:
// fatal for now, and never retried (notRetryable).
func classify(err error) (reason uploader.Reason, fatal bool) {
	var be *bucketError
	if errors.As(err, &be) {
		return be.reason, be.fatal
	}
	if plainHTTP(err) {
		return uploader.ReasonNetwork, true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if reason, fatal, ok := apiErrorClass(apiErr.ErrorCode()); ok {
			return reason, fatal
		}
	}
	var quotaErr ratelimit.QuotaExceededError
	if errors.As(err, &quotaErr) {
		return uploader.ReasonThrottled, false
	}
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	if errors.As(err, &sendErr) || errors.As(err, &netErr) {
		return uploader.ReasonNetwork, false
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			return uploader.ReasonThrottled, false
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			return uploader.ReasonServerError, false
		case http.StatusForbidden:
			return uploader.ReasonAccessDenied, true
		}
	}
	return uploader.ReasonOther, false
}

// reasonOf is uploader.ReasonOf and Fatal of an SDK error.
func reasonOf(err error) (uploader.Reason, bool) {
	err = classified(err)
	return uploader.ReasonOf(err), uploader.Fatal(err)
}

// describe returns the message of an sdkError's Describe: what happened
// and what to check, for the failures whose SDK text misleads (a request
// that got no answer reads "https response error StatusCode: 0" even for
// an http:// endpoint); "" for other errors.
//
//	cause                                  says
//	the stall watchdog cancelled it        no byte moved for T; check the path for idle-connection drops
//	connection refused                     the endpoint refused the connection; check it runs, scheme, host and port
//	host not found                         the endpoint's host does not resolve; check the URL and DNS
//	a timeout while connecting             no connection within the connect timeout; check network, firewall, proxy
//	connection reset, closed, EOF          the endpoint closed the connection
//	TLS to a plain-HTTP server             the endpoint speaks plain HTTP; use http://
//	an S3 answer with a status             its status, code and message
func describe(err error) string {
	what, check := explain(err)
	if what == "" {
		return ""
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
	return msg
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
	case plainHTTP(err):
		return endpoint + " speaks plain HTTP, not TLS", "write its URL with http://, not https://"
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

// plainHTTP reports whether err is a TLS handshake that a server
// answered in plain HTTP (net/http's ErrSchemeMismatch) or with anything
// else that is not TLS (the handshake's RecordHeaderError): an https://
// URL for a server that speaks http://.
func plainHTTP(err error) bool {
	var rec tls.RecordHeaderError
	return errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &rec)
}
