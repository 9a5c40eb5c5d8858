package uploader_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

func at(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

func TestHistoryAt(t *testing.T) {
	h := uploader.History{Key: "k", Versions: []uploader.Version{
		{VersionID: "v3", Latest: true, LastModified: at(30)},
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
		v, ok, err := h.At(tt.t)
		if err != nil || ok != tt.exists || v.VersionID != tt.want && ok {
			t.Errorf("At(%s) = %q, %v, %v; want %q, %v", tt.t.Format(time.TimeOnly), v.VersionID, ok, err, tt.want, tt.exists)
		}
	}
	// VersityGW's answer for v1 at 10, overwritten by v2 at 30: both at 30.
	tie := uploader.History{Key: "k", Versions: []uploader.Version{
		{VersionID: "v2", Latest: true, LastModified: at(30)},
		{VersionID: "v1", LastModified: at(30)},
	}}
	if v, ok, err := tie.At(at(20)); !errors.Is(err, uploader.ErrImpossibleHistory) {
		t.Errorf("At before two versions of one time = %q, %v, %v; want ErrImpossibleHistory", v.VersionID, ok, err)
	}
	if v, ok, err := tie.At(at(30)); err != nil || !ok || v.VersionID != "v2" {
		t.Errorf("At the time of two versions = %q, %v, %v; want v2", v.VersionID, ok, err)
	}
	if _, ok, err := (uploader.History{Versions: []uploader.Version{{Deleted: true, Latest: true}}}).Latest(); ok || err != nil {
		t.Errorf("Latest of a deleted key: ok %v, err %v; want not ok", ok, err)
	}
}

// TestHistoryCheck goes through each shape S3 cannot produce, and some it
// can, newest first as listed.
func TestHistoryCheck(t *testing.T) {
	obj := func(id string, latest bool, m int) uploader.Version {
		return uploader.Version{VersionID: id, Latest: latest, LastModified: at(m)}
	}
	marker := func(id string, latest bool, m int) uploader.Version {
		v := obj(id, latest, m)
		v.Deleted = true
		return v
	}
	tests := []struct {
		name     string
		versions []uploader.Version
		possible bool
	}{
		{"empty", nil, true},
		{"one version", []uploader.Version{obj("v1", true, 1)}, true},
		{"overwritten, deleted, written again", []uploader.Version{obj("v4", true, 4), marker("dm", false, 3), obj("v2", false, 2), obj("v1", false, 1)}, true},
		{"deleted", []uploader.Version{marker("dm", true, 2), obj("v1", false, 1)}, true},
		{"two in one second", []uploader.Version{obj("v2", true, 1), obj("v1", false, 1)}, true},
		{"noncurrent newer than the current", []uploader.Version{obj("v2", true, 2), obj("v1", false, 3)}, false},
		{"noncurrent newer than the current marker", []uploader.Version{marker("dm", true, 1), obj("v1", false, 2)}, false},
		{"marker older than the version it hides", []uploader.Version{obj("v4", true, 4), marker("dm", false, 2), obj("v2", false, 3), obj("v1", false, 2)}, false},
		{"out of order below", []uploader.Version{obj("v3", true, 9), obj("v2", false, 1), obj("v1", false, 2)}, false},
		{"no current version", []uploader.Version{obj("v2", false, 2), obj("v1", false, 1)}, false},
		{"two current versions", []uploader.Version{obj("v2", true, 2), obj("v1", true, 1)}, false},
		{"the current one not first", []uploader.Version{obj("v2", false, 2), obj("v1", true, 1)}, false},
	}
	for _, tt := range tests {
		h := uploader.History{Key: "k", Versions: tt.versions}
		err := h.Check()
		if got := err == nil; got != tt.possible {
			t.Errorf("%s: Check() = %v, want possible %v", tt.name, err, tt.possible)
		}
		if err != nil && !errors.Is(err, uploader.ErrImpossibleHistory) {
			t.Errorf("%s: Check() = %v, want an ErrImpossibleHistory", tt.name, err)
		}
		if _, _, atErr := h.At(at(5)); fmt.Sprint(atErr) != fmt.Sprint(err) {
			t.Errorf("%s: At() = %v, want the error of Check, %v", tt.name, atErr, err)
		}
	}
}

// TestHistoryLatest: the current version is the one the server marks,
// whatever the times say (VersityGW gives the marker above v1 the time of
// v1, and v1 the time of the delete).
func TestHistoryLatest(t *testing.T) {
	shifted := uploader.History{Key: "k", Versions: []uploader.Version{
		{VersionID: "v1", LastModified: at(2)},
		{VersionID: "dm", Deleted: true, Latest: true, LastModified: at(1)},
	}}
	if v, ok, err := shifted.Latest(); ok || err != nil {
		t.Errorf("Latest of a key whose current version is a delete marker = %q, %v, %v; want not ok", v.VersionID, ok, err)
	}
	overwritten := uploader.History{Key: "k", Versions: []uploader.Version{
		{VersionID: "v1", LastModified: at(2)},
		{VersionID: "v2", Latest: true, LastModified: at(2)},
	}}
	if v, ok, err := overwritten.Latest(); !ok || err != nil || v.VersionID != "v2" {
		t.Errorf("Latest = %q, %v, %v; want v2, the one marked current", v.VersionID, ok, err)
	}
	none := uploader.History{Key: "k", Versions: []uploader.Version{{VersionID: "v1", LastModified: at(1)}}}
	if _, _, err := none.Latest(); !errors.Is(err, uploader.ErrImpossibleHistory) {
		t.Errorf("Latest of a history without a current version: err = %v, want ErrImpossibleHistory", err)
	}
}
