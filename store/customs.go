package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the customs face (gateway/customs). They are created by the
// first write that needs them, so a file made before they existed needs no
// migration; a missing bucket reads as empty.
const (
	bktCuClient = "cu_client" // client id -> JSON CustomsClient
	// bktCuClientCert indexes the certificate bindings of active clients,
	// the current certificate and, during a renewal, the next one: hex
	// SHA-256 of the DER certificate -> client id. A binding leaves the
	// index when its client is revoked (the record keeps it) or when a
	// renewal ends (the old certificate).
	bktCuClientCert = "cu_client_cert"
	bktCuView       = "cu_view"  // country 0 number -> be64(basedOn) + view bytes (opaque)
	bktCuUtil       = "cu_util"  // country 0 number 0 be32(item seq) -> be64 used (base units, see Decision)
	bktCuDecl       = "cu_decl"  // country 0 number 0 declarationRef -> JSON Decision
	bktCuQuery      = "cu_query" // country 0 number -> be64(fetched unix ns) + signed answer
)

// Customs is the durable state of the customs face: OAuth2 clients, the
// compact check views of received certificates, utilisation per goods item,
// customs decisions and cached verification-query answers. Get it from
// DB.Customs.
type Customs struct{ db *DB }

// Customs returns the customs view of the store.
func (db *DB) Customs() *Customs { return &Customs{db: db} }

// CustomsClient is a customs declaration system allowed to call the
// customs API: with access tokens got with its secret (OAuth2 client
// credentials), or with its client certificate (mutual TLS). Only a hash
// of its secret is stored.
type CustomsClient struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// SecretHash is the hex SHA-256 of the client secret (a 256-bit random
	// value shown once when the client is added); empty for a client that
	// authenticates by certificate only.
	SecretHash string `json:"secretHash"`
	// CertSHA256 is the lower-case hex SHA-256 of the DER client
	// certificate the client is bound to (its RFC 8705 x5t#S256, what
	// openssl x509 -fingerprint -sha256 prints); empty for an OAuth2
	// client. No two active clients hold the same certificate.
	CertSHA256 string `json:"certSHA256,omitempty"`
	// CertSubject and CertNotAfter describe the bound certificate for
	// people (lists, audit); only CertSHA256 authenticates.
	CertSubject  string    `json:"certSubject,omitempty"`
	CertNotAfter time.Time `json:"certNotAfter,omitzero"`
	// NextCertSHA256, NextCertSubject and NextCertNotAfter describe the
	// renewal of a certificate client in progress (RenewClientCert): its
	// next certificate, which authenticates as the client beside
	// CertSHA256 until FinishClientRenewal makes it the current one and
	// ends the old binding. Empty when no renewal is in progress.
	NextCertSHA256   string    `json:"nextCertSHA256,omitempty"`
	NextCertSubject  string    `json:"nextCertSubject,omitempty"`
	NextCertNotAfter time.Time `json:"nextCertNotAfter,omitzero"`
	Scopes           []string  `json:"scopes"`
	Created          time.Time `json:"created"`
	// Revoked is when the client was revoked; zero while it is active.
	Revoked time.Time `json:"revoked,omitzero"`
}

func bucketOf(tx *bolt.Tx, name string) *bolt.Bucket { return tx.Bucket([]byte(name)) }

func bucketRW(tx *bolt.Tx, name string) (*bolt.Bucket, error) {
	b, err := tx.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", name, err)
	}
	return b, nil
}

// checkClient checks a client record before it is stored: a client id, and
// a secret hash or a certificate binding (or both), each 64 lower-case
// hex digits.
func checkClient(cl *CustomsClient) error {
	if err := checkID("client id", cl.ID); err != nil {
		return fmt.Errorf("add customs client: %w", err)
	}
	if cl.SecretHash == "" && cl.CertSHA256 == "" {
		return fmt.Errorf("add customs client %s: %w: give a secret hash or a certificate fingerprint", cl.ID, ErrInvalid)
	}
	if cl.SecretHash != "" && len(cl.SecretHash) != 64 {
		return fmt.Errorf("add customs client %s: %w: secret hash must be 64 hex digits", cl.ID, ErrInvalid)
	}
	if cl.CertSHA256 != "" && !isHex64(cl.CertSHA256) {
		return fmt.Errorf("add customs client %s: %w: certificate fingerprint must be 64 lower-case hex digits (SHA-256)", cl.ID, ErrInvalid)
	}
	if cl.NextCertSHA256 != "" && (!isHex64(cl.NextCertSHA256) || cl.CertSHA256 == "" || cl.NextCertSHA256 == cl.CertSHA256) {
		return fmt.Errorf("add customs client %s: %w: the next certificate must be 64 lower-case hex digits and renew a different current one", cl.ID, ErrInvalid)
	}
	return nil
}

// isHex64 reports whether s is 64 lower-case hex digits.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// certBound reports whether cl's certificate binding is in force (a
// certificate, and not revoked).
func (cl *CustomsClient) certBound() bool { return cl.CertSHA256 != "" && cl.Revoked.IsZero() }

// certBindings are the certificate bindings of cl in force: none for a
// revoked client or one without a certificate, else its current
// certificate and, during a renewal, its next one.
func (cl *CustomsClient) certBindings() []string {
	switch {
	case !cl.certBound():
		return nil
	case cl.NextCertSHA256 != "":
		return []string{cl.CertSHA256, cl.NextCertSHA256}
	}
	return []string{cl.CertSHA256}
}

// bindsCert reports whether fingerprint authenticates as cl.
func (cl *CustomsClient) bindsCert(fingerprint string) bool {
	for _, fp := range cl.certBindings() {
		if fp == fingerprint {
			return true
		}
	}
	return false
}

// ClientCert is a client certificate to bind (RenewClientCert): the hex
// SHA-256 of its DER bytes, and its subject and expiry for people.
type ClientCert struct {
	SHA256   string
	Subject  string
	NotAfter time.Time
}

// renewClient is the renewal of cl to next, checked; changed is false
// when next is already the renewal in progress.
func renewClient(cl *CustomsClient, next ClientCert) (changed bool, err error) {
	switch {
	case !isHex64(next.SHA256):
		return false, fmt.Errorf("%w: certificate fingerprint must be 64 lower-case hex digits (SHA-256)", ErrInvalid)
	case !cl.Revoked.IsZero():
		return false, fmt.Errorf("%w: the client is revoked; add a new client instead", ErrConflict)
	case cl.CertSHA256 == "":
		return false, fmt.Errorf("%w: the client authenticates with a secret, not a certificate; add a client with a certificate instead", ErrInvalid)
	case next.SHA256 == cl.CertSHA256:
		return false, fmt.Errorf("%w: the certificate is already the client's current certificate", ErrConflict)
	case next.SHA256 == cl.NextCertSHA256:
		return false, nil
	}
	cl.NextCertSHA256, cl.NextCertSubject, cl.NextCertNotAfter = next.SHA256, next.Subject, next.NotAfter.UTC()
	return true, nil
}

// finishRenewal makes the renewal in progress cl's current certificate;
// with next set, only when that is the certificate of the renewal.
func finishRenewal(cl *CustomsClient, next string) error {
	switch {
	case !cl.Revoked.IsZero():
		return fmt.Errorf("%w: the client is revoked", ErrConflict)
	case cl.NextCertSHA256 == "":
		return fmt.Errorf("%w: no certificate renewal is in progress", ErrConflict)
	case next != "" && next != cl.NextCertSHA256:
		return fmt.Errorf("%w: the certificate renewal in progress is of another certificate", ErrConflict)
	}
	cl.CertSHA256, cl.CertSubject, cl.CertNotAfter = cl.NextCertSHA256, cl.NextCertSubject, cl.NextCertNotAfter
	cl.NextCertSHA256, cl.NextCertSubject, cl.NextCertNotAfter = "", "", time.Time{}
	return nil
}

// AddClient stores a new client. An existing id fails with ErrConflict, and
// so does a certificate already bound to another active client.
func (c *Customs) AddClient(ctx context.Context, cl CustomsClient) error {
	if err := checkClient(&cl); err != nil {
		return err
	}
	if cl.Created.IsZero() {
		cl.Created = c.db.clock()
	}
	cl.Created = cl.Created.UTC()
	v, err := json.Marshal(&cl)
	if err != nil {
		return err
	}
	err = c.db.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketRW(tx, bktCuClient)
		if err != nil {
			return err
		}
		if b.Get([]byte(cl.ID)) != nil {
			return fmt.Errorf("%w: client %s exists", ErrConflict, cl.ID)
		}
		if err := bindCerts(tx, cl.ID, cl.certBindings()...); err != nil {
			return err
		}
		return b.Put([]byte(cl.ID), v)
	})
	if err != nil {
		return fmt.Errorf("add customs client %s: %w", cl.ID, err)
	}
	return nil
}

// bindCerts indexes the certificate bindings fps of client id; a
// certificate bound to another active client, or held by a revoked client
// (revokedCert), is ErrConflict.
func bindCerts(tx *bolt.Tx, id string, fps ...string) error {
	if len(fps) == 0 {
		return nil
	}
	ib, err := bucketRW(tx, bktCuClientCert)
	if err != nil {
		return err
	}
	if cb := bucketOf(tx, bktCuClient); cb != nil {
		err := cb.ForEach(func(_, v []byte) error { return revokedCert(v, fps) })
		if err != nil {
			return err
		}
	}
	for _, fp := range fps {
		if other := ib.Get([]byte(fp)); other != nil && string(other) != id {
			return fmt.Errorf("%w: the certificate %s is already bound to client %s; a certificate authenticates one client: issue another one", ErrConflict, fp, other)
		}
		if err := ib.Put([]byte(fp), []byte(id)); err != nil {
			return err
		}
	}
	return nil
}

// revokedCert is ErrConflict when the client record rec is revoked and
// held one of the certificates fps (its certificate, or the next one of a
// renewal under way when it was revoked). A revoked client's certificate
// is never bound again: a client is revoked when its key may be
// compromised, and binding the certificate to another client would let
// that key back in.
func revokedCert(rec []byte, fps []string) error {
	var cl CustomsClient
	if err := json.Unmarshal(rec, &cl); err != nil {
		return fmt.Errorf("decode customs client: %w", err)
	}
	if cl.Revoked.IsZero() {
		return nil
	}
	for _, fp := range fps {
		if fp == cl.CertSHA256 || fp == cl.NextCertSHA256 {
			return fmt.Errorf("%w: the certificate %s was bound to client %s, which is revoked; a revoked client's certificate is never bound again: issue a new certificate", ErrConflict, fp, cl.ID)
		}
	}
	return nil
}

// unbindCerts drops the index entries of fps that name client id.
func unbindCerts(tx *bolt.Tx, id string, fps ...string) error {
	ib := bucketOf(tx, bktCuClientCert)
	if ib == nil {
		return nil
	}
	for _, fp := range fps {
		if string(ib.Get([]byte(fp))) == id {
			if err := ib.Delete([]byte(fp)); err != nil {
				return err
			}
		}
	}
	return nil
}

// changeClient rewrites client id with change, which also keeps the
// certificate index; it returns the client as it was. change returning
// errNoChange leaves the record as it is.
func (c *Customs) changeClient(ctx context.Context, id string, change func(tx *bolt.Tx, cl *CustomsClient) error) (*CustomsClient, error) {
	var before CustomsClient
	err := c.db.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketRW(tx, bktCuClient)
		if err != nil {
			return err
		}
		v := b.Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		var nv []byte
		if before, nv, err = rewriteClient(v, func(cl *CustomsClient) error { return change(tx, cl) }); err != nil {
			return err
		}
		return b.Put([]byte(id), nv)
	})
	if errors.Is(err, errNoChange) {
		err = nil
	}
	return &before, err
}

// rewriteClient decodes the client record v, applies change and encodes
// it again: the client as it was and the new record.
func rewriteClient(v []byte, change func(cl *CustomsClient) error) (CustomsClient, []byte, error) {
	var cl CustomsClient
	if err := json.Unmarshal(v, &cl); err != nil {
		return cl, nil, err
	}
	before := cl
	before.Scopes = append([]string(nil), cl.Scopes...)
	if err := change(&cl); err != nil {
		return before, nil, err
	}
	nv, err := json.Marshal(&cl)
	return before, nv, err
}

// errNoChange is a changeClient change that leaves the record as it is.
var errNoChange = errors.New("no change")

// RenewClientCert starts (or redirects) the renewal of a certificate
// client's certificate: next authenticates as the client, with its scopes,
// beside its current certificate until FinishClientRenewal. A pending
// renewal to another certificate is replaced (its binding ends); renewing
// to the pending certificate again changes nothing. It returns the client
// as it was. A certificate bound to another active client, the client's
// current certificate and a revoked client are ErrConflict; a client
// without a certificate or a malformed fingerprint ErrInvalid; an unknown
// client ErrNotFound.
func (c *Customs) RenewClientCert(ctx context.Context, id string, next ClientCert) (*CustomsClient, error) {
	before, err := c.changeClient(ctx, id, func(tx *bolt.Tx, cl *CustomsClient) error {
		pending := cl.NextCertSHA256
		changed, err := renewClient(cl, next)
		if err != nil || !changed {
			return cmp.Or(err, errNoChange)
		}
		if pending != "" {
			if err := unbindCerts(tx, id, pending); err != nil {
				return err
			}
		}
		return bindCerts(tx, id, next.SHA256)
	})
	if err != nil {
		return nil, fmt.Errorf("renew the certificate of customs client %s: %w", id, err)
	}
	return before, nil
}

// FinishClientRenewal ends a certificate renewal: the next certificate
// becomes the client's current one and the old certificate's binding
// ends. With next set (its hex SHA-256) it finishes only the renewal to
// that certificate (as renew --cert FILE --finish does). It returns
// the client as it was; no renewal in progress (or one to another
// certificate) and a revoked client are ErrConflict, an unknown client
// ErrNotFound.
func (c *Customs) FinishClientRenewal(ctx context.Context, id, next string) (*CustomsClient, error) {
	before, err := c.changeClient(ctx, id, func(tx *bolt.Tx, cl *CustomsClient) error {
		old := cl.CertSHA256
		if err := finishRenewal(cl, next); err != nil {
			return err
		}
		return unbindCerts(tx, id, old)
	})
	if err != nil {
		return nil, fmt.Errorf("finish the certificate renewal of customs client %s: %w", id, err)
	}
	return before, nil
}

// Client returns one client, or ErrNotFound.
func (c *Customs) Client(ctx context.Context, id string) (*CustomsClient, error) {
	var cl *CustomsClient
	err := c.db.view(func(tx *bolt.Tx) error {
		b := bucketOf(tx, bktCuClient)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		cl = new(CustomsClient)
		return json.Unmarshal(v, cl)
	})
	if err != nil {
		return nil, fmt.Errorf("customs client %s: %w", id, err)
	}
	return cl, nil
}

// ClientByCert returns the active client bound to the certificate whose
// hex SHA-256 is fingerprint, or ErrNotFound (no client, or its client is
// revoked).
func (c *Customs) ClientByCert(ctx context.Context, fingerprint string) (*CustomsClient, error) {
	var id []byte
	err := c.db.view(func(tx *bolt.Tx) error {
		if b := bucketOf(tx, bktCuClientCert); b != nil {
			id = append(id, b.Get([]byte(fingerprint))...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("customs client of certificate %s: %w", fingerprint, err)
	}
	if len(id) == 0 {
		return nil, fmt.Errorf("customs client of certificate %s: %w", fingerprint, ErrNotFound)
	}
	cl, err := c.Client(ctx, string(id))
	if err != nil {
		return nil, err
	}
	if !cl.bindsCert(fingerprint) {
		return nil, fmt.Errorf("customs client of certificate %s: %w", fingerprint, ErrNotFound)
	}
	return cl, nil
}

// Clients lists every client (revoked ones included), by id.
func (c *Customs) Clients(ctx context.Context) ([]CustomsClient, error) {
	var res []CustomsClient
	err := c.db.view(func(tx *bolt.Tx) error {
		b := bucketOf(tx, bktCuClient)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var cl CustomsClient
			if err := json.Unmarshal(v, &cl); err != nil {
				return err
			}
			res = append(res, cl)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list customs clients: %w", err)
	}
	return res, nil
}

// RevokeClient marks a client revoked (it can get no more tokens, tokens
// already issued stop working, and its certificate no longer
// authenticates; the certificate may then be bound to a new client).
// Revoking twice is a no-op.
func (c *Customs) RevokeClient(ctx context.Context, id string) error {
	now := c.db.clock().UTC()
	_, err := c.changeClient(ctx, id, func(tx *bolt.Tx, cl *CustomsClient) error {
		if !cl.Revoked.IsZero() {
			return errNoChange
		}
		if err := unbindCerts(tx, id, cl.certBindings()...); err != nil {
			return err
		}
		cl.Revoked = now
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke customs client %s: %w", id, err)
	}
	return nil
}

// latestInSeq is the sequence of the last inbound message about the
// certificate (0 when none).
func latestInSeq(tx *bolt.Tx, country, number string) uint64 {
	return latestInSeqCursor(tx.Bucket([]byte(bktInCert)).Cursor(), country, number)
}

// latestInSeqCursor is latestInSeq through a cursor on the in_cert bucket.
func latestInSeqCursor(c *bolt.Cursor, country, number string) uint64 {
	if c == nil {
		return 0
	}
	var buf [2*maxIDLen + 3]byte // prefix(country, number) and 0xff, on the stack
	end := append(append(append(append(append(buf[:0], country...), 0), number...), 0), 0xff)
	p := end[:len(end)-1]
	// Seek just past the prefix range and step back.
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, p) || len(k) != len(p)+8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(p):])
}

// PutView stores the check view of a certificate (opaque bytes made by
// gateway/customs), replacing any older one. basedOn is the inbox sequence
// of the message the view was built from; 0 means the latest message about
// the certificate at the time of writing (the receive pipeline's eager
// hook), and views built from a verification-query answer use
// ViewFromQuery.
func (c *Customs) PutView(ctx context.Context, country, number string, basedOn uint64, view []byte, chain ...[]byte) error {
	if err := checkID("country", country); err != nil {
		return fmt.Errorf("put check view: %w", err)
	}
	if err := checkID("certificate number", number); err != nil {
		return fmt.Errorf("put check view: %w", err)
	}
	err := c.db.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketRW(tx, bktCuView)
		if err != nil {
			return err
		}
		seq := basedOn
		if seq == 0 {
			seq = latestInSeq(tx, country, number)
		}
		v, err := viewValue(tx, country, number, seq, view)
		if err != nil {
			return err
		}
		if err := putChains(tx, chain); err != nil {
			return err
		}
		return putView(tx, b, key([]byte(country), []byte(number)), v)
	})
	if err != nil {
		return fmt.Errorf("put check view of %s/%s: %w", country, number, err)
	}
	return nil
}

// putChains stores signer chains that views refer to by their SHA-256,
// once each, as content: a chain already stored (the usual case: one
// chain signs many certificates) costs a hash and a lookup, and is not
// compressed again.
func putChains(tx *bolt.Tx, chains [][]byte) error {
	for _, ch := range chains {
		if len(ch) == 0 {
			continue
		}
		h := hashHex(ch)
		if tx.Bucket([]byte(bktBlobs)).Get([]byte(h)) != nil {
			continue
		}
		if _, err := putBlob(tx, h, encodeBlob(ch)); err != nil {
			return err
		}
	}
	return nil
}

// Chain returns the signer chain whose hex SHA-256 a check view refers to
// (stored by PutView or Inbox.Accept with the view), or ErrNotFound.
func (c *Customs) Chain(_ context.Context, sha256Hex string) ([]byte, error) {
	var b []byte
	err := c.db.view(func(tx *bolt.Tx) error {
		var err error
		b, err = getBlob(tx, sha256Hex)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("signer chain %s: %w", sha256Hex, err)
	}
	return b, nil
}

// ViewFromQuery is the basedOn value of a view built from a signed
// verification-query answer instead of a stored message. Such a view is
// stale as soon as any message about the certificate arrives.
const ViewFromQuery = ^uint64(0)

// Used is the utilised quantity of one goods item.
type Used struct {
	Seq  int
	Used int64
}

// Snapshot is what a customs check reads, in one read transaction.
type Snapshot struct {
	// View is the stored check view (nil when none); valid only until the
	// next Snapshot call with the same value.
	View []byte
	// Stale is true when a message about the certificate arrived after the
	// view was built: rebuild it.
	Stale bool
	// LatestSeq is the inbox sequence of the last message about the
	// certificate (0: none).
	LatestSeq uint64
	// HasStatus is true when the inbox holds a status record for Version;
	// Status and ReplacedBy are then set.
	HasStatus  bool
	Status     CertState
	ReplacedBy string
	// Used lists the utilised quantities recorded per goods item.
	Used []Used

	head viewHead // the check head read, its arrays reused
}

// Reset empties s for reuse, keeping its buffers.
func (s *Snapshot) Reset() {
	s.View, s.Stale, s.LatestSeq, s.HasStatus, s.Status, s.ReplacedBy = s.View[:0], false, 0, false, "", ""
	s.Used = s.Used[:0]
}

// statusOnly decodes the fields of a CertStatus a check needs.
type statusOnly struct {
	Status     CertState `json:"status"`
	ReplacedBy string    `json:"replacedBy"`
}

// Snapshot reads, in one read-only transaction, the check view of
// certificate (country, number), the status record of the view's version
// (versionOf extracts it from the view bytes), and the utilised quantity of
// every goods item. It reports whether a view was found (without one, only
// LatestSeq is filled). dst is reset and
// reused; the view bytes are copied into dst.View's buffer.
func (c *Customs) Snapshot(country, number string, versionOf func(view []byte) int, dst *Snapshot) (bool, error) {
	dst.Reset()
	var kbuf [2*maxIDLen + 8]byte
	k := append(append(append(kbuf[:0], country...), 0), number...)
	if c.db.snapshotIndexed(k, dst) {
		dst.fromHead(versionOf)
		return true, nil
	}
	found := false
	err := c.db.viewHot(func(t *readTx) error {
		v := t.get(hotCuView, k)
		if v == nil {
			dst.LatestSeq = latestInSeqCursor(t.cursor(hotInCert), country, number)
			return nil
		}
		view, headed, err := parseViewValue(v, &dst.head)
		if err != nil {
			// Unreadable: as if there were none, so that the caller
			// builds it again from the inbox (PutView replaces it);
			// DB.Check names it.
			c.db.log.Warn("store: a customs check view is unreadable; it is read as missing", "certificate", country+"/"+number, "err", err)
			dst.LatestSeq = latestInSeqCursor(t.cursor(hotInCert), country, number)
			return nil
		}
		found = true
		dst.View = append(dst.View, view...)
		if !headed {
			return legacySnapshot(t, k, versionOf, dst)
		}
		// Everything is in the head: one seek.
		dst.fromHead(versionOf)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("check snapshot of %s/%s: %w", country, number, err)
	}
	return found, nil
}

// fromHead fills s from the check head just parsed into s.head (s.View
// holds the view).
func (s *Snapshot) fromHead(versionOf func(view []byte) int) {
	s.LatestSeq, s.Stale = s.head.latest, staleView(s.head.basedOn, s.head.latest)
	if versionOf != nil {
		if st, ok := s.head.status(versionOf(s.View)); ok {
			s.HasStatus, s.Status, s.ReplacedBy = true, st.status, st.replacedBy
		}
	}
	s.Used = append(s.Used, s.head.used...)
}

// legacySnapshot fills dst for a view stored without a check head (k is its
// key, dst.View its bytes) from the inbox index, the status records and
// the utilisation, as checks read every view before heads.
func legacySnapshot(t *readTx, k []byte, versionOf func(view []byte) int, dst *Snapshot) error {
	country, number, _ := strings.Cut(string(k), "\x00")
	dst.LatestSeq = latestInSeqCursor(t.cursor(hotInCert), country, number)
	dst.Stale = staleView(dst.head.basedOn, dst.LatestSeq)
	if versionOf != nil {
		sk := append(append(append(make([]byte, 0, len(k)+5), k...), 0), be32(uint32(versionOf(dst.View)))...)
		if sv := t.get(hotCertState, sk); sv != nil {
			var st statusOnly
			if err := json.Unmarshal(sv, &st); err != nil {
				return fmt.Errorf("decode status: %w", err)
			}
			dst.HasStatus, dst.Status, dst.ReplacedBy = true, st.Status, st.ReplacedBy
		}
	}
	if cur := t.cursor(hotCuUtil); cur != nil {
		p := append(append(make([]byte, 0, len(k)+1), k...), 0)
		for uk, uv := cur.Seek(p); uk != nil && bytes.HasPrefix(uk, p); uk, uv = cur.Next() {
			if len(uk) == len(p)+4 && len(uv) == 8 {
				dst.Used = append(dst.Used, Used{Seq: int(binary.BigEndian.Uint32(uk[len(p):])), Used: int64(binary.BigEndian.Uint64(uv))})
			}
		}
	}
	return nil
}

// DecisionItem is the decision on one goods item.
type DecisionItem struct {
	Seq             int    `json:"sequenceNumber"`
	PreferenceGiven bool   `json:"preferenceGiven"`
	Reason          string `json:"reason,omitempty"`
	// Use is the utilised quantity in the item's base unit, in the fixed
	// point the caller chose (gateway/customs: 10⁻⁹ base units); Limit is
	// the item's total on the certificate in the same scale. Use may be 0.
	Use   int64 `json:"use"`
	Limit int64 `json:"limit"`
	// Value and Unit are the quantity as declared, for people.
	Value string `json:"value,omitempty"`
	Unit  string `json:"unit,omitempty"`
}

// Decision is a customs decision on one declaration that claims
// preference under a certificate.
type Decision struct {
	Country        string         `json:"country"`
	Number         string         `json:"number"`
	Version        int            `json:"version"`
	DeclarationRef string         `json:"declarationRef"`
	Items          []DecisionItem `json:"items"`
	// ClientID is the customs client that recorded it.
	ClientID string    `json:"clientId,omitempty"`
	Decided  time.Time `json:"decided"`
	// MessageID is the outbound message that carries it to the issuer.
	MessageID string `json:"messageId,omitempty"`
	// Fingerprint identifies the decision's content, for idempotent
	// repeats (the caller computes it).
	Fingerprint string `json:"fingerprint"`
	// Remaining is filled on return: what remains per item after it.
	Remaining map[int]int64 `json:"remaining,omitempty"`
}

// ShortItem is one goods item whose remaining quantity is less than a
// decision asks for.
type ShortItem struct {
	Seq       int
	Requested int64
	Remaining int64
}

// QuantityError is returned by Decide when a decision asks for more than
// remains of some goods items. Nothing is recorded.
type QuantityError struct{ Items []ShortItem }

func (e *QuantityError) Error() string {
	parts := make([]string, len(e.Items))
	for i, it := range e.Items {
		parts[i] = fmt.Sprintf("item %d: %d requested, %d remaining", it.Seq, it.Requested, it.Remaining)
	}
	return "utilised quantity exceeds what remains: " + strings.Join(parts, "; ")
}

// ErrDuplicate wraps the stored decision when Decide is called again for the
// same declaration with the same content: nothing new is recorded.
var ErrDuplicate = errors.New("decision already recorded")

// checkDecide refuses the decisions Customs.Decide refuses before looking
// at its message, and stamps d.Decided (now, when zero) in UTC.
func checkDecide(d *Decision, now func() time.Time) error {
	for _, f := range []struct{ n, v string }{{"country", d.Country}, {"certificate number", d.Number}, {"declaration reference", d.DeclarationRef}} {
		if err := checkID(f.n, f.v); err != nil {
			return fmt.Errorf("decide: %w", err)
		}
	}
	if d.Decided.IsZero() {
		d.Decided = now()
	}
	d.Decided = d.Decided.UTC()
	return nil
}

// decided is what Decide returns once its transaction is over (err), with
// res the decision stored or found, shortItems the items that lack the
// quantity and dup whether the declaration already had a decision.
func decided(d, res *Decision, err error, shortItems []ShortItem, dup bool) (*Decision, error) {
	if err != nil {
		if res != nil && errors.Is(err, ErrConflict) {
			return res, fmt.Errorf("decide %s/%s %s: %w", d.Country, d.Number, d.DeclarationRef, err)
		}
		return nil, fmt.Errorf("decide %s/%s %s: %w", d.Country, d.Number, d.DeclarationRef, err)
	}
	if len(shortItems) > 0 {
		return nil, &QuantityError{Items: shortItems}
	}
	if dup {
		return res, fmt.Errorf("decide %s/%s %s: %w", d.Country, d.Number, d.DeclarationRef, ErrDuplicate)
	}
	return res, nil
}

// allot adds the uses of items to what is used of each so far (used, the
// stored total of an item): it returns the items to write in the order
// they are first named, their new totals, what remains of each after the
// decision, and the items whose Use is negative or exceeds what remains (a
// decision is recorded only when there are none). An item named twice
// counts both uses.
func allot(items []DecisionItem, used func(seq int) int64) (order []int, totals, rem map[int]int64, short []ShortItem) {
	totals, rem = map[int]int64{}, map[int]int64{}
	for _, it := range items {
		u, again := totals[it.Seq]
		if !again {
			u = used(it.Seq)
		}
		if it.Use < 0 || u+it.Use > it.Limit {
			short = append(short, ShortItem{Seq: it.Seq, Requested: it.Use, Remaining: max(it.Limit-u, 0)})
			continue
		}
		if !again {
			order = append(order, it.Seq)
		}
		totals[it.Seq] = u + it.Use
		rem[it.Seq] = it.Limit - u - it.Use
	}
	return order, totals, rem, short
}

// Decide records a decision atomically: in one transaction it checks that
// every item's utilisation plus Use stays within Limit (else
// *QuantityError, nothing written), adds the uses, stores the decision
// under (country, number, declarationRef) and enqueues msg (when not nil)
// in the outbox, so the decision is recorded and sent, or neither. The
// same declaration again with the same Fingerprint returns the stored
// decision and an error wrapping ErrDuplicate; with another fingerprint,
// ErrConflict.
func (c *Customs) Decide(ctx context.Context, d Decision, msg *OutMessage) (*Decision, error) {
	if err := checkDecide(&d, c.db.clock); err != nil {
		return nil, err
	}
	if msg != nil {
		for _, f := range []struct{ n, v string }{{"message id", msg.ID}, {"partner", msg.Partner}, {"certificate number", msg.CertNumber}, {"kind", msg.Kind}} {
			if err := checkID(f.n, f.v); err != nil {
				return nil, fmt.Errorf("decide: %w", err)
			}
		}
		if len(msg.Content) == 0 {
			return nil, fmt.Errorf("decide: %w: message content is empty", ErrInvalid)
		}
		d.MessageID = msg.ID
	}
	var hash string
	var stored []byte
	if msg != nil {
		hash, stored = hashHex(msg.Content), encodeBlob(msg.Content)
	}
	var res *Decision
	var dup bool
	var shortItems []ShortItem
	err := c.db.update(ctx, func(tx *bolt.Tx) error {
		res, dup, shortItems = nil, false, nil
		db, err := bucketRW(tx, bktCuDecl)
		if err != nil {
			return err
		}
		ub, err := bucketRW(tx, bktCuUtil)
		if err != nil {
			return err
		}
		ck := key([]byte(d.Country), []byte(d.Number))
		dk := key([]byte(d.Country), []byte(d.Number), []byte(d.DeclarationRef))
		if old := db.Get(dk); old != nil {
			var od Decision
			if err := json.Unmarshal(old, &od); err != nil {
				return err
			}
			res, dup = &od, true
			if od.Fingerprint != d.Fingerprint {
				return fmt.Errorf("%w: declaration %s already has another decision on %s/%s", ErrConflict, d.DeclarationRef, d.Country, d.Number)
			}
			return nil
		}
		ukey := func(seq int) []byte { return append(append(bytes.Clone(ck), 0), be32(uint32(seq))...) }
		order, totals, rem, sh := allot(d.Items, func(seq int) int64 {
			if v := ub.Get(ukey(seq)); len(v) == 8 {
				return int64(binary.BigEndian.Uint64(v))
			}
			return 0
		})
		if len(sh) > 0 {
			shortItems = sh
			return nil
		}
		for _, seq := range order {
			if err := ub.Put(ukey(seq), be64(uint64(totals[seq]))); err != nil {
				return err
			}
		}
		if err := refreshHead(tx, d.Country, d.Number); err != nil {
			return err
		}
		d.Remaining = rem
		v, err := json.Marshal(&d)
		if err != nil {
			return err
		}
		if err := db.Put(dk, v); err != nil {
			return err
		}
		if msg != nil {
			if _, err := enqueueTx(tx, c.db.clock(), msg, hash, stored); err != nil {
				return err
			}
		}
		res = &d
		return nil
	})
	return decided(&d, res, err, shortItems, dup)
}

// Decisions lists the decisions recorded for a certificate, by declaration
// reference.
func (c *Customs) Decisions(ctx context.Context, country, number string) ([]Decision, error) {
	var res []Decision
	err := c.db.view(func(tx *bolt.Tx) error {
		b := bucketOf(tx, bktCuDecl)
		if b == nil {
			return nil
		}
		var err error
		scanPrefix(b, prefix([]byte(country), []byte(number)), func(_, v []byte) bool {
			var d Decision
			if err = json.Unmarshal(v, &d); err != nil {
				return false
			}
			res = append(res, d)
			return true
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("decisions on %s/%s: %w", country, number, err)
	}
	return res, nil
}

// PutQueryAnswer caches a partner's signed verification-query answer.
func (c *Customs) PutQueryAnswer(ctx context.Context, country, number string, fetched time.Time, answer []byte) error {
	if err := checkID("country", country); err != nil {
		return fmt.Errorf("cache query answer: %w", err)
	}
	if err := checkID("certificate number", number); err != nil {
		return fmt.Errorf("cache query answer: %w", err)
	}
	v := make([]byte, 8+len(answer))
	copy(v, timeKey(fetched))
	copy(v[8:], answer)
	err := c.db.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketRW(tx, bktCuQuery)
		if err != nil {
			return err
		}
		return b.Put(key([]byte(country), []byte(number)), v)
	})
	if err != nil {
		return fmt.Errorf("cache query answer for %s/%s: %w", country, number, err)
	}
	return nil
}

// QueryAnswer returns a cached answer and when it was fetched, or
// ErrNotFound.
func (c *Customs) QueryAnswer(ctx context.Context, country, number string) ([]byte, time.Time, error) {
	var ans []byte
	var at time.Time
	err := c.db.view(func(tx *bolt.Tx) error {
		b := bucketOf(tx, bktCuQuery)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(key([]byte(country), []byte(number)))
		if len(v) < 8 {
			return ErrNotFound
		}
		at = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		ans = bytes.Clone(v[8:])
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cached query answer for %s/%s: %w", country, number, err)
	}
	return ans, at, nil
}

// SeedViews writes views in bulk (load tests, imports): fn is called with
// put until it returns false; put stores one view built from no inbox
// message (with the check head of what the inbox holds). The views are committed in
// transactions of batch views each (one fsync per batch).
func (c *Customs) SeedViews(batch int, fn func(put func(country, number string, view []byte, chain ...[]byte) error) bool) error {
	if batch <= 0 {
		batch = 10000
	}
	more := true
	for more {
		err := c.db.update(context.Background(), func(tx *bolt.Tx) error {
			b, err := bucketRW(tx, bktCuView)
			if err != nil {
				return err
			}
			b.FillPercent = 0.9 // bulk loads usually come in key order
			n := 0
			put := func(country, number string, view []byte, chain ...[]byte) error {
				if err := putChains(tx, chain); err != nil {
					return err
				}
				v, err := viewValue(tx, country, number, 0, view)
				if err != nil {
					return err
				}
				n++
				return putView(tx, b, key([]byte(country), []byte(number)), v)
			}
			for n < batch && more {
				more = fn(put)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed check views: %w", err)
		}
	}
	return nil
}

// checkCustomsClientIndex checks the certificate bindings of customs
// clients (DB.Check): every entry of bktCuClientCert names an active
// client bound to that certificate (current or next), and every binding
// of an active client has its entry.
func checkCustomsClientIndex(tx *bolt.Tx) error {
	bound := 0
	if b := bucketOf(tx, bktCuClient); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			var cl CustomsClient
			if err := json.Unmarshal(v, &cl); err != nil {
				return fmt.Errorf("customs client %s: %w", k, err)
			}
			if cl.NextCertSHA256 != "" && (cl.CertSHA256 == "" || cl.NextCertSHA256 == cl.CertSHA256) {
				return fmt.Errorf("customs client %s: its next certificate %s renews no other current certificate", cl.ID, cl.NextCertSHA256)
			}
			for _, fp := range cl.certBindings() {
				ib := bucketOf(tx, bktCuClientCert)
				if ib == nil || string(ib.Get([]byte(fp))) != cl.ID {
					return fmt.Errorf("customs client %s: its certificate %s is not indexed in %s", cl.ID, fp, bktCuClientCert)
				}
				bound++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if ib := bucketOf(tx, bktCuClientCert); ib != nil && ib.Stats().KeyN != bound {
		return fmt.Errorf("index %s: %d certificate bindings for %d bindings of active clients", bktCuClientCert, ib.Stats().KeyN, bound)
	}
	return nil
}
