package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecogate/ecogate/store"
)

// This file watches the expiry of every certificate the node relies on:
// its own (TLS server and client, document and receipt signing, and what
// the configuration adds through Options.Certificates) and its partners'
// (TLS CAs and document-signing anchors, read from the partner directory
// as it is now, so a registry reload shows at once). It exports them as
// ecogate_certificate_expiry_timestamp_seconds and logs a warning a day
// for each one close to expiry, an error a day for each one expired.

// Defaults of Options.CertificateWarning and CertificateCheckInterval.
const (
	DefaultCertificateWarning       = 30 * 24 * time.Hour
	DefaultCertificateCheckInterval = time.Hour
)

// certLogEvery is how often one certificate is logged again while it
// stays close to expiry or expired (by the node's clock).
const certLogEvery = 24 * time.Hour

// maxSubjectLabel clips the subject label (bytes, on a rune boundary).
const maxSubjectLabel = 64

// Certificate uses of the partners' certificates (the partner registry's
// keys, as `ecogate partners check` names them).
const (
	UsePartnerTLSCA  = "tls.clientCAs"
	UsePartnerAnchor = "documentSigning.anchors"
)

// UseCustomsClient is the use of the certificates customs clients are
// bound to (ecogate customs-clients add --cert, renew --cert).
const UseCustomsClient = "customs.clients"

// customsClientLister lists the customs clients (CustomsStore has it).
type customsClientLister interface {
	Clients(ctx context.Context) ([]store.CustomsClient, error)
}

// customsClientCerts are the certificates the active customs clients are
// bound to: each one's current certificate and, while a renewal is under
// way, its next one. A binding keeps the certificate's SHA-256, subject
// and NotAfter, not the certificate, so each watched certificate carries
// those alone: Raw is the SHA-256 (it tells bindings apart), the subject
// label is "client: subject", there is no serial. A store that cannot
// list its clients adds none (logged), so a scrape never fails on it.
func customsClientCerts(cs customsClientLister, log *slog.Logger) []WatchedCertificate {
	if cs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	clients, err := cs.Clients(ctx)
	if err != nil {
		log.Warn("certificate expiry: cannot list the customs clients; their certificates are left out", "err", err)
		return nil
	}
	var out []WatchedCertificate
	for _, cl := range clients {
		if !cl.Revoked.IsZero() {
			continue
		}
		for _, b := range []struct {
			sha, subject string
			notAfter     time.Time
		}{{cl.CertSHA256, cl.CertSubject, cl.CertNotAfter}, {cl.NextCertSHA256, cl.NextCertSubject, cl.NextCertNotAfter}} {
			raw, err := hex.DecodeString(b.sha)
			if err != nil || len(raw) != sha256.Size || b.notAfter.IsZero() {
				continue
			}
			out = append(out, WatchedCertificate{Use: UseCustomsClient, Cert: &x509.Certificate{Raw: raw, NotAfter: b.notAfter,
				Subject: pkix.Name{CommonName: cl.ID + ": " + b.subject}}})
		}
	}
	return out
}

// WatchedCertificate is a certificate the node relies on, watched for
// expiry.
type WatchedCertificate struct {
	// Use names where the certificate comes from: the configuration key of
	// a node's own certificate (tls.cert, signing.chain, ...), for a
	// partner's the registry key (UsePartnerTLSCA, UsePartnerAnchor), or
	// UseCustomsClient for a customs client's bound certificate.
	Use string
	// Partner is the partner's country code; empty for the node's own.
	Partner string
	Cert    *x509.Certificate
}

// WatchCertificates returns the watched certificates of one use: the
// first as use and the rest as chainUse (when chainUse is empty, all as
// use). Nil certificates are skipped.
func WatchCertificates(use, chainUse string, cs ...*x509.Certificate) []WatchedCertificate {
	var out []WatchedCertificate
	for i, c := range cs {
		if c == nil {
			continue
		}
		u := use
		if i > 0 && chainUse != "" {
			u = chainUse
		}
		out = append(out, WatchedCertificate{Use: u, Cert: c})
	}
	return out
}

// tlsChain parses the certificates of a TLS key pair (leaf first); it
// skips what does not parse (tls.LoadX509KeyPair has parsed them before).
func tlsChain(c *tls.Certificate) []*x509.Certificate {
	if c == nil {
		return nil
	}
	out := make([]*x509.Certificate, 0, len(c.Certificate))
	for i, der := range c.Certificate {
		if i == 0 && c.Leaf != nil {
			out = append(out, c.Leaf)
			continue
		}
		if x, err := x509.ParseCertificate(der); err == nil {
			out = append(out, x)
		}
	}
	return out
}

// Certificates lists every certificate the node relies on now, one per use,
// partner and certificate, sorted by partner, use and expiry: its own (the
// TLS server and client certificates with their chains, and
// Options.Certificates, which Config.Open makes list the customs clients'
// bound certificates too) and each partner's TLS CAs and document-signing
// anchors from the partner directory as it is at this call.
func (n *Node) Certificates() []WatchedCertificate {
	out := append([]WatchedCertificate(nil), n.ownCerts...)
	if n.opt.Certificates != nil {
		out = append(out, n.opt.Certificates()...)
	}
	for _, p := range n.opt.Partners.All() {
		for _, c := range p.TLSCAs {
			out = append(out, WatchedCertificate{Use: UsePartnerTLSCA, Partner: p.Country, Cert: c})
		}
		if p.DocumentTrust != nil {
			for _, c := range p.DocumentTrust.Anchors() {
				out = append(out, WatchedCertificate{Use: UsePartnerAnchor, Partner: p.Country, Cert: c})
			}
		}
	}
	return dedupeWatched(out, func(w WatchedCertificate) (string, string, []byte, time.Time, bool) {
		if w.Cert == nil {
			return "", "", nil, time.Time{}, false
		}
		return w.Use, w.Partner, w.Cert.Raw, w.Cert.NotAfter, true
	})
}

// dedupeWatched keeps each watched certificate or CRL once per use,
// partner and bytes (of says what they are, and false for one to drop)
// and sorts them by partner, use and then the time that matters (expiry
// or NextUpdate), earliest first.
func dedupeWatched[T any](items []T, of func(T) (use, partner string, raw []byte, at time.Time, ok bool)) []T {
	seen := make(map[[sha256.Size]byte]bool, len(items))
	kept := items[:0]
	for _, w := range items {
		use, partner, raw, _, ok := of(w)
		if !ok {
			continue
		}
		k := watchKey(use, partner, raw)
		if seen[k] {
			continue
		}
		seen[k] = true
		kept = append(kept, w)
	}
	sort.SliceStable(kept, func(i, j int) bool {
		ua, pa, _, ta, _ := of(kept[i])
		ub, pb, _, tb, _ := of(kept[j])
		if pa != pb {
			return pa < pb
		}
		if ua != ub {
			return ua < ub
		}
		return ta.Before(tb)
	})
	return kept
}

// watchKey identifies a watched certificate or CRL: its use, partner and
// DER bytes.
func watchKey(use, partner string, raw []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(use))
	h.Write([]byte{0})
	h.Write([]byte(partner))
	h.Write([]byte{0})
	h.Write(raw)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// certSubject is a certificate's subject for labels and logs (nameLabel).
func certSubject(c *x509.Certificate) string { return nameLabel(c.Subject) }

// nameLabel is a distinguished name for labels and logs: its CommonName,
// or else the whole name, clipped to maxSubjectLabel bytes.
func nameLabel(n pkix.Name) string {
	s := n.CommonName
	if s == "" {
		s = n.String()
	}
	return clipLabel(s)
}

// clipLabel clips a label value to maxSubjectLabel bytes, on a rune
// boundary.
func clipLabel(s string) string {
	if len(s) <= maxSubjectLabel {
		return s
	}
	s = s[:maxSubjectLabel]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// certSerial is a certificate's serial number in upper-case hexadecimal
// (as openssl x509 -serial prints it), clipped to 40 digits (RFC 5280's
// 20 octets).
func certSerial(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	s := strings.ToUpper(c.SerialNumber.Text(16))
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// certCollector exports ecogate_certificate_expiry_timestamp_seconds at
// scrape time.
type certCollector struct {
	n    *Node
	desc *prometheus.Desc
}

func newCertCollector(n *Node) *certCollector {
	return &certCollector{n: n, desc: prometheus.NewDesc("ecogate_certificate_expiry_timestamp_seconds",
		"NotAfter of each certificate the node relies on, as Unix seconds: its own by configuration key (use), its partners' TLS CAs and document-signing anchors (partner), and the certificates customs clients are bound to (use customs.clients); alert on `ecogate_certificate_expiry_timestamp_seconds - time() < 30*86400`.",
		[]string{"use", "partner", "subject", "serial"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. Two certificates with the same
// labels (the same use, partner, subject and serial, from different
// issuers) would make the scrape fail: the one expiring first is kept.
func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	type labels struct{ use, partner, subject, serial string }
	seen := map[labels]bool{}
	for _, w := range c.n.Certificates() { // by expiry within a use and partner
		l := labels{w.Use, w.Partner, certSubject(w.Cert), certSerial(w.Cert)}
		if seen[l] {
			continue
		}
		seen[l] = true
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(w.Cert.NotAfter.Unix()), l.use, l.partner, l.subject, l.serial)
	}
}

// certWatch logs certificates close to expiry (WARN) or expired (ERROR),
// each at most once every certLogEvery by the node's clock, and again at
// once when one turns from close to expiry to expired.
type certWatch struct {
	n      *Node
	window time.Duration
	log    dueLog
}

// check logs what is due at now and returns how many lines it logged.
func (w *certWatch) check(now time.Time) int {
	return w.log.round(now, func(due func(k [sha256.Size]byte, expired bool) bool) {
		for _, c := range w.n.Certificates() {
			left := c.Cert.NotAfter.Sub(now)
			if left > w.window || !due(watchKey(c.Use, c.Partner, c.Cert.Raw), left < 0) {
				continue
			}
			attrs := append(useAttrs(c.Use, c.Partner), "subject", certSubject(c.Cert), "serial", certSerial(c.Cert), "notAfter", c.Cert.NotAfter.UTC().Format(time.RFC3339))
			if left < 0 {
				w.n.log.Error("certificate expired: replace it", attrs...)
			} else {
				w.n.log.Warn("certificate expires soon: renew it", append(attrs, "daysLeft", int(math.Floor(left.Hours()/24)))...)
			}
		}
	})
}

// useAttrs are the log attributes naming a watched item's use and, for a
// partner's, the partner.
func useAttrs(use, partner string) []any {
	if partner == "" {
		return []any{"use", use}
	}
	return []any{"use", use, "partner", partner}
}

// dueLog remembers when each watched item (by watchKey) was last logged,
// so that the certificate and CRL watches log one at most once every
// certLogEvery, and again at once when it turns expired (or stale).
type dueLog struct {
	mu   sync.Mutex
	last map[[sha256.Size]byte]certLogged
}

type certLogged struct {
	at      time.Time
	expired bool
}

// round runs one check at now: visit calls due for each item in the
// warning window, which reports whether the item is to be logged now (and
// records it); items not seen in this round are forgotten. It returns how
// many were due.
func (d *dueLog) round(now time.Time, visit func(due func(k [sha256.Size]byte, expired bool) bool)) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := map[[sha256.Size]byte]certLogged{}
	n := 0
	visit(func(k [sha256.Size]byte, expired bool) bool {
		if l, ok := d.last[k]; ok && l.expired == expired && now.Sub(l.at) < certLogEvery && !now.Before(l.at) {
			next[k] = l
			return false
		}
		next[k] = certLogged{at: now, expired: expired}
		n++
		return true
	})
	d.last = next
	return n
}

// runCertWatch checks the certificates and the CRLs at once and then
// every Options.CertificateCheckInterval until ctx ends.
func (n *Node) runCertWatch(ctx context.Context) {
	n.expiry.check(n.clock.Now())
	n.crlStale.check(n.clock.Now())
	t := time.NewTicker(n.opt.CertificateCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := n.clock.Now()
			n.expiry.check(now)
			n.crlStale.check(now)
		}
	}
}
