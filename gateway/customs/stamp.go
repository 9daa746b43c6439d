package customs

import (
	"sync/atomic"
	"time"
)

// secondStamp is one second formatted as "2006-01-02T15:04:05" (UTC).
type secondStamp struct {
	sec  int64
	text string
}

// lastSecond is the second most recently formatted: every check in the
// same second reuses it.
var lastSecond atomic.Pointer[secondStamp]

// The seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: outside
// them time's formats do not write a four-digit year.
const (
	minStampSec = -62167219200
	maxStampSec = 253402300799
)

// secondText is t (in UTC) formatted as "2006-01-02T15:04:05", and false
// when t's year has not four digits.
func secondText(t time.Time) (string, bool) {
	sec := t.Unix()
	if sec < minStampSec || sec > maxStampSec {
		return "", false
	}
	if s := lastSecond.Load(); s != nil && s.sec == sec {
		return s.text, true
	}
	s := &secondStamp{sec: sec, text: t.UTC().Format("2006-01-02T15:04:05")}
	lastSecond.Store(s)
	return s.text, true
}

// appendStamp appends t as time.RFC3339Nano formats it, for t in UTC.
func appendStamp(b []byte, t time.Time) []byte {
	text, ok := secondText(t)
	if !ok || t.Location() != time.UTC {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	b = append(b, text...)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}

// dateText is t's date (in UTC) as "2006-01-02".
func dateText(t time.Time) string {
	if text, ok := secondText(t); ok {
		return text[:10]
	}
	return t.UTC().Format(time.DateOnly)
}

// plainDate reports whether s is a valid date written as YYYY-MM-DD, as
// schema.ParseDate accepts it; false means "ask schema.ParseDate", which
// may still accept it (surrounding spaces) and otherwise says what is
// wrong.
func plainDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m := int(s[5]-'0')*10 + int(s[6]-'0')
	d := int(s[8]-'0')*10 + int(s[9]-'0')
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}
