package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/verify"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/qrsign"
	"github.com/ecogate/ecogate/store"
)

// PortalConfig is the "portal:" section: the web portal (package portal)
// served on listen.portal (off when empty). The portal has its own
// logins (ecogate portal add-user), sessions in __Host- cookies and CSRF
// tokens; it needs issuance.enabled. Serve it over HTTPS through a
// TLS-terminating reverse proxy (its cookies are Secure: browsers keep
// them on http://localhost and https only).
type PortalConfig struct {
	// QRKey and QRCert sign the QR payload printed on certificate PDFs
	// (the dev PKI's qr-key.pem, qr-cert.pem); empty: the QR code carries
	// the verification link only.
	QRKey  string `yaml:"qrKey"`
	QRCert string `yaml:"qrCert"`
	// SessionTTL is a session's lifetime (default 8h).
	SessionTTL Duration `yaml:"sessionTTL"`
	// LoginRate is the sustained login attempts per second per client
	// address and per user name (default 0.1), LoginBurst the bucket
	// (default 5).
	LoginRate  float64 `yaml:"loginRate"`
	LoginBurst int     `yaml:"loginBurst"`
}

// checkPortal validates listen.portal and the portal section.
func checkPortal(c *Config, abs func(string) string, bad func(key, format string, a ...any)) {
	c.Portal.QRKey, c.Portal.QRCert = abs(c.Portal.QRKey), abs(c.Portal.QRCert)
	if c.Listen.Portal == "" {
		return
	}
	if !c.Issuance.Enabled {
		bad("listen.portal", "the portal needs issuance.enabled: true (its pages drive the issuance workflow)")
	}
	if (c.Portal.QRKey == "") != (c.Portal.QRCert == "") {
		bad("portal.qrKey", "give portal.qrKey and portal.qrCert together")
	}
}

// nodeKeySigner is the held-key path with the node's document-signing key
// (signing.key): every officer of the node signs with it
// (issuance.nodeSigning: true). The officer's own DSC path, when the
// officers' anchors are configured, is the external one.
type nodeKeySigner struct{ s DocumentSigner }

// Sign implements issuance.Signer.
func (k nodeKeySigner) Sign(ctx context.Context, _ *issuance.Person, c *issuance.Certificate) ([]byte, error) {
	if len(c.Document) == 0 {
		return nil, errors.New("no e-CO document to sign")
	}
	return k.s.Sign(ctx, c.Document)
}

// openPortal builds the portal on the node's storage engine (bbolt or
// PostgreSQL: logins and sessions shared by the replicas), the issuance
// service and the node (the operator's console). It returns the QR
// signing certificate's chain too (portal.qrCert, for the expiry watch).
func openPortal(c *Config, eng *Engine, svc *issuance.Service, n *Node, w *partners.Watcher, client *tls.Certificate, log *slog.Logger) (*portal.Server, []*x509.Certificate, error) {
	opt := portal.Options{Name: c.Node.Name, Store: eng.Portal, Service: svc, HeldSigning: c.Issuance.HeldKeys != "" || c.Issuance.NodeSigning && n.opt.Signer != nil, ExternalSigning: len(c.Issuance.OfficerAnchors) > 0,
		SessionTTL: time.Duration(c.Portal.SessionTTL), LoginRate: c.Portal.LoginRate, LoginBurst: c.Portal.LoginBurst, Logger: log.With("component", "portal"),
		Console: &nodeConsole{n: n, eng: eng, w: w, client: client}, Images: certImages{svc}}
	vo := verify.Options{Country: c.Node.Country, Issuer: c.Node.Name, Register: eng.Issued, BaseURL: c.Verify.PublicURL,
		Rate: c.Verify.Rate, Burst: c.Verify.Burst, MissesBeforeChallenge: c.Verify.MissesBeforeChallenge, MissWindow: time.Duration(c.Verify.MissWindow)}
	if vo.BaseURL == "" {
		vo.BaseURL = "http://" + loopbackIfWildcard(c.Listen.Portal)
	}
	var qrChain []*x509.Certificate
	if c.Portal.QRKey != "" {
		key, chain, err := certs.LoadKeyPair(c.Portal.QRKey, c.Portal.QRCert, "", "")
		if err != nil {
			return nil, nil, fmt.Errorf("portal.qrKey/portal.qrCert: %w", err)
		}
		if opt.QR, err = qrsign.NewSigner(key, chain[0]); err != nil {
			return nil, nil, fmt.Errorf("portal.qrKey: %w", err)
		}
		trust := &certs.TrustSet{}
		if own := n.opt.OwnTrust; own != nil { // signing.trust, read once when the node was built
			trust.AnchorCerts, trust.RevocationLists = own.Anchors(), own.CRLs()
		}
		if c.Signing.Chain != "" {
			if cs, err := certs.LoadCertificates(c.Signing.Chain); err == nil {
				trust.ExtraIntermediates = cs
			}
		}
		vo.QR = &qrsign.Verifier{Certs: chain, Trust: trust}
		qrChain = chain
	}
	opt.Verify = vo
	srv, err := portal.New(opt)
	return srv, qrChain, err
}

// nodeConsole is the operator's console over the node (portal.Console).
type nodeConsole struct {
	n      *Node
	eng    *Engine
	w      *partners.Watcher
	client *tls.Certificate
}

func (nc *nodeConsole) Partners(context.Context) ([]portal.PartnerInfo, error) {
	var out []portal.PartnerInfo
	now := nc.n.clock.Now()
	for _, p := range nc.w.Registry().Partners() {
		pi := portal.PartnerInfo{Country: p.Country, Name: p.Name, Mode: string(p.Delivery), Agreements: p.Agreements}
		if p.Endpoint != nil {
			pi.Endpoint = p.Endpoint.String()
		}
		add := func(use string, cs []*x509.Certificate) {
			for _, x := range cs {
				pi.Certs = append(pi.Certs, portal.CertExpiry{Use: use, Subject: x.Subject.CommonName, NotAfter: x.NotAfter,
					DaysLeft: int(math.Floor(x.NotAfter.Sub(now).Hours() / 24))})
			}
		}
		add("TLS CA", p.ClientCAs)
		add("document anchor", p.Anchors)
		out = append(out, pi)
	}
	return out, nil
}

func (nc *nodeConsole) Probe(ctx context.Context, country string) (portal.ProbeInfo, error) {
	for _, p := range nc.w.Registry().Partners() {
		if p.Country == country {
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			r := ProbePartner(ctx, PartnerFromRegistry(p), nc.client, nc.n.clock.Now())
			pi := portal.ProbeInfo{Country: country, OK: r.OK(), Step: r.Step, Elapsed: r.Elapsed}
			if r.Err != nil {
				pi.Detail = r.Err.Error()
			}
			if r.Skipped != "" {
				pi.Detail = r.Skipped
			}
			return pi, nil
		}
	}
	return portal.ProbeInfo{}, fmt.Errorf("%q is not a partner", country)
}

func (nc *nodeConsole) Outbox(ctx context.Context, f store.Filter) ([]store.OutRecord, error) {
	return nc.eng.Outbox.List(ctx, f)
}

func (nc *nodeConsole) Resend(ctx context.Context, id, who string) error {
	if err := nc.eng.Outbox.Retry(ctx, id); err != nil {
		return err
	}
	nc.n.audit(ctx, "operator:"+who, "outbox.retry", id, map[string]string{"via": "portal"})
	return nil
}

func (nc *nodeConsole) Inbox(ctx context.Context, limit int) ([]store.InRecord, error) {
	return nc.eng.Inbox.List(ctx, "", limit)
}

func (nc *nodeConsole) CustomsClients(ctx context.Context) ([]store.CustomsClient, error) {
	return nc.eng.Customs.Clients(ctx)
}

func (nc *nodeConsole) VerifyAudit(ctx context.Context) (int, error) {
	v, ok := nc.eng.Audit.(interface {
		Verify(ctx context.Context) (int, error)
	})
	if !ok {
		return 0, errors.New("this storage engine's audit log cannot be verified here: run ecogate audit verify")
	}
	return v.Verify(ctx)
}

// certImages gives the certificate PDF the office's stamp and the
// officer's signature images registered in the issuance workflow.
type certImages struct{ svc *issuance.Service }

func (c certImages) Stamp(ctx context.Context, office string) ([]byte, error) {
	_, stamp, err := c.svc.CertificateImages(ctx, "", office)
	return stamp, err
}

func (c certImages) Signature(ctx context.Context, officer string) ([]byte, error) {
	sig, _, err := c.svc.CertificateImages(ctx, officer, "")
	return sig, err
}
