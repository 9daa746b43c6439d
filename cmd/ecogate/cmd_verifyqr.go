package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/qrsign"
)

// runVerifyQR is `ecogate verify-qr`: the offline check of a certificate's
// signed QR payload against the issuing country's cached anchors.
func runVerifyQR(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate verify-qr", flag.ContinueOnError)
	fs.SetOutput(stderr)
	trustDir := fs.String("trust", "", "`DIR` of the issuer's cached certificates: CA certificates are anchors, its QR signing certificates are found there too, CRLs are revocation data")
	partnersFile := fs.String("partners", "", "partners YAML `FILE` (documentSigning anchors of the issuer, which include its QR certificate)")
	from := fs.String("from", "", "issuing partner's `COUNTRY` code in the partners file")
	var qrCerts stringList
	fs.Var(&qrCerts, "qr-cert", "a QR signing certificate `FILE` of the issuer (repeatable)")
	atFlag := fs.String("at", "", "check `TIME` (RFC 3339 or YYYY-MM-DD; default now)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecogate verify-qr (--trust DIR | --partners FILE --from CC) [--qr-cert FILE] [--at TIME] [--json] INPUT\n\nChecks a certificate's signed QR payload offline. INPUT is the QR text (URL#JWS), the JWS,\na file holding either, or a PNG/JPEG/GIF image of the QR code. Exit 0 valid, 1 invalid, 2 error.\n\noptions:")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return certsFlagExit(err)
	}
	if len(pos) != 1 || (*trustDir == "") == (*partnersFile == "") {
		fs.Usage()
		return exitUsage
	}
	var trust *certs.TrustSet
	if *trustDir != "" {
		trust, err = certs.DirTrust(*trustDir)
	} else {
		trust, _, err = certsLoadPartnerTrust(*partnersFile, *from)
	}
	if err != nil {
		fmt.Fprintln(stderr, "ecogate verify-qr:", err)
		return exitUsage
	}
	var qc []*x509.Certificate
	for _, c := range trust.AnchorCerts {
		if !c.IsCA {
			qc = append(qc, c)
		}
	}
	for _, f := range qrCerts {
		b, err := os.ReadFile(f)
		if err == nil {
			var cs []*x509.Certificate
			if cs, err = certs.ParseCertificates(b); err == nil {
				qc = append(qc, cs...)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "ecogate verify-qr: --qr-cert:", err)
			return exitUsage
		}
	}
	at := time.Now()
	if *atFlag != "" {
		if at, err = parseAt(*atFlag); err != nil {
			fmt.Fprintln(stderr, "ecogate verify-qr: --at:", err)
			return exitUsage
		}
	}
	input := pos[0]
	if b, err := os.ReadFile(input); err == nil {
		if strings.HasPrefix(http.DetectContentType(b), "image/") {
			if input, err = qrsign.DecodePNG(b); err != nil {
				fmt.Fprintln(stderr, "ecogate verify-qr:", err)
				return exitUsage
			}
		} else {
			input = string(b)
		}
	}
	v := &qrsign.Verifier{Certs: qc, Trust: trust}
	res, err := v.Verify(input, at)
	if *asJSON {
		out := map[string]any{"valid": err == nil}
		if err != nil {
			out["problem"] = err.Error()
		} else {
			out["payload"], out["signer"] = res.Payload, res.Signer.Subject.CommonName
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else if err != nil {
		fmt.Fprintln(stdout, "INVALID:", err)
	} else {
		p := res.Payload
		fmt.Fprintf(stdout, "VALID: signed QR payload of certificate %s (version %d) issued by %s on %s\n  exporter: %s\n  importer: %s\n  HS codes: %s\n  verify online: %s\n  signer: %s\n",
			p.Number, p.Version, p.Country, p.IssueDate, p.Exporter, p.Importer, strings.Join(p.HS, ", "), p.URL, res.Signer.Subject.CommonName)
	}
	if err != nil {
		return 1
	}
	return 0
}
