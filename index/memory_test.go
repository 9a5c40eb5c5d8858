package index_test

import (
	"testing"

	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/index/indextest"
)

func TestMemory(t *testing.T) {
	indextest.Run(t, indextest.Factory{
		Open: func(testing.TB, string) index.Store { return index.NewMemory() },
	})
}
