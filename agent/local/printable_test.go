package local

import "testing"

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2024/01/02/call 01.wav", "2024/01/02/call 01.wav"},
		{"Grüße/日本語.txt", "Grüße/日本語.txt"},
		{"call\x1b]0;x\x07-01.wav", `call\x1b]0;x\a-01.wav`},
		{"\x1b[2J\x1b[H\x1b[32mALL BACKUPS OK", `\x1b[2J\x1b[H\x1b[32mALL BACKUPS OK`},
		{"a\nb\tc\rd\x7fe", `a\nb\tc\rd\x7fe`},
		{"c1\u0085\u009b2J", `c1\u0085\u009b2J`},
		{"bidi\u202egnp.exe", `bidi\u202egnp.exe`},
		{"latin1 \xe9t\xe9", `latin1 \xe9t\xe9`},
	}
	for _, tt := range tests {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, c := range Printable(tt.in) {
			if c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0 {
				t.Errorf("Printable(%q) holds %U", tt.in, c)
			}
		}
	}
}

func TestPlural(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 files"}, {1, "1 file"}, {2, "2 files"}, {-1, "-1 files"}, {999, "999 files"}, {1000, "1,000 files"}, {1234567, "1,234,567 files"}, {-12345, "-12,345 files"}} {
		if got := Plural(c.n, "file", "files"); got != c.want {
			t.Errorf("Plural(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
