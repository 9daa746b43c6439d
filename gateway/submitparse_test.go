package gateway

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// parsedOnlySigner signs only through SignParsed: a call of Sign (which
// parses the document again) fails the test.
type parsedOnlySigner struct {
	*CertsSigner
	t *testing.T
}

func (p parsedOnlySigner) Sign(ctx context.Context, doc []byte) ([]byte, error) {
	p.t.Error("Submit called Sign: it parsed the document a second time instead of signing the tree it parsed")
	return p.CertsSigner.Sign(ctx, doc)
}

// TestSubmitOneParse: what Submit signs after decoding the certificate
// from the one tree it parsed is byte for byte what signing the input
// bytes gives (RSA signatures are deterministic), so decoding leaves the
// tree as parsed; the signed content Submit queues verifies and decodes to
// the same certificate.
func TestSubmitOneParse(t *testing.T) {
	in, vn, _ := identities(t)
	doc := sample(t, 42)
	s := &CertsSigner{Key: in.PKI.SignerRSA.Key, Certs: []*x509.Certificate{in.PKI.SignerRSA.Cert, in.PKI.Intermediate.Cert}}
	ctx := context.Background()
	want, err := s.Sign(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	pd, err := certs.ParseForSigning(doc, certs.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c1, fs := schema.DecodeElement(pd.Root(), schema.DecodeOptions{})
	if fs != nil {
		t.Fatal(fs)
	}
	got, err := s.SignParsed(ctx, pd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("signing the decoded tree differs from signing the bytes")
	}

	db, err := store.Open(t.TempDir()+"/in.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opt := in.NodeOptions(db, NewStaticDirectory(vn.AsPartner("https://127.0.0.1:1/eco/v1", fastRetry)))
	opt.Signer = parsedOnlySigner{s, t} // Submit must sign the tree it parsed
	opt.Logger = testLogger(t)
	n, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Submit(ctx, doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := db.Outbox().Get(ctx, res.Messages[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Content, want) {
		t.Fatal("queued content differs from the document signed from its bytes")
	}
	v := &certs.Verifier{Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{in.PKI.Root.Cert}}}
	vr, err := v.Verify(rec.Content)
	if err != nil || !vr.Valid {
		t.Fatalf("%v %+v", err, vr.Report)
	}
	c2, fs := schema.DecodeElement(vr.Element, schema.DecodeOptions{})
	if fs != nil || c2.Header.ID != c1.Header.ID || c2.Header.Version != c1.Header.Version || c2.Header.ExportCountry != c1.Header.ExportCountry {
		t.Fatalf("decoded %+v, want %+v (%v)", c2.Header, c1.Header, fs)
	}

	// Refusals keep their status and findings.
	for _, tc := range []struct {
		name   string
		doc    []byte
		status int
		code   string
	}{
		{"not XML", []byte("<not xml"), http.StatusBadRequest, schema.CodeNotXML},
		{"DOCTYPE", []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`), http.StatusBadRequest, schema.CodeDoctype},
		{"not an e-CO", []byte(`<x xmlns="urn:other"/>`), http.StatusUnprocessableEntity, schema.CodeNamespace},
		// A processing instruction: the schema decoder ignores it, the
		// strict profile refuses it. Before one parse served both this
		// reached the signer and failed with a 503; now it is a 400.
		{"processing instruction", bytes.Replace(doc, []byte("<CertificateOfOrigin"), []byte("<?php x?><CertificateOfOrigin"), 1), http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Submit(ctx, tc.doc, nil)
			var se *SubmitError
			if !errors.As(err, &se) || se.Status != tc.status {
				t.Fatalf("got %v, want status %d", err, tc.status)
			}
			if tc.code != "" {
				found := false
				for _, f := range se.Findings {
					found = found || f.Code == tc.code
				}
				if !found {
					t.Errorf("findings %+v lack %s", se.Findings, tc.code)
				}
			}
		})
	}
}
