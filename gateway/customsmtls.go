package gateway

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
)

// The customs listener's mutual TLS (customs.clientCAs, customs.clientCRLs;
// gateway/customs/mtls.go authenticates the certificates): the CA pool the
// handshake verifies client certificates against, and the CRLs the customs
// service checks them against, read again when their files change.

// loadClientCAs reads the CA files of customs.clientCAs into a pool (nil
// when there are none) and returns the certificates too. A file without a certificate, or with a
// certificate that is not a CA, is refused with its key.
func loadClientCAs(files []string) (*x509.CertPool, []*x509.Certificate, error) {
	if len(files) == 0 {
		return nil, nil, nil
	}
	pool := x509.NewCertPool()
	var all []*x509.Certificate
	for i, f := range files {
		key := fmt.Sprintf("customs.clientCAs[%d]", i)
		cs, err := certs.LoadCertificates(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", key, err)
		}
		if len(cs) == 0 {
			return nil, nil, fmt.Errorf("%s: %s holds no certificate", key, f)
		}
		for _, c := range cs {
			if !c.IsCA {
				return nil, nil, fmt.Errorf("%s: %s holds %q, which is not a CA certificate; give the CA that issues the customs systems' client certificates "+
					"(a system's own certificate is registered with ecogate customs-clients add --cert FILE)", key, f, c.Subject)
			}
			pool.AddCert(c)
			all = append(all, c)
		}
	}
	return pool, all, nil
}

// crlFiles are the CRL files of customs.clientCRLs, read at start (an
// error stops the node) and again, at most every poll, when a file's size
// or modification time changed; a file that cannot be read then keeps the
// CRLs read before (and is logged), so that a half-written file never
// drops a revocation.
type crlFiles struct {
	key   string
	files []string
	poll  time.Duration
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	crls    []*x509.RevocationList
	stamps  []string
	checked time.Time
}

// newCRLFiles reads the CRL files; nil when there are none.
func newCRLFiles(key string, files []string, poll time.Duration, log *slog.Logger) (*crlFiles, error) {
	if len(files) == 0 {
		return nil, nil
	}
	if poll <= 0 {
		poll = 5 * time.Second
	}
	c := &crlFiles{key: key, files: files, poll: poll, log: log, now: time.Now}
	crls, stamps, err := c.read()
	if err != nil {
		return nil, err
	}
	c.crls, c.stamps, c.checked = crls, stamps, c.now()
	c.warnStale(crls)
	return c, nil
}

// read reads every file: the CRLs and each file's stamp.
func (c *crlFiles) read() ([]*x509.RevocationList, []string, error) {
	var crls []*x509.RevocationList
	stamps := make([]string, len(c.files))
	for i, f := range c.files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s[%d]: %w", c.key, i, err)
		}
		stamps[i] = stampOf(st)
		l, err := certs.LoadCRLs(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s[%d]: %w", c.key, i, err)
		}
		if len(l) == 0 {
			return nil, nil, fmt.Errorf("%s[%d]: %s holds no CRL", c.key, i, f)
		}
		crls = append(crls, l...)
	}
	return crls, stamps, nil
}

// stampOf is what tells a changed CRL file: its size and modification
// time.
func stampOf(st os.FileInfo) string {
	return fmt.Sprint(st.Size(), st.ModTime().UnixNano())
}

// get returns the CRLs in force, reading the files again when they
// changed.
func (c *crlFiles) get() []*x509.RevocationList {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.checked) < c.poll {
		return c.crls
	}
	c.checked = now
	changed := false
	for i, f := range c.files {
		st, err := os.Stat(f)
		if err != nil || stampOf(st) != c.stamps[i] {
			changed = true
			break
		}
	}
	if !changed {
		return c.crls
	}
	crls, stamps, err := c.read()
	if err != nil {
		c.log.Error("customs client CRLs not reloaded; the ones read before stay in force", "err", err)
		return c.crls
	}
	c.crls, c.stamps = crls, stamps
	c.log.Info("customs client CRLs reloaded", "crls", len(crls))
	c.warnStale(crls)
	return c.crls
}

// warnStale logs CRLs already past their next update: every certificate
// they cover is refused until a fresh one is loaded.
func (c *crlFiles) warnStale(crls []*x509.RevocationList) {
	now := c.now()
	for _, l := range crls {
		if !l.NextUpdate.IsZero() && now.After(l.NextUpdate) {
			c.log.Warn("a customs client CRL is past its next update: the client certificates it covers are refused until a fresh CRL is loaded",
				"key", c.key, "issuer", l.Issuer.String(), "nextUpdate", l.NextUpdate.UTC().Format(time.RFC3339))
		}
	}
}
