package mapping

import (
	"slices"
	"strings"
	"testing"
)

// TestFormDCSV maps the Form D by-box CSV: rows grouped by reference
// number into certificates, box 8 criterion kept as one line with its
// percentage also in rvcPercent, box 13 indications as flags, back-to-back original proof and
// third-country invoicer; compared with golden canonical JSON.
func TestFormDCSV(t *testing.T) {
	cs := mapFile(t, "formd-csv", "testdata/formd-csv/formd.csv")
	if len(cs) != 2 {
		t.Fatalf("%d certificates, want 2", len(cs))
	}
	golden(t, "formd-csv/formd.golden.json", cs)
	th, my := cs[0], cs[1]
	if len(th.Consignment.Items) != 2 || len(my.Consignment.Items) != 1 {
		t.Errorf("items per certificate: %d, %d; want 2, 1", len(th.Consignment.Items), len(my.Consignment.Items))
	}
	it := th.Consignment.Items[0]
	if !slices.Equal(it.OriginCriteria, []string{"RVC 45%"}) || it.RVCPercent != "45" || it.Product.HSCode != "401693" || it.Product.NationalTariffCode != "40169390" {
		t.Errorf("TH item 1: criteria %q rvc %q hs %q/%q", it.OriginCriteria, it.RVCPercent, it.Product.HSCode, it.Product.NationalTariffCode)
	}
	m := my.Consignment.Items[0]
	if !slices.Equal(m.OriginCriteria, []string{"CTH + RVC 40%"}) || m.RVCPercent != "40" {
		t.Errorf("MY item: criteria %q rvc %q", m.OriginCriteria, m.RVCPercent)
	}
	f := my.Header.Flags
	if f == nil || !f.ThirdPartyInvoicing || !f.BackToBack || f.Exhibition || f.IssuedRetroactively {
		t.Errorf("MY flags %+v", f)
	}
	if len(my.OriginalProofs) != 1 || my.OriginalProofs[0].Number != "SG2026-554433" || my.Consignment.ThirdPartyInvoicer.Name == "" {
		t.Errorf("back-to-back proof %+v / invoicer %+v", my.OriginalProofs, my.Consignment.ThirdPartyInvoicer)
	}
	if th.Header.Flags != nil {
		t.Errorf("TH has flags %+v", th.Header.Flags)
	}
}

// TestFormDCSVBadRows: a certificate with one bad goods row is refused whole
// (all or nothing) with the lines, field and rule; the next certificate maps.
func TestFormDCSVBadRows(t *testing.T) {
	p, _ := Builtin("formd-csv")
	data := mustRead(t, "testdata/formd-csv/formd.csv")
	lines := strings.Split(strings.TrimSpace(data), "\n")
	// Line 3 (second goods row of TH2026-0012345): HS code cut to 4 digits.
	lines[2] = strings.Replace(lines[2], "4001.21.10", "4001", 1)
	recs, err := p.ReadRecords(strings.NewReader(strings.Join(lines, "\n")), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	c, err := p.MapRecord(recs[0])
	want := `record 1 (key TH2026-0012345, lines 2-3): field rows[1].Box7 HS Code: rule rules[39].rules[5] "HS code (box 7)"`
	if c != nil || err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "is not an HS code") {
		t.Errorf("got %v\nwant %s ... is not an HS code", err, want)
	}
	if c, err := p.MapRecord(recs[1]); err != nil || c.Header.ID != "MY-PG-2026-000871" {
		t.Errorf("second certificate: %v", err)
	}
}
