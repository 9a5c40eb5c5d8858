package uploader

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
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
// "credentials", "checksum-mismatch", "throttled", "network", "canceled" or
// "other". Reason(nil) is "".
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
//	S3 code InvalidBucketName, InvalidStorageClass,
//	  AuthorizationHeaderMalformed (wrong region),
//	  PermanentRedirect, KMS.NotFoundException,
//	  KMS.DisabledException, NotImplemented (the store
//	  lacks a feature Config asks for, e.g. SSE)         other              yes
//	no response: the request was not sent or its
//	  answer not received (net.Error, RequestSendError)  network            no
//	HTTP 503, 429 without a known code                   throttled          no
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
		case http.StatusForbidden:
			return "access-denied", true
		}
	}
	return "other", false
}
