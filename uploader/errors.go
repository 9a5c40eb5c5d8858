package uploader

import (
	"context"
	"errors"
	"io/fs"
)

var (
	// ErrChanged means the file changed while it was read or sent: what
	// reached the bucket may be a mix of two versions. The caller must not
	// record the upload and sends the file again once it has settled.
	ErrChanged = errors.New("file changed while uploading")

	// ErrNoCredentials means the credential chain found no credentials,
	// or could not refresh them.
	ErrNoCredentials = errors.New("no credentials")

	// ErrInvalidConfig means a Config field no upload can work with.
	ErrInvalidConfig = errors.New("invalid config")

	// ErrNotRegular means the path is not a regular file (a directory,
	// FIFO, device or socket); nothing is read from it.
	ErrNotRegular = errors.New("not a regular file")

	// ErrInvalidBucketName matches a Bucket.Check error that says the
	// bucket's name is not one the store accepts: a mistake in the
	// destination, not a failure.
	ErrInvalidBucketName = errors.New("invalid bucket name")

	// ErrMultipartRefused means the bucket refused to complete a
	// multipart upload as often in a row as a resumed upload may be
	// refused (see Multipart.Refused), so the upload was aborted: the
	// next attempt sends the file again as a new upload. The error wraps
	// the bucket's last refusal.
	ErrMultipartRefused = errors.New("the bucket refused to complete the multipart upload")
)

// Reason is a short, stable label for why an upload or a bucket request
// failed, for metrics, logs and JSON: its values never change.
type Reason string

// Reasons; ReasonOf says which rows of its table give each.
const (
	ReasonChanged           Reason = "changed"
	ReasonVanished          Reason = "vanished"
	ReasonPermission        Reason = "permission"
	ReasonNoSuchBucket      Reason = "no-such-bucket"
	ReasonInvalidBucketName Reason = "invalid-bucket-name" // only from Bucket.Check
	ReasonAccessDenied      Reason = "access-denied"
	ReasonCredentials       Reason = "credentials"
	ReasonChecksumMismatch  Reason = "checksum-mismatch"
	ReasonMultipartRefused  Reason = "multipart-refused"
	ReasonThrottled         Reason = "throttled"
	ReasonServerError       Reason = "server-error"
	ReasonNetwork           Reason = "network"
	ReasonCanceled          Reason = "canceled"
	ReasonOther             Reason = "other"
)

// Reasons returns every Reason the uploader gives, in the order above:
// the label sets a metric by reason exports at 0 from the start.
func Reasons() []Reason {
	return []Reason{ReasonChanged, ReasonVanished, ReasonPermission, ReasonNoSuchBucket, ReasonInvalidBucketName,
		ReasonAccessDenied, ReasonCredentials, ReasonChecksumMismatch, ReasonMultipartRefused, ReasonThrottled,
		ReasonServerError, ReasonNetwork, ReasonCanceled, ReasonOther}
}

// Classifier is an error of a Bucket implementation that knows what its
// transport's failure means: package s3 wraps every SDK error it returns
// in one. ReasonOf and Fatal ask it for the causes they cannot tell
// themselves (see classify), and Upload tells its Describe.
type Classifier interface {
	error
	// Class returns the error's Reason and whether it is Fatal.
	Class() (reason Reason, fatal bool)
	// Describe says in one line a user can act on what happened, for a
	// failure whose own text misleads; "" keeps the error's text.
	Describe() string
}

// ReasonOf returns the Reason of err; ReasonOf(nil) is "".
func ReasonOf(err error) Reason {
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

// classify implements ReasonOf and Fatal. The first matching row wins:
//
//	err matches                                          reason             fatal
//	nil                                                  ""                 no
//	ErrChanged                                           changed            no
//	ErrCorrupt (a download did not match its checksum)   checksum-mismatch  no
//	ErrMultipartRefused                                  multipart-refused  no
//	context.Canceled, context.DeadlineExceeded           canceled           no
//	ErrNoCredentials (the chain found none or
//	  could not refresh them)                            credentials        yes
//	ErrInvalidConfig                                     other              yes
//	fs.ErrNotExist (open: ENOENT, ENOTDIR)               vanished           no
//	fs.ErrPermission (open: EACCES, EPERM)               permission         no
//	a Classifier (the outermost)                         its Class          its Class
//	anything else                                        other              no
//
// Package s3's table says what its Classifier answers for S3's error codes
// and HTTP failures.
func classify(err error) (reason Reason, fatal bool) {
	if err == nil {
		return "", false
	}
	if errors.Is(err, ErrChanged) {
		return ReasonChanged, false
	}
	if errors.Is(err, ErrCorrupt) {
		return ReasonChecksumMismatch, false
	}
	if errors.Is(err, ErrMultipartRefused) {
		return ReasonMultipartRefused, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ReasonCanceled, false
	}
	if errors.Is(err, ErrNoCredentials) {
		return ReasonCredentials, true
	}
	if errors.Is(err, ErrInvalidConfig) {
		return ReasonOther, true
	}
	if errors.Is(err, fs.ErrNotExist) {
		return ReasonVanished, false
	}
	if errors.Is(err, fs.ErrPermission) {
		return ReasonPermission, false
	}
	var c Classifier
	if errors.As(err, &c) {
		return c.Class()
	}
	return ReasonOther, false
}

// describedError is an error told in one line a user can act on (a
// Classifier's Describe); it unwraps to the error, so ReasonOf and Fatal
// see through it.
type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.err }

// describe returns err with the message its outermost Classifier gives,
// if any, in place of its own; other errors are returned as they are.
func describe(err error) error {
	var c Classifier
	if errors.As(err, &c) {
		if msg := c.Describe(); msg != "" {
			return &describedError{msg: msg, err: err}
		}
	}
	return err
}
