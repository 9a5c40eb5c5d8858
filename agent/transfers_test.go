package agent

import (
	"reflect"
	"testing"
)

// TestTransfers follows the table above Transfers: totals while counting,
// a file in flight by the bytes it moved and kept, at most its size, and
// its end.
func TestTransfers(t *testing.T) {
	tr := NewTransfers()
	tr.Found(100)
	tr.Found(1000)
	tr.Found(10)
	big := tr.Start("big", 1000)
	big.Kept(400)
	big.Moved(250)
	small := tr.Start("small", 100)
	small.Moved(60)
	small.Moved(60) // a retry sends it again
	small.End()
	tr.Done(10) // left alone
	got := tr.Progress()
	want := Progress{
		Files: 2, FilesTotal: 3, Bytes: 100 + 10 + 650, BytesTotal: 1110, Counting: true,
		Moved: 370, Kept: 400,
		Flying: []Flying{{Name: "big", Done: 650, Size: 1000}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Progress() = %+v\nwant %+v", got, want)
	}
	tr.Counted()
	big.Moved(1000)
	big.End()
	got = tr.Progress()
	if got.Counting || got.Files != 3 || got.Bytes != 1110 || len(got.Flying) != 0 {
		t.Fatalf("at the end: %+v, want every file and byte done, none in flight, not counting", got)
	}
}
