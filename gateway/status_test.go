package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

func certXML(t *testing.T, number string, version int, edit func(c *schema.Certificate)) []byte {
	t.Helper()
	c, err := samplecert.Certificate(number, version, "IN", "VN")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(c)
	}
	b, err := schema.EncodeXML(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withdrawn(c *schema.Certificate) { c.Header.Status, c.Header.FunctionCode = "40", "1" }

// TestStatusMessages: an issue followed at once by its withdrawal, and an
// issue followed by a replacing version, travel in order; the receiver
// marks the earlier versions withdrawn and replaced.
func TestStatusMessages(t *testing.T) {
	p := newPair(t, fastRetry, nil, nil)
	ctx := context.Background()
	docs := [][]byte{
		certXML(t, "IN-ST-1", 1, nil),
		certXML(t, "IN-ST-1", 1, withdrawn),
		certXML(t, "IN-ST-2", 1, nil),
		certXML(t, "IN-ST-2", 2, func(c *schema.Certificate) {
			c.Header.FunctionCode = "5"
			c.Replaces = &schema.Replacement{CertificateNumber: "IN-ST-2", IssueDate: c.Header.IssueDateTime.Date(), Version: 1, Reason: "corrected quantity"}
		}),
		certXML(t, "IN-ST-3", 1, nil),
		certXML(t, "IN-ST-4", 1, func(c *schema.Certificate) {
			c.Header.FunctionCode = "5"
			c.Replaces = &schema.Replacement{CertificateNumber: "IN-ST-3", IssueDate: c.Header.IssueDateTime.Date()}
		}),
	}
	kinds := []string{KindIssue, KindWithdraw, KindIssue, KindReplace, KindIssue, KindReplace}
	for i, d := range docs {
		res, err := p.in.Node.Submit(ctx, d, nil)
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		if res.Kind != kinds[i] {
			t.Fatalf("submit %d: kind %s, want %s", i, res.Kind, kinds[i])
		}
		if i == 3 {
			// IN-ST-3 must be received before IN-ST-4 replaces it (another number: no ordering).
			waitFor(t, 10*time.Second, "deliveries", func() bool { return countState(t, p.in, store.StateDelivered) == 4 })
		}
	}
	waitFor(t, 20*time.Second, "all delivered", func() bool { return countState(t, p.in, store.StateDelivered) == len(docs) })
	want := map[string][]store.CertState{
		"IN-ST-1": {store.CertWithdrawn},
		"IN-ST-2": {store.CertReplaced, store.CertIssued},
		"IN-ST-3": {store.CertReplaced},
		"IN-ST-4": {store.CertIssued},
	}
	for num, states := range want {
		sts, err := p.vn.DB.Inbox().CertStatuses(ctx, "IN", num)
		if err != nil {
			t.Fatal(err)
		}
		if len(sts) != len(states) {
			t.Fatalf("%s: %d versions, want %d: %+v", num, len(sts), len(states), sts)
		}
		for i, s := range sts {
			if s.Status != states[i] {
				t.Fatalf("%s v%d: %s, want %s", num, s.Version, s.Status, states[i])
			}
		}
	}
	sts, _ := p.vn.DB.Inbox().CertStatuses(ctx, "IN", "IN-ST-2")
	if sts[0].ReplacedBy != "IN-ST-2/2" {
		t.Fatalf("replacedBy %q", sts[0].ReplacedBy)
	}
	ents, _ := p.vn.DB.Audit().Entries(ctx, 1, 0)
	status := 0
	for _, e := range ents {
		if e.Action == "status" {
			status++
		}
	}
	if status != 8 { // 6 messages, two replacements mark two versions each
		t.Fatalf("%d status changes audited, want 8", status)
	}
}

// TestWithdrawalNeverRevived: a withdrawal that reaches the receiver
// before the issue it follows (possible in pull mode or by hand) wins; the
// late issue does not revive the certificate.
func TestWithdrawalNeverRevived(t *testing.T) {
	in, _, _ := identities(t)
	p := newPair(t, fastRetry, nil, nil)
	ctx := context.Background()
	signer := p.in.Node.opt.Signer
	sign := func(b []byte) []byte {
		s, err := signer.Sign(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	partnerIN := p.dirVN.Lookup("IN")
	_ = in
	w := &Envelope{MessageID: "w-1", From: "IN", To: "VN", CertificateNumber: "IN-RV-1", Version: 1, Content: sign(certXML(t, "IN-RV-1", 1, withdrawn))}
	i := &Envelope{MessageID: "i-1", From: "IN", To: "VN", CertificateNumber: "IN-RV-1", Version: 1, Content: sign(certXML(t, "IN-RV-1", 1, nil))}
	for _, env := range []*Envelope{w, i} {
		res, err := p.vn.Node.Receive(ctx, partnerIN, env)
		if err != nil || res.Receipt.Outcome != Delivered {
			t.Fatalf("receive %s: %v %+v", env.MessageID, err, res)
		}
	}
	sts, _ := p.vn.DB.Inbox().CertStatuses(ctx, "IN", "IN-RV-1")
	if len(sts) != 1 || sts[0].Status != store.CertWithdrawn {
		t.Fatalf("statuses %+v", sts)
	}
}

// TestPullMode: VN has no inbound connectivity; IN keeps its messages and
// VN pulls them, stores them and acknowledges with signed receipts.
func TestPullMode(t *testing.T) {
	_, vn, _ := identities(t)
	p := newPair(t, fastRetry, nil, nil)
	pv := vn.AsPartner(p.vn.PartnerURL, fastRetry, "AIFTA")
	pv.Pull = true
	p.dirIN.Set(pv)
	ctx := context.Background()
	var ids []string
	for i := 1; i <= 5; i++ {
		res, err := p.in.Node.Submit(ctx, sample(t, i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Messages[0].Pull {
			t.Fatal("message not marked for pull")
		}
		ids = append(ids, res.Messages[0].ID)
	}
	time.Sleep(100 * time.Millisecond)
	if k := countState(t, p.in, store.StateQueued); k != 5 {
		t.Fatalf("%d queued, want 5 (pull messages are never pushed)", k)
	}
	k, err := p.vn.Node.PullFrom(ctx, p.dirVN.Lookup("IN"))
	if err != nil || k != 5 {
		t.Fatalf("pulled %d: %v", k, err)
	}
	for _, id := range ids {
		rec, _ := p.in.DB.Outbox().Get(ctx, id)
		if rec.State != store.StateDelivered || len(rec.Receipt) == 0 {
			t.Fatalf("message %s: %s", id, rec.State)
		}
		if _, err := p.vn.DB.Inbox().Get(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if k, err := p.vn.Node.PullFrom(ctx, p.dirVN.Lookup("IN")); err != nil || k != 0 {
		t.Fatalf("second pull: %d %v", k, err)
	}
}

// TestDeliveredWithWarnings: a readable, correctly signed document with
// warnings (and no SEVERE finding) is stored and answered
// DeliveredWithWarnings with the findings.
func TestDeliveredWithWarnings(t *testing.T) {
	in, vn, _ := identities(t)
	p := newPair(t, fastRetry, nil, nil)
	c, err := samplecert.Certificate("IN-WARN-1", 1, "IN", "VN")
	if err != nil {
		t.Fatal(err)
	}
	c.Consignment.Items[0].Product.HSCode = "990000" // no such HS chapter
	c.Consignment.Items[0].Product.NationalTariffCode = ""
	c.Consignment.Exporter.Address.CountryCode = "TH" // the exporter's address is not in the export country
	x, err := schema.EncodeXML(c)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := p.in.Node.opt.Signer.Sign(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := postEnvelope(t, partnerClient(in, vn.PKI.Root.Cert), p.vn.PartnerURL, &Envelope{MessageID: "warn-1", From: "IN", To: "VN", CertificateNumber: "IN-WARN-1", Version: 1, Content: doc})
	rc := receiptOf(t, body)
	if resp.StatusCode != 200 || rc.Outcome != DeliveredWithWarnings {
		t.Fatalf("got %d %+v", resp.StatusCode, rc)
	}
	codes := map[string]bool{}
	for _, f := range rc.Findings {
		codes[f.Code] = true
	}
	if !codes[schema.CodeHSUnknown] || !codes[schema.CodeExporterCountry] || rc.Findings.HasSevere() {
		t.Fatalf("findings %+v", rc.Findings)
	}
	recs, _ := p.vn.DB.Inbox().List(context.Background(), store.StateDeliveredWithWarnings, 0)
	if len(recs) != 1 {
		t.Fatalf("%d stored with warnings, want 1", len(recs))
	}
}
