package bucket

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzEscapeKey: a manifest key decodes (as S3 Batch Operations decodes
// it) to the key it was made from, and holds only unreserved characters,
// "/" and %XX escapes.
func FuzzEscapeKey(f *testing.F) {
	for _, k := range []string{"rec/2026-11-22/a.wav", "a b+c", "ü/ß", "%41", "\x00\xff", "a,b\"c\nd", "~-_./"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		esc := EscapeKey(key)
		if got, err := url.PathUnescape(esc); err != nil || got != key {
			t.Fatalf("EscapeKey(%q) = %q, which decodes to %q, %v", key, esc, got, err)
		}
		if i := strings.IndexFunc(esc, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_.~/%", r))
		}); i >= 0 {
			t.Fatalf("EscapeKey(%q) = %q: %q needs escaping in a CSV manifest", key, esc, esc[i])
		}
	})
}
