package local

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable is how a text s3ferry did not write (a file name, a key, an
// error that holds one) reaches a person's terminal: every rune that is not
// printable (C0 and C1 controls, DEL, format characters such as bidi
// overrides) is escaped as strconv.Quote escapes it (\a, \x1b, \u0085),
// and a byte that is not UTF-8 as \xNN. Printable UTF-8 and spaces stay as
// they are, so a plain name reads as itself. A writer into a source tree
// chooses its names: unescaped, "\e[2J" in one would clear the operator's
// screen and paint what it likes. Logs and JSON escape on their own.
func Printable(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case r == ' ' || unicode.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r != ' ' && !unicode.IsPrint(r) {
			return true
		}
		i += n
	}
	return false
}

// Plural is n with the noun that fits it, for text a person reads:
// "1 file", "2 files", "0 files", "12,345 files". Every count s3ferry
// prints with its noun goes through it, so none says "1 files" or
// "2 problem(s)".
func Plural[N ~int | ~int64 | ~uint64](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	digits := strconv.FormatInt(int64(n), 10)
	sign := ""
	if digits[0] == '-' {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String() + " " + many
}
