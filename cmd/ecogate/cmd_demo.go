package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

const demoUsage = `usage: ecogate demo [-n N] [--dir DIR [--fresh]] [--keep]

Start two nodes on loopback, IN (India) and VN (Viet Nam), each with a
generated development PKI, partner registry, configuration and bbolt data
file in a temporary directory (or DIR). Send N sample AIFTA e-COs from IN
to VN, then withdraw the first and replace the second with a version 2,
and print what happened: deliveries, signed receipts, tracking URLs, the
certificate statuses at VN and the audit chains. Then VN's customs gets a
token over HTTPS, checks a received certificate (AUTHENTIC), a declaration
that asks too much (MISMATCH) and a certificate VN never received (asked of
IN by a verification query), and records a decision; the decision travels
back to IN, whose local API shows it and whose public page answers for the
certificate's QR link. Then IN's issuance workflow, through its issuance
API only: an exporter registers by IEC (confirmed by the trade registry),
an agency with an office and an officer (DSC from the dev PKI, key held by
the node) is set up, the e-wallet credited; the exporter files two
applications (goods lines, cost sheet), one is returned with a query and
answered, both are approved, signed and issued, reach VN, and VN's customs
checks one (AUTHENTIC); notifications are written to in/mail. Without
--keep the nodes
stop and the temporary directory is removed; with --keep they run until
Ctrl-C, and the commands to try are printed.

--dir DIR must be empty or new: a demo already laid out there is refused
before anything is touched; --fresh deletes the previous demo's DIR/in and
DIR/vn (nodes and data included) and starts over.
`

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, demoUsage) }
	n := fs.Int("n", 3, "number of sample e-COs to send")
	dirFlag := fs.String("dir", "", "lay the nodes out in `DIR` (kept) instead of a temporary directory")
	keep := fs.Bool("keep", false, "keep the nodes running until Ctrl-C")
	fresh := fs.Bool("fresh", false, "with --dir: delete a previous demo's files in DIR and start over")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *n < 2 || *n > 10000 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "ecogate demo: -n must be between 2 and 10000")
		return exitUsage
	}
	if *fresh && *dirFlag == "" {
		fmt.Fprintln(stderr, "ecogate demo: --fresh needs --dir DIR (without --dir the demo uses a new temporary folder)")
		return exitUsage
	}
	if *dirFlag != "" {
		started, err := demoPrepareDir(*dirFlag, *fresh)
		if err != nil {
			fmt.Fprintln(stderr, "ecogate demo:", err)
			return exitUsage
		}
		if started {
			fmt.Fprintf(stdout, "ecogate demo: --fresh: deleted the previous demo in %s; starting over\n", *dirFlag)
		}
	}
	if err := demo(ctx, *n, *dirFlag, *keep, stdout); err != nil {
		fmt.Fprintln(stderr, "ecogate demo:", err)
		return exitFail
	}
	return exitOK
}

type demoNode struct {
	site  devsite.Site
	inst  *gateway.Instance
	stop  context.CancelFunc
	done  chan error
	lnP   net.Listener
	lnL   net.Listener
	lnC   net.Listener
	lnV   net.Listener
	logFh *os.File
}

func demo(ctx context.Context, n int, dir string, keep bool, out io.Writer) (err error) {
	start := time.Now()
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ecogate-demo-"); err != nil {
			return err
		}
		if !keep {
			defer os.RemoveAll(dir)
		}
	}
	nodes, err := demoLayout(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ecogate demo: two nodes on loopback with development PKIs; files in %s\n", dir)
	if err := demoEnableIssuance(nodes[0].site); err != nil {
		return fmt.Errorf("issuance: %w", err)
	}
	for _, d := range nodes {
		cfg, err := gateway.LoadConfig(d.site.ConfigPath())
		if err != nil {
			return err
		}
		if d.logFh, err = os.Create(filepath.Join(d.site.Dir, "node.log")); err != nil {
			return err
		}
		defer d.logFh.Close()
		cfg.Delivery.PollInterval = gateway.Duration(50 * time.Millisecond)
		if d.inst, err = cfg.Open(slog.New(slog.NewTextHandler(d.logFh, nil))); err != nil {
			return err
		}
		var nctx context.Context
		nctx, d.stop = context.WithCancel(context.WithoutCancel(ctx))
		d.done = make(chan error, 1)
		ls := gateway.Listeners{Partner: d.lnP, Local: d.lnL, Customs: d.lnC, Public: d.lnV}
		go func(d *demoNode) { d.done <- d.inst.ServeListeners(nctx, ls) }(d)
		defer func(d *demoNode) {
			d.stop()
			if e := <-d.done; e != nil && err == nil {
				err = e
			}
			d.inst.Close()
		}(d)
		fmt.Fprintf(out, "  %s  partner API https://%s/eco/v1 (mutual TLS)   local API http://%s   config %s\n",
			d.site.Country, d.site.PartnerAddr, d.site.LocalAddr, d.site.ConfigPath())
		fmt.Fprintf(out, "      customs API https://%s (TLS, bearer tokens)   public page http://%s/verify\n", d.site.CustomsAddr, d.site.PublicAddr)
	}
	in, vn := nodes[0], nodes[1]
	local := "http://" + in.site.LocalAddr

	// The documents: n issues, then a withdrawal of the first and a
	// replacement of the second.
	number := func(i int) string { return fmt.Sprintf("IN-AI-2026-DEMO-%04d", i) }
	docs, err := demoDocuments(n, number)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nIN sends %d sample AIFTA e-COs to VN, then withdraws %s and replaces %s with version 2\n", n, number(1), number(2))
	hc := &http.Client{Timeout: 60 * time.Second}
	sent, err := demoSubmit(hc, local, docs)
	if err != nil {
		return err
	}
	delivered, err := demoTrack(ctx, hc, sent, vn, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%d of %d messages delivered and receipted\n", delivered, len(sent))

	if err := demoStatusAtVN(hc, vn, n, number, out); err != nil {
		return err
	}
	cs, err := demoCustoms(ctx, in, vn, n, number, out)
	if err != nil {
		return fmt.Errorf("customs: %w", err)
	}
	if err := demoIssuance(ctx, in, vn, cs, out); err != nil {
		return fmt.Errorf("issuance: %w", err)
	}
	fmt.Fprintln(out)
	for _, d := range nodes {
		k, err := d.inst.DB.Audit().Verify(ctx)
		state := "intact"
		if err != nil {
			state = err.Error()
		}
		fmt.Fprintf(out, "audit log of %s: %d entries, hash chain %s\n", d.site.Country, k, state)
	}
	fmt.Fprintf(out, "done in %s\n", time.Since(start).Round(10*time.Millisecond))
	if delivered != len(sent) {
		return fmt.Errorf("%d of %d messages were not delivered; see %s", len(sent)-delivered, len(sent), filepath.Join(in.site.Dir, "node.log"))
	}
	if keep {
		demoKeepHint(in, vn, cs, local, number(n+1), out)
		<-ctx.Done()
	}
	return nil
}

// demoLayout lays out the two demo sites (IN and VN) under dir, on
// loopback listeners opened now so that their ports are known.
func demoLayout(dir string) (nodes []*demoNode, err error) {
	nodes = []*demoNode{{site: devsite.Site{Country: "IN", Name: "India (demo)"}}, {site: devsite.Site{Country: "VN", Name: "Viet Nam (demo)"}}}
	for _, d := range nodes {
		if d.lnP, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		if d.lnL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		if d.lnC, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		if d.lnV, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		d.site.PartnerAddr, d.site.LocalAddr = d.lnP.Addr().String(), d.lnL.Addr().String()
		d.site.CustomsAddr, d.site.PublicAddr = d.lnC.Addr().String(), d.lnV.Addr().String()
		d.site.Dir = filepath.Join(dir, strings.ToLower(d.site.Country))
	}
	sites := []devsite.Site{nodes[0].site, nodes[1].site}
	if err := devsite.Write(sites, devsite.Retry{Attempts: 10, InitialInterval: time.Second, MaxInterval: 10 * time.Second, MaxAge: time.Hour}); err != nil {
		return nil, err
	}
	return nodes, nil
}

// demoDoc is one document the demo submits, and what it is.
type demoDoc struct {
	xml  []byte
	what string
}

// demoDocuments makes the demo's documents: n issues, then a withdrawal of
// the first and a replacement of the second.
func demoDocuments(n int, number func(int) string) ([]demoDoc, error) {
	var docs []demoDoc
	for i := 1; i <= n; i++ {
		b, err := samplecert.XML(number(i), 1, "IN", "VN")
		if err != nil {
			return nil, err
		}
		docs = append(docs, demoDoc{b, "issue"})
	}
	w, err := samplecert.Certificate(number(1), 1, "IN", "VN")
	if err != nil {
		return nil, err
	}
	w.Header.Status, w.Header.FunctionCode = "40", "1"
	r, err := samplecert.Certificate(number(2), 2, "IN", "VN")
	if err != nil {
		return nil, err
	}
	r.Header.FunctionCode = "5"
	r.Replaces = &schema.Replacement{CertificateNumber: number(2), IssueDate: r.Header.IssueDateTime.Date(), Version: 1, Reason: "corrected gross weight"}
	for _, c := range []*schema.Certificate{w, r} {
		b, err := schema.EncodeXML(c)
		if err != nil {
			return nil, err
		}
		docs = append(docs, demoDoc{b, gateway.KindOf(c)})
	}
	return docs, nil
}

// demoSubmit submits the documents to IN's local API.
func demoSubmit(hc *http.Client, local string, docs []demoDoc) ([]gateway.SubmitResult, error) {
	var sent []gateway.SubmitResult
	for _, d := range docs {
		resp, err := hc.Post(local+"/api/v1/outbound?to=VN", "application/xml", bytes.NewReader(d.xml))
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return nil, fmt.Errorf("IN refused a sample: HTTP %d: %s", resp.StatusCode, body)
		}
		var res gateway.SubmitResult
		if err := json.Unmarshal(body, &res); err != nil {
			return nil, err
		}
		sent = append(sent, res)
	}
	return sent, nil
}

// demoTrack waits for each message's outcome at IN and prints the first
// twelve and the last two; it returns how many were delivered.
func demoTrack(ctx context.Context, hc *http.Client, sent []gateway.SubmitResult, vn *demoNode, out io.Writer) (int, error) {
	deadline := time.Now().Add(2 * time.Minute)
	delivered := 0
	for i, res := range sent {
		m := res.Messages[0]
		tr, err := sendWaitFor(ctx, hc, m.Tracking, "", deadline)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", m.ID, err)
		}
		if tr.TrackingInfo.Accepted() {
			delivered++
		}
		if i < 12 || i >= len(sent)-2 {
			fmt.Fprintf(out, "\n  %-28s %-8s message %s\n", res.Certificate.String(), res.Kind, m.ID)
			fmt.Fprintf(out, "    outcome  %s after %d attempt(s)\n", tr.TrackingInfo, tr.Attempts)
			if rc, ok := demoReceipt(tr.Receipt); ok {
				fmt.Fprintf(out, "    receipt  JWS signed by %s's receipt key (checked by IN): outcome %s, content sha256 %s..., received %s\n",
					rc.Issuer, rc.Outcome, rc.ContentSHA256[:16], rc.Received.Format(time.RFC3339))
			}
			fmt.Fprintf(out, "    tracking %s\n             https://%s/eco/v1/envelopes/%s (VN's partner API, mutual TLS)\n", m.Tracking, vn.site.PartnerAddr, m.ID)
		} else if i == 12 {
			fmt.Fprintf(out, "\n  ... (%d more)\n", len(sent)-14)
		}
	}
	return delivered, nil
}

// demoStatusAtVN prints what VN knows of the first certificates IN issued.
func demoStatusAtVN(hc *http.Client, vn *demoNode, n int, number func(int) string, out io.Writer) error {
	fmt.Fprintln(out, "\nat VN, the status of what IN issued:")
	for i := 1; i <= min(n, 3); i++ {
		resp, err := hc.Get("http://" + vn.site.LocalAddr + "/api/v1/certificates/IN/" + number(i))
		if err != nil {
			return err
		}
		var sts []struct {
			Version    int    `json:"version"`
			Status     string `json:"status"`
			ReplacedBy string `json:"replacedBy"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&sts)
		resp.Body.Close()
		for _, s := range sts {
			line := fmt.Sprintf("  %s v%d  %s", number(i), s.Version, s.Status)
			if s.ReplacedBy != "" {
				line += " by " + s.ReplacedBy
			}
			fmt.Fprintln(out, line)
		}
	}
	return nil
}

// demoKeepHint prints what to try while the kept nodes run, and writes a
// fresh sample for the send command it suggests.
func demoKeepHint(in, vn *demoNode, cs *demoCustomsResult, local, nextNumber string, out io.Writer) {
	fmt.Fprintf(out, `
The nodes keep running (Ctrl-C stops them). Try:
  go run ./cmd/ecogate send %s --to VN --node %s --wait 30s
  curl -s %s/api/v1/outbound | head -40
  curl -s %s/metrics | grep ^ecogate_
  go run ./cmd/ecogate partners list --config %s
VN's customs API (client %s, secret %s):
  TOKEN=$(curl -s --cacert %s -u %s:%s -d grant_type=client_credentials https://%s/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -s --cacert %s -H "Authorization: Bearer $TOKEN" -d '{"exportCountry":"IN","certificateNumber":"%s","items":[{"sequenceNumber":1,"hsCode":"020230","quantity":{"value":"10","unitCode":"KGM"}}]}' https://%s/customs/v1/checks
IN's public page: %s
Logs: %s and %s
`, filepath.Join(in.site.Dir, "sample.xml"), local, local, local, in.site.ConfigPath(),
		cs.clientID, cs.secret, cs.caFile, cs.clientID, cs.secret, vn.site.CustomsAddr, cs.caFile, cs.number, vn.site.CustomsAddr, cs.qrLink,
		filepath.Join(in.site.Dir, "node.log"), filepath.Join(vn.site.Dir, "node.log"))
	if b, err := samplecert.XML(nextNumber, 1, "IN", "VN"); err == nil {
		_ = os.WriteFile(filepath.Join(in.site.Dir, "sample.xml"), b, 0o644)
	}
}

// demoSites are the folders a demo lays out in its directory.
var demoSites = []string{"in", "vn"}

// demoPrepareDir checks that dir can take a new demo before anything is
// written: it must be new or empty. With fresh, a previous demo (only in/
// and vn/ in dir, neither node running) is deleted and started reports true;
// anything else in dir is never deleted.
func demoPrepareDir(dir string, fresh bool) (started bool, err error) {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case len(ents) == 0:
		return false, nil
	}
	var names, others []string
	for _, e := range ents {
		names = append(names, e.Name())
		if !e.IsDir() || !slices.Contains(demoSites, e.Name()) {
			others = append(others, e.Name())
		}
	}
	if !fresh {
		what := "files (" + strings.Join(names, ", ") + ")"
		if len(others) == 0 {
			what = "a previous demo (" + strings.Join(names, ", ") + ")"
		}
		return false, fmt.Errorf("%s already holds %s; nothing was changed. Give an empty or new folder, or add --fresh to delete the previous demo there and start over", dir, what)
	}
	if len(others) > 0 {
		return false, fmt.Errorf("%s holds files that are not a demo's (%s); --fresh deletes only a previous demo's in/ and vn/, so nothing was changed: give an empty or new folder", dir, strings.Join(others, ", "))
	}
	never, _ := store.ParseCheckPolicy("never")
	for _, e := range ents {
		cfg, err := gateway.LoadConfig(filepath.Join(dir, e.Name(), "ecogate.yaml"))
		if err != nil {
			continue // no readable configuration: no node to be running
		}
		db, err := store.Open(cfg.Data, store.Options{Check: never, LockTimeout: 200 * time.Millisecond})
		if errors.Is(err, store.ErrLocked) {
			return false, fmt.Errorf("the node in %s is running (it holds %s); stop it first, nothing was changed", filepath.Join(dir, e.Name()), cfg.Data)
		}
		if err == nil {
			db.Close()
		}
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return false, err
		}
	}
	return true, nil
}

// demoReceipt decodes a receipt's payload for display (IN verified it on
// arrival).
func demoReceipt(tok string) (gateway.Receipt, bool) {
	var rc gateway.Receipt
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return rc, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(b, &rc) != nil || len(rc.ContentSHA256) < 16 {
		return rc, false
	}
	return rc, true
}
