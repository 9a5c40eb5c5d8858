package buckettest

import "github.com/s3ferry/s3ferry/uploader"

// APIError is an S3 error answer as a Bucket gives it to the uploader:
// classified (uploader.Classifier) as uploader/s3 classifies the SDK's
// error of the same Code. FailNext takes it to make the fake answer so.
type APIError struct {
	Code, Message string
	Reason        uploader.Reason
	Fatal         bool // no other upload can succeed either
}

func (e *APIError) Error() string                  { return "api error " + e.Code + ": " + e.Message }
func (e *APIError) Class() (uploader.Reason, bool) { return e.Reason, e.Fatal }
func (e *APIError) Describe() string               { return "" }

// AccessDenied is S3's 403 AccessDenied: the credentials may not write
// the bucket, which stops a run.
func AccessDenied() *APIError {
	return &APIError{Code: "AccessDenied", Message: "Access Denied", Reason: uploader.ReasonAccessDenied, Fatal: true}
}

// SlowDown is S3's 503 SlowDown: throttled, worth a retry after a back-off.
func SlowDown() *APIError {
	return &APIError{Code: "SlowDown", Message: "Please reduce your request rate.", Reason: uploader.ReasonThrottled}
}

// InternalError is S3's 500 InternalError: the server's fault, worth a
// retry.
func InternalError() *APIError {
	return &APIError{Code: "InternalError", Message: "We encountered an internal error. Please try again.", Reason: uploader.ReasonServerError}
}

// InvalidRequest is S3's 400 InvalidRequest, saying msg: a request the
// server will refuse however often it is sent again.
func InvalidRequest(msg string) *APIError {
	return &APIError{Code: "InvalidRequest", Message: msg, Reason: uploader.ReasonOther}
}
