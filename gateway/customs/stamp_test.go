package customs

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ecogate/ecogate/schema"
)

// TestAppendStampMatchesTime: the check's timestamp is what
// time.RFC3339Nano writes, for whole seconds, every fraction length, the
// second's cache hit and miss, a leap day, the four-digit year's ends,
// years outside them and a time not in UTC.
func TestAppendStampMatchesTime(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 12, 5, 17, 49, 30, 0, time.UTC),
		time.Date(2026, 12, 5, 17, 49, 30, 1, time.UTC),
		time.Date(2026, 12, 5, 17, 49, 30, 120000000, time.UTC),
		time.Date(2026, 12, 5, 17, 49, 30, 999999999, time.UTC),
		time.Date(2026, 12, 5, 17, 49, 31, 500, time.UTC),
		time.Date(2028, 2, 29, 23, 59, 59, 100, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 12, 5, 17, 49, 30, 42, time.FixedZone("ICT", 7*3600)),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		times = append(times, time.Unix(r.Int64N(maxStampSec-minStampSec)+minStampSec, r.Int64N(1e9)).UTC())
	}
	for _, tm := range times {
		for range 2 { // the second time from the cache
			want := tm.Format(time.RFC3339Nano)
			if got := string(appendStamp([]byte("x"), tm)); got != "x"+want {
				t.Fatalf("appendStamp(%v) = %q, want %q", tm, got[1:], want)
			}
		}
		if tm.Location() == time.UTC && tm.Year() >= 0 && tm.Year() <= 9999 {
			if got, want := dateText(tm), tm.Format(time.DateOnly); got != want {
				t.Fatalf("dateText(%v) = %q, want %q", tm, got, want)
			}
		}
	}
}

// TestPlainDateAgreesWithParseDate: plainDate never accepts what
// schema.ParseDate refuses, and accepts every valid YYYY-MM-DD.
func TestPlainDateAgreesWithParseDate(t *testing.T) {
	cases := []string{"2026-06-03", "2026-02-29", "2028-02-29", "2100-02-29", "2000-02-29", "0000-01-01", "9999-12-31",
		"2026-13-01", "2026-00-10", "2026-04-31", "2026-04-00", "2026-4-03", "2026/06/03", " 2026-06-03", "2026-06-03 ",
		"2026-06-0a", "20260603", "", "２０２６-06-03", "2026-06-03T00:00:00Z", "+026-06-03", "-026-06-03"}
	start := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := range 12000 {
		cases = append(cases, start.AddDate(0, 0, d).Format(time.DateOnly))
	}
	for _, s := range cases {
		_, err := schema.ParseDate(s)
		plain := plainDate(s)
		if plain && err != nil {
			t.Errorf("plainDate(%q) accepts what ParseDate refuses: %v", s, err)
		}
		if !plain && err == nil && len(s) == 10 {
			t.Errorf("plainDate(%q) refuses a valid date", s)
		}
	}
}

func FuzzPlainDate(f *testing.F) {
	for _, s := range []string{"2026-06-03", "2026-02-29", "2026-13-01", "0000-00-00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := schema.ParseDate(s); plainDate(s) && err != nil {
			t.Fatalf("plainDate(%q) accepts what ParseDate refuses: %v", s, err)
		}
	})
}
