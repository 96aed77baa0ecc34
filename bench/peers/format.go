package peers

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// thousands formats x rounded to an integer with comma separators.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// sizeName is a record size as reports name it: "100 B", "1 KiB".
func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + " KiB"
	}
	return strconv.Itoa(n) + " B"
}

// num formats x to about three significant digits, with comma
// separators from a thousand up.
func num(x float64) string {
	a := math.Abs(x)
	switch {
	case a >= 1000:
		return thousands(x)
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	case a == 0:
		return "0"
	}
	return fmt.Sprintf("%.3f", x)
}

// rate formats a records/s figure to about three significant digits:
// "2.86 M", "846 k", "12.3 k", "1.20 k", "950".
func rate(x float64) string {
	switch a := math.Abs(x); {
	case a >= 1e6:
		return fmt.Sprintf("%.2f M", x/1e6)
	case a >= 1e5:
		return fmt.Sprintf("%.0f k", x/1e3)
	case a >= 1e4:
		return fmt.Sprintf("%.1f k", x/1e3)
	case a >= 1e3:
		return fmt.Sprintf("%.2f k", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

// spreadText is "median [min–max]" with f formatting each number, or
// just the median for a single value.
func spreadText(s Spread, f func(float64) string) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return f(s.Median)
	}
	return fmt.Sprintf("%s [%s–%s]", f(s.Median), f(s.Min), f(s.Max))
}

// megabytes formats a byte count in MB (10^6 bytes).
func megabytes(n int64) string {
	return num(float64(n)/1e6) + " MB"
}

// durationName is a duration as reports write it: "10 s", "300 ms".
func durationName(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + " s"
	}
	if d%time.Millisecond == 0 {
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + " ms"
	}
	return d.String()
}
