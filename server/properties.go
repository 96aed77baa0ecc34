package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// ErrPropertyLine is wrapped by the errors of SplitProperty.
var ErrPropertyLine = errors.New("server: properties line")

// SplitProperty splits one logical line of a Java properties file (as
// ScanPropertyLines gives it: trimmed, continuation lines joined) into
// its key and value as java.util.Properties.load does: the key ends at
// the first unescaped '=', ':' or blank; blanks and one '=' or ':' after
// it are skipped; the rest is the value, trailing blanks dropped (Kafka
// trims its settings). Backslash escapes are read in both, as Java reads
// them: \t \n \r \f, \uXXXX (UTF-16, surrogate pairs joined), and a
// backslash before any other character stands for that character (\\,
// \=, \:, \#, \ ). A line with no separator, or a malformed \u, is an
// error.
func SplitProperty(line string) (key, value string, err error) {
	end := len(line)
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if strings.IndexByte("=: \t\f", line[i]) >= 0 {
			end = i
			break
		}
	}
	if end == len(line) {
		return "", "", fmt.Errorf("%w: want key=value, got %q", ErrPropertyLine, line)
	}
	rest := strings.TrimLeft(line[end:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = rest[1:]
	}
	rest = strings.TrimLeft(rest, " \t\f")
	if key, err = unescapeProperty(line[:end]); err != nil {
		return "", "", err
	}
	if value, err = unescapeProperty(trimUnescapedRight(rest)); err != nil {
		return "", "", err
	}
	return key, value, nil
}

// trimUnescapedRight drops trailing blanks that no backslash escapes.
func trimUnescapedRight(s string) string {
	for len(s) > 0 && strings.IndexByte(" \t\f", s[len(s)-1]) >= 0 {
		n := 0 // backslashes before the blank
		for i := len(s) - 2; i >= 0 && s[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// unescapeProperty reads the backslash escapes of a properties key or
// value (see SplitProperty).
func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	var pending rune = -1 // a high surrogate waiting for its low half
	flush := func() {
		if pending >= 0 {
			b.WriteRune(utf16.DecodeRune(pending, 0)) // U+FFFD, as a lone surrogate decodes
			pending = -1
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			flush()
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			break // a lone backslash at the very end stands for nothing
		}
		if s[i] != 'u' {
			flush()
			switch c = s[i]; c {
			case 't':
				c = '\t'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 'f':
				c = '\f'
			}
			b.WriteByte(c)
			continue
		}
		if i+5 > len(s) {
			return "", fmt.Errorf("%w: malformed \\uxxxx escape in %q", ErrPropertyLine, s)
		}
		n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
		if err != nil {
			return "", fmt.Errorf("%w: malformed \\uxxxx escape %q", ErrPropertyLine, `\u`+s[i+1:i+5])
		}
		i += 4
		r := rune(n)
		switch {
		case utf16.IsSurrogate(r) && r < 0xDC00:
			flush()
			pending = r
		case utf16.IsSurrogate(r) && pending >= 0:
			b.WriteRune(utf16.DecodeRune(pending, r))
			pending = -1
		default:
			flush()
			b.WriteRune(r)
		}
	}
	flush()
	return b.String(), nil
}
