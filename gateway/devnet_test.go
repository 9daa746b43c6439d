package gateway

// In-process development nodes for the tests and benchmarks of this
// package (test-only: no production code and no command uses them).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/store"
)

// DevIdentity is one node's development PKI (certs.NewDevPKI): what the
// tests give each node. Not for production.
type DevIdentity struct {
	Country string
	Name    string
	PKI     *certs.DevPKI
}

// NewDevIdentity makes a development PKI for a node in memory.
func NewDevIdentity(country, name string) (*DevIdentity, error) {
	p, err := certs.NewDevPKI(certs.PKIOptions{Name: "ecogate dev " + country})
	if err != nil {
		return nil, err
	}
	return &DevIdentity{Country: country, Name: name, PKI: p}, nil
}

func tlsCert(kc certs.KeyCert, chain ...*x509.Certificate) *tls.Certificate {
	c := &tls.Certificate{Certificate: [][]byte{kc.Cert.Raw}, PrivateKey: kc.Key, Leaf: kc.Cert}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// AsPartner is the registry entry other nodes keep for this identity: its
// root anchors TLS client certificates, document signing and receipts.
func (d *DevIdentity) AsPartner(endpoint string, retry partners.RetryPolicy, agreements ...string) *Partner {
	return &Partner{
		Country:       d.Country,
		Name:          d.Name,
		Endpoint:      endpoint,
		TLSCAs:        []*x509.Certificate{d.PKI.Root.Cert},
		DocumentTrust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{d.PKI.Root.Cert}},
		Agreements:    agreements,
		Retry:         retry,
	}
}

// ClientCertificate is the identity's TLS client certificate.
func (d *DevIdentity) ClientCertificate() *tls.Certificate { return tlsCert(d.PKI.TLSClient) }

// NodeOptions returns node options wired to the identity's keys, the
// store db and the directory; the caller may change them before New.
func (d *DevIdentity) NodeOptions(db *store.DB, dir PartnerDirectory) Options {
	return Options{
		Country:           d.Country,
		Name:              d.Name,
		Outbox:            db.Outbox(),
		Inbox:             db.Inbox(),
		Audit:             db.Audit(),
		Partners:          dir,
		Verifier:          &CertsVerifier{},
		Validator:         &SchemaValidator{},
		OwnTrust:          &certs.TrustSet{AnchorCerts: []*x509.Certificate{d.PKI.Root.Cert}},
		Signer:            &CertsSigner{Key: d.PKI.SignerECDSA.Key, Certs: []*x509.Certificate{d.PKI.SignerECDSA.Cert, d.PKI.Intermediate.Cert}},
		Receipts:          &JWSSigner{Key: d.PKI.Receipt.Key, Certs: []*x509.Certificate{d.PKI.Receipt.Cert}},
		ReceiptVerifier:   &JWSVerifier{},
		ClientCertificate: tlsCert(d.PKI.TLSClient),
		ServerCertificate: tlsCert(d.PKI.TLSServer),
	}
}

// DevNode is a running node on loopback listeners, for the demo, tests and
// benchmarks.
type DevNode struct {
	Node *Node
	DB   *store.DB
	// PartnerURL is the partner API base (https://127.0.0.1:PORT/eco/v1);
	// LocalURL the local API base (http://127.0.0.1:PORT).
	PartnerURL string
	LocalURL   string

	cancel context.CancelFunc
	done   chan error
}

// DevListeners opens the two loopback listeners of a dev node.
func DevListeners() (partner, local net.Listener, err error) {
	partner, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	local, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		partner.Close()
		return nil, nil, err
	}
	return partner, local, nil
}

// PartnerURLOf is the partner API base URL of a loopback listener.
func PartnerURLOf(ln net.Listener) string { return "https://" + ln.Addr().String() + "/eco/v1" }

// StartDevNode opens (or creates) the store at dataFile, builds the node
// from the identity and dir, lets tweak adjust the options, and serves it
// on the listeners until Close.
func StartDevNode(id *DevIdentity, dataFile string, partnerLn, localLn net.Listener, dir PartnerDirectory, tweak func(*Options)) (*DevNode, error) {
	// The check view index of a serving node (the configuration's default).
	db, err := store.Open(dataFile, store.Options{ViewMemory: DefaultViewMemory()})
	if err != nil {
		return nil, err
	}
	opt := id.NodeOptions(db, dir)
	opt.PublicURL = PartnerURLOf(partnerLn)
	opt.LocalURL = "http://" + localLn.Addr().String()
	if tweak != nil {
		tweak(&opt)
	}
	n, err := New(opt)
	if err != nil {
		db.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &DevNode{Node: n, DB: db, PartnerURL: opt.PublicURL, LocalURL: opt.LocalURL, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- n.Serve(ctx, partnerLn, localLn) }()
	return d, nil
}

// Close stops the node (in-flight deliveries finish) and closes its store.
func (d *DevNode) Close() error {
	d.cancel()
	var err error
	select {
	case err = <-d.done:
	case <-time.After(60 * time.Second):
		err = errors.New("node did not stop within 60 s")
	}
	if cerr := d.DB.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close store: %w", cerr)
	}
	return err
}
