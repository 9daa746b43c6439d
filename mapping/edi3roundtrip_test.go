package mapping

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/schema"
)

// edi3NotCarried are the canonical facts the edi3 CoO model has no place
// for (ToEdi3's doc lists them); every other fact must survive canonical
// → edi3 → canonical unchanged.
var edi3NotCarried = regexp.MustCompile(`^(` + strings.Join([]string{
	`exchangedDocument\.flags\..*`,
	`exchangedDocument\.approvedExporterCode`,
	// an edi3 party has one iD: the first identifier
	`.*\.iDs\[[1-9]\d*\]\..*`,
	`exchangedDocument\.issuer\.contact\..*`,
	`supplyChainConsignment\.(consignor|consignee)\.contact\..*`,
	`supplyChainConsignment\.thirdPartyInvoicer\..*`,
	`supplyChainConsignment\.transportEquipment\[\d+\]\..*`,
	`supplyChainConsignment\.transitCountries\[\d+\]`,
	`supplyChainConsignment\.transportPackages\[\d+\]\..*`,
	`supplyChainConsignment\.includedConsignmentItems\[\d+\]\.invoiceReferences\[\d+\]\.issuer`,
	`originalProofs\[\d+\]\..*`,
	`replaces\..*`,
	`verification\..*`,
	`attachedFile\..*`,
	// Referenced documents other than invoice files and signature images
	// (those are compared as facts of their own, below); carried source
	// fields of the way back are checked apart.
	`referencedDocuments\[\d+\]\..*`,
	// Signature images travel as data URIs; their file names are made up
	// on the way back (first-signatory.jpg), compared by content below.
	`(first|second)SignatoryAuthentication\.sealImageRef`,
}, "|") + `)$`)

// flatten lists the leaves of a canonical certificate's JSON by path.
// Producers are compared by what they are, not by their local refs (edi3
// has one manufacturer per consignment item, so refs are renumbered and a
// producer may be repeated): each item's producerRef is replaced by the
// producer's name, and the producer list by the set of distinct producers.
// Invoice files and signature images are compared by content.
func flatten(t *testing.T, c *schema.Certificate) map[string]string {
	t.Helper()
	cc := *c
	cc.Consignment.Items = slices.Clone(c.Consignment.Items)
	byRef := map[string]schema.Party{}
	for _, p := range c.Consignment.Producers {
		byRef[p.Ref] = p
	}
	distinct := map[string]bool{}
	for _, p := range c.Consignment.Producers {
		p.Ref = ""
		b, _ := json.Marshal(p)
		distinct[string(b)] = true
	}
	for i := range cc.Consignment.Items {
		if p, ok := byRef[cc.Consignment.Items[i].ProducerRef]; ok {
			cc.Consignment.Items[i].ProducerRef = p.Name
		}
	}
	cc.Consignment.Producers = nil
	b, err := schema.EncodeJSON(&cc)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(path string, n any)
	walk = func(path string, n any) {
		switch v := n.(type) {
		case map[string]any:
			for k, x := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		case nil:
		default:
			s := fmt.Sprint(v)
			if s == "" || s == "false" || s == "0" {
				return // absent and empty are the same fact
			}
			out[path] = s
		}
	}
	walk("", tree)
	var ps []string
	for k := range distinct {
		ps = append(ps, k)
	}
	sort.Strings(ps)
	if len(ps) > 0 {
		out["producers"] = strings.Join(ps, "\n")
	}
	for _, r := range c.References {
		switch {
		case r.TypeCode == "380" && r.Attachment != nil && r.Attachment.URI != "":
			out["invoice file "+r.ID] = r.Attachment.URI
		case r.Attachment != nil && len(r.Attachment.Content) > 0 && (r.Attachment.Filename == c.FirstSignatory.SealImageRef || c.SecondSignatory != nil && r.Attachment.Filename == c.SecondSignatory.SealImageRef):
			out["signature image "+r.Attachment.Filename[:strings.IndexAny(r.Attachment.Filename+"-", "-")]] = r.Attachment.MIMECode + " " + fmt.Sprint(r.Attachment.Content)
		}
	}
	return out
}

// roundTripFixtures are the canonical fixtures: schema/testdata/valid and
// the mapping testdata's golden certificates.
func roundTripFixtures(t *testing.T) map[string]*schema.Certificate {
	t.Helper()
	out := map[string]*schema.Certificate{}
	add := func(pattern string, json bool) {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c *schema.Certificate
			var fds schema.Findings
			if json {
				c, fds = schema.DecodeJSON(b, schema.DecodeOptions{})
			} else {
				c, fds = schema.DecodeXML(b, schema.DecodeOptions{})
			}
			if c == nil || fds.HasSevere() {
				continue // e.g. an outcome, not a certificate
			}
			out[f] = c
		}
	}
	add("../schema/testdata/valid/*.xml", false)
	add("../schema/testdata/valid/*.json", true)
	add("testdata/*/*.golden.json", true)
	if len(out) < 15 {
		t.Fatalf("%d fixtures found", len(out))
	}
	return out
}

// TestEdi3RoundTripKeepsFacts: canonical → edi3 → canonical keeps every
// fact edi3 can carry, field by field, for every fixture.
func TestEdi3RoundTripKeepsFacts(t *testing.T) {
	p, err := Builtin("edi3-coo")
	if err != nil {
		t.Fatal(err)
	}
	fixtures := roundTripFixtures(t)
	names := make([]string, 0, len(fixtures))
	for n := range fixtures {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		c := fixtures[name]
		t.Run(filepath.Base(filepath.Dir(name))+"/"+filepath.Base(name), func(t *testing.T) {
			out, err := ToEdi3(c)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := p.ReadRecords(strings.NewReader(string(out)), "rt.json")
			if err != nil || len(recs) != 1 {
				t.Fatalf("read back: %v", err)
			}
			back, _, err := p.MapRecordNotes(recs[0])
			if err != nil {
				t.Fatalf("map back: %v\n%s", err, out)
			}
			before, after := flatten(t, c), flatten(t, back)
			var paths []string
			for k := range before {
				paths = append(paths, k)
			}
			sort.Strings(paths)
			for _, k := range paths {
				if edi3NotCarried.MatchString(k) {
					continue
				}
				if after[k] != before[k] {
					t.Errorf("%s: %q after the round trip, was %q", k, after[k], before[k])
				}
			}
			for k, v := range after {
				if _, ok := before[k]; !ok && !edi3NotCarried.MatchString(k) {
					t.Errorf("%s: %q appeared in the round trip", k, v)
				}
			}
			// The only source fields carried on the way back are the
			// date-times of dates ToEdi3 wrote (midnight UTC).
			for _, f := range Carried(back) {
				if !strings.HasSuffix(f.Value, "T00:00:00Z") {
					t.Errorf("carried on the way back: %s = %q", f.Path, f.Value)
				}
			}
		})
	}
}
