package uploader_test

import (
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
)

func TestHistoryAt(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	h := uploader.History{Key: "k", Versions: []uploader.Version{
		{VersionID: "v3", LastModified: at(30)},
		{VersionID: "dm", Deleted: true, LastModified: at(20)},
		{VersionID: "v1", LastModified: at(10)},
	}}
	tests := []struct {
		t      time.Time
		want   string
		exists bool
	}{
		{at(5), "", false},   // before the first version
		{at(10), "v1", true}, // exactly at a version
		{at(15), "v1", true}, // between v1 and the delete
		{at(25), "", false},  // deleted then
		{at(40), "v3", true}, // written again later
	}
	for _, tt := range tests {
		v, ok := h.At(tt.t)
		if ok != tt.exists || v.VersionID != tt.want && ok {
			t.Errorf("At(%s) = %q, %v; want %q, %v", tt.t.Format(time.TimeOnly), v.VersionID, ok, tt.want, tt.exists)
		}
	}
	if _, ok := (uploader.History{Versions: []uploader.Version{{Deleted: true}}}).Latest(); ok {
		t.Error("Latest of a deleted key: ok, want not")
	}
}
