package buckettest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

func TestFake(t *testing.T) {
	buckettest.Run(t, func(t *testing.T) uploader.Bucket { return buckettest.NewFake("fake", "") })
}

func TestFakeFailures(t *testing.T) {
	ctx := context.Background()
	f := buckettest.NewFake("fake", "")
	boom := errors.New("boom")
	f.FailNext("Head", 2, boom)
	for i := range 2 {
		if _, err := f.Head(ctx, "k", ""); !errors.Is(err, boom) {
			t.Errorf("Head %d: err = %v, want the injected error", i+1, err)
		}
	}
	if _, err := f.Head(ctx, "k", ""); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("Head after the injected failures: err = %v, want ErrNotFound", err)
	}
	f.Fail = func(op, key string) error {
		if op == "List" {
			return boom
		}
		return nil
	}
	if err := f.List(ctx, "", uploader.ListOptions{}, func(uploader.Object) error { return nil }); !errors.Is(err, boom) {
		t.Errorf("List with a failing hook: err = %v, want the injected error", err)
	}
}
