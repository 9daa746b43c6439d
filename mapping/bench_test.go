package mapping

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/schema"
)

// indiaLine is the AIFTA fixture as one NDJSON line (3 goods items, 3 raw
// materials, 2 documents: about 3.7 KB).
func indiaLine(b *testing.B) []byte {
	raw, err := os.ReadFile("testdata/india-ecoo/aifta-issued.json")
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkMapIndiaRecord: one Indian record from its JSON text to a
// canonical certificate (JSON parse + every rule + content UUID).
func BenchmarkMapIndiaRecord(b *testing.B) {
	p, _ := Builtin("india-ecoo")
	line := indiaLine(b)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		tree, err := decodeJSON(line)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.MapRecord(&Record{tree: tree}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkMapIndiaRecordValidateEncode adds what an import does before
// storing: schema.Validate (built-in code lists) and schema.EncodeXML.
func BenchmarkMapIndiaRecordValidateEncode(b *testing.B) {
	p, _ := Builtin("india-ecoo")
	line := indiaLine(b)
	opts := schema.ValidateOptions{CodeLists: schema.DefaultCodeLists()}
	b.ReportAllocs()
	for b.Loop() {
		tree, _ := decodeJSON(line)
		c, err := p.MapRecord(&Record{tree: tree})
		if err != nil {
			b.Fatal(err)
		}
		if fs := schema.Validate(c, opts); fs.HasSevere() {
			b.Fatal(fs)
		}
		if _, err := schema.EncodeXML(c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkMapIndiaNDJSONParallel: the reader over an NDJSON stream of
// 1,000 records, mapping on every core (GOMAXPROCS workers).
func BenchmarkMapIndiaNDJSONParallel(b *testing.B) {
	p, _ := Builtin("india-ecoo")
	line := string(indiaLine(b))
	src := strings.Repeat(line+"\n", 1000)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		recs, err := p.ReadRecords(strings.NewReader(src), "batch.ndjson")
		if err != nil {
			b.Fatal(err)
		}
		records += len(recs)
		work := make(chan *Record, 64)
		done := make(chan error, 2)
		workers := max(1, min(8, len(recs)))
		for range workers {
			go func() {
				var err error
				for r := range work {
					if _, e := p.MapRecord(r); e != nil && err == nil {
						err = e
					}
				}
				done <- err
			}()
		}
		for _, r := range recs {
			work <- r
		}
		close(work)
		for range workers {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkMapFormDCSV: the Form D CSV (2 certificates, 3 rows) read and mapped.
func BenchmarkMapFormDCSV(b *testing.B) {
	p, _ := Builtin("formd-csv")
	src, _ := os.ReadFile("testdata/formd-csv/formd.csv")
	b.ReportAllocs()
	for b.Loop() {
		recs, err := p.ReadRecords(bytes.NewReader(src), "")
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			if _, err := p.MapRecord(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "records/s")
}
