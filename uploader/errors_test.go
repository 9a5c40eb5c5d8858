package uploader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

// classed is a Classifier as a Bucket implementation returns it.
type classed struct {
	reason Reason
	fatal  bool
	msg    string
	err    error
}

func (c *classed) Error() string         { return c.err.Error() }
func (c *classed) Unwrap() error         { return c.err }
func (c *classed) Class() (Reason, bool) { return c.reason, c.fatal }
func (c *classed) Describe() string      { return c.msg }
func wrapped(reason Reason, fatal bool) error {
	return &classed{reason: reason, fatal: fatal, err: errors.New("sdk")}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		reason Reason
		fatal  bool
	}{
		{"nil", nil, "", false},
		{"changed", fmt.Errorf("upload k: %w", ErrChanged), ReasonChanged, false},
		{"corrupt", fmt.Errorf("download k: %w", ErrCorrupt), ReasonChecksumMismatch, false},
		{"canceled", fmt.Errorf("upload k: %w", context.Canceled), ReasonCanceled, false},
		{"deadline", context.DeadlineExceeded, ReasonCanceled, false},
		{"canceled while sending", &classed{reason: ReasonNetwork, err: context.Canceled}, ReasonCanceled, false},
		{"changed while sending", &classed{reason: ReasonNetwork, err: ErrChanged}, ReasonChanged, false},
		{"vanished", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, ReasonVanished, false},
		{"permission", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, ReasonPermission, false},
		{"eperm", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EPERM}, ReasonPermission, false},
		{"no credentials", &classed{reason: ReasonOther, err: fmt.Errorf("get identity: %w", ErrNoCredentials)}, ReasonCredentials, true},
		{"invalid config", fmt.Errorf("upload k: %w", ErrInvalidConfig), ReasonOther, true},
		{"classified", fmt.Errorf("put k: %w", wrapped(ReasonThrottled, false)), ReasonThrottled, false},
		{"classified fatal", wrapped(ReasonNoSuchBucket, true), ReasonNoSuchBucket, true},
		{"the outermost classifier", &classed{reason: ReasonInvalidBucketName, fatal: true, err: wrapped(ReasonOther, false)}, ReasonInvalidBucketName, true},
		{"not regular", fmt.Errorf("upload k: %w", ErrNotRegular), ReasonOther, false},
		{"anything", errors.New("boom"), ReasonOther, false},
	}
	for _, tt := range tests {
		if got := ReasonOf(tt.err); got != tt.reason {
			t.Errorf("%s: ReasonOf(%v) = %q, want %q", tt.name, tt.err, got, tt.reason)
		}
		if got := Fatal(tt.err); got != tt.fatal {
			t.Errorf("%s: Fatal(%v) = %t, want %t", tt.name, tt.err, got, tt.fatal)
		}
	}
}

func TestDescribe(t *testing.T) {
	refused := &classed{reason: ReasonNetwork, msg: "PutObject: the endpoint refused the connection", err: errors.New("https response error StatusCode: 0")}
	err := fmt.Errorf("put k: %w", refused)
	got := describe(err)
	if got.Error() != refused.msg {
		t.Errorf("describe = %q, want %q", got, refused.msg)
	}
	if !errors.Is(got, err) || ReasonOf(got) != ReasonNetwork {
		t.Errorf("describe(err) does not unwrap to err")
	}
	for _, err := range []error{errors.New("boom"), wrapped(ReasonOther, false)} {
		if describe(err) != err {
			t.Errorf("describe changed %v, of which it has nothing to say", err)
		}
	}
}
