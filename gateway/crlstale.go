package gateway

import (
	"crypto/sha256"
	"crypto/x509"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// This file watches the freshness of every CRL the node relies on: its
// own (what the configuration adds through Options.CRLs: signing.trust,
// customs.clientCRLs, issuance.officerAnchors) and its partners' (TLS and
// document-signing CRLs, read from the partner directory as it is now, so
// a registry reload shows at once). The node fails closed on a CRL past
// its NextUpdate (the certificates it covers are refused), so it exports
// NextUpdate as ecogate_crl_next_update_timestamp_seconds and logs a
// warning a day for each CRL close to its NextUpdate, an error a day for
// each one past it. A CRL without NextUpdate never goes stale: it has no
// series and is never logged. The watch runs with the certificate expiry
// watch (runCertWatch), by the node's clock.

// DefaultCRLWarning is the default of Options.CRLWarning. CRLs are
// typically issued daily or weekly and fetched well before their
// NextUpdate, so two days leave a working day to fetch a fresh one; a CRL
// valid for less than twice the window is warned about when half its
// validity is left instead (see crlWindow), so a daily CRL is not warned
// about all the time.
const DefaultCRLWarning = 48 * time.Hour

// CRL uses of the partners' CRLs (the partner registry's keys).
const (
	UsePartnerTLSCRL     = "tls.crls"
	UsePartnerSigningCRL = "documentSigning.crls"
)

// WatchedCRL is a CRL the node relies on, watched for staleness.
type WatchedCRL struct {
	// Use names where the CRL comes from: the configuration key of a
	// node's own CRL (signing.trust, customs.clientCRLs, ...) or, for a
	// partner's, the registry key (UsePartnerTLSCRL, UsePartnerSigningCRL).
	Use string
	// Partner is the partner's country code; empty for the node's own.
	Partner string
	CRL     *x509.RevocationList
}

// WatchCRLs returns the watched CRLs of one use. Nil CRLs are skipped.
func WatchCRLs(use string, ls ...*x509.RevocationList) []WatchedCRL {
	var out []WatchedCRL
	for _, l := range ls {
		if l != nil {
			out = append(out, WatchedCRL{Use: use, CRL: l})
		}
	}
	return out
}

// CRLs lists every CRL with a NextUpdate the node relies on now, one per
// use, partner and CRL, sorted by partner, use and NextUpdate: its own
// (Options.CRLs) and each partner's TLS and document-signing CRLs from the
// partner directory as it is at this call.
func (n *Node) CRLs() []WatchedCRL {
	var out []WatchedCRL
	if n.opt.CRLs != nil {
		out = append(out, n.opt.CRLs()...)
	}
	for _, p := range n.opt.Partners.All() {
		for _, l := range p.TLSCRLs {
			out = append(out, WatchedCRL{Use: UsePartnerTLSCRL, Partner: p.Country, CRL: l})
		}
		if p.DocumentTrust != nil {
			for _, l := range p.DocumentTrust.CRLs() {
				out = append(out, WatchedCRL{Use: UsePartnerSigningCRL, Partner: p.Country, CRL: l})
			}
		}
	}
	return dedupeWatched(out, func(w WatchedCRL) (string, string, []byte, time.Time, bool) {
		if w.CRL == nil || w.CRL.NextUpdate.IsZero() {
			return "", "", nil, time.Time{}, false
		}
		return w.Use, w.Partner, w.CRL.Raw, w.CRL.NextUpdate, true
	})
}

// crlIssuer is a CRL's issuer for labels and logs (nameLabel).
func crlIssuer(l *x509.RevocationList) string { return nameLabel(l.Issuer) }

// crlWindow is how long before its NextUpdate a CRL is warned about: the
// warning window, or half the CRL's validity (ThisUpdate to NextUpdate)
// when that is shorter.
func crlWindow(l *x509.RevocationList, warning time.Duration) time.Duration {
	if l.ThisUpdate.IsZero() || !l.ThisUpdate.Before(l.NextUpdate) {
		return warning
	}
	if half := l.NextUpdate.Sub(l.ThisUpdate) / 2; half < warning {
		return half
	}
	return warning
}

// crlCollector exports ecogate_crl_next_update_timestamp_seconds at
// scrape time.
type crlCollector struct {
	n    *Node
	desc *prometheus.Desc
}

func newCRLCollector(n *Node) *crlCollector {
	return &crlCollector{n: n, desc: prometheus.NewDesc("ecogate_crl_next_update_timestamp_seconds",
		"NextUpdate of each CRL the node relies on, as Unix seconds: its own by configuration key (use) and its partners' TLS and document-signing CRLs (partner); past it the certificates the CRL covers are refused; alert on `ecogate_crl_next_update_timestamp_seconds - time() < 86400`.",
		[]string{"use", "partner", "issuer"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *crlCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. Several CRLs with the same
// labels (the same use, partner and issuer: an old and a fresh CRL, or two
// issuers with the same name) are one series, the earliest NextUpdate:
// any stale CRL of an issuer fails its certificates closed.
func (c *crlCollector) Collect(ch chan<- prometheus.Metric) {
	type labels struct{ use, partner, issuer string }
	seen := map[labels]bool{}
	for _, w := range c.n.CRLs() { // by NextUpdate within a use and partner
		l := labels{w.Use, w.Partner, crlIssuer(w.CRL)}
		if seen[l] {
			continue
		}
		seen[l] = true
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(w.CRL.NextUpdate.Unix()), l.use, l.partner, l.issuer)
	}
}

// crlWatch logs CRLs close to their NextUpdate (WARN) or past it (ERROR),
// each at most once every certLogEvery by the node's clock, and again at
// once when one turns from close to stale.
type crlWatch struct {
	n      *Node
	window time.Duration
	log    dueLog
}

// check logs what is due at now and returns how many lines it logged.
func (w *crlWatch) check(now time.Time) int {
	return w.log.round(now, func(due func(k [sha256.Size]byte, stale bool) bool) {
		for _, c := range w.n.CRLs() {
			left := c.CRL.NextUpdate.Sub(now)
			if left > crlWindow(c.CRL, w.window) || !due(watchKey(c.Use, c.Partner, c.CRL.Raw), left < 0) {
				continue
			}
			attrs := append(useAttrs(c.Use, c.Partner), "issuer", crlIssuer(c.CRL), "nextUpdate", c.CRL.NextUpdate.UTC().Format(time.RFC3339))
			if left < 0 {
				w.n.log.Error("CRL is stale: the certificates it covers are refused until a fresh CRL is in place", attrs...)
			} else {
				w.n.log.Warn("CRL goes stale soon: fetch a fresh one", append(attrs, "hoursLeft", int(math.Floor(left.Hours())))...)
			}
		}
	})
}
