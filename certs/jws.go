package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// jwsAlgFor picks the JWS algorithm for a public key: ES256 (P-256),
// ES384 (P-384) or RS256 (RSA, 2048 bits or more).
func jwsAlgFor(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256":
			return jwa.ES256(), nil
		case "P-384":
			return jwa.ES384(), nil
		}
		return jwa.SignatureAlgorithm{}, fmt.Errorf("ECDSA curve %s not allowed for JWS (P-256, P-384)", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return jwa.SignatureAlgorithm{}, fmt.Errorf("RSA key of %d bits; 2048 or more required", k.N.BitLen())
		}
		return jwa.RS256(), nil
	}
	return jwa.SignatureAlgorithm{}, fmt.Errorf("key type %T not allowed for JWS", pub)
}

// SignJWS signs payload as a compact JWS (the node's signed receipts).
// The algorithm follows the key (ES256, ES384 or RS256); the x5c header
// carries chain (signer first), so that the receiver can check the signer
// against its trust anchors. key may be an HSM-backed crypto.Signer. It is
// NewJWSKey(key, chain).Sign(payload): callers that sign many tokens with
// one key keep the JWSKey.
func SignJWS(payload []byte, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	k, err := NewJWSKey(key, chain)
	if err != nil {
		return nil, err
	}
	return k.Sign(payload)
}

// VerifyJWS verifies a compact JWS made by SignJWS: the signer certificate
// from x5c must chain to an anchor of trust at time at (intermediates from
// x5c), carry digitalSignature, not be revoked by a current CRL of trust,
// and the header algorithm must be the one its key implies (no "none", no
// HMAC, no embedded jwk). It returns the payload and the signer. It builds
// the chain anew for every token; a JWSVerifier remembers accepted chains.
func VerifyJWS(token []byte, trust TrustStore, at time.Time) ([]byte, *x509.Certificate, error) {
	if trust == nil {
		return nil, nil, errors.New("verify JWS: no trust store")
	}
	return verifyJWS(&Verifier{Trust: trust, At: at}, token, at)
}

// JWSVerifier verifies compact JWS exactly as VerifyJWS does (jwx parses
// the token and checks its signature; chain, key usage and revocation
// against the trust store are checked for every token) and remembers, per
// trust store, the x5c chains it accepted, so that a partner's next receipt
// needs no chain building (see Verifier: the cache holds only what does not
// depend on time beyond the chain's validity; revocation is checked every
// time against the CRLs the trust store holds then). The zero value is
// ready to use; it is safe for concurrent use and must not be copied after
// first use.
type JWSVerifier struct {
	mu sync.Mutex
	by map[TrustStore]*Verifier
}

// jwsVerifierMax bounds the trust stores a JWSVerifier remembers chains
// for (a handful per partner; replaced ones are dropped when it is hit).
const jwsVerifierMax = 256

// Verify verifies token against trust at time at and returns the payload
// and the signer certificate.
func (jv *JWSVerifier) Verify(token []byte, trust TrustStore, at time.Time) ([]byte, *x509.Certificate, error) {
	if trust == nil {
		return nil, nil, errors.New("verify JWS: no trust store")
	}
	jv.mu.Lock()
	v := jv.by[trust]
	if v == nil {
		if jv.by == nil || len(jv.by) >= jwsVerifierMax {
			jv.by = map[TrustStore]*Verifier{}
		}
		v = &Verifier{Trust: trust}
		jv.by[trust] = v
	}
	jv.mu.Unlock()
	return verifyJWS(v, token, at)
}

// verifyJWS is the one JWS verification path: jwx parses the compact token
// (one signature, no jwk header, x5c required) and verifies its signature
// with the x5c leaf's key by the algorithm that key implies; v checks the
// chain and revocation.
func verifyJWS(v *Verifier, token []byte, at time.Time) ([]byte, *x509.Certificate, error) {
	if strings.Count(string(token), ".") != 2 {
		return nil, nil, errors.New("verify JWS: not a compact JWS")
	}
	for _, c := range token {
		// base64url without padding (RFC 7515 section 2): one encoding per token.
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, nil, fmt.Errorf("verify JWS: character %q is not base64url without padding", c)
		}
	}
	msg, err := jws.Parse(token)
	if err != nil {
		return nil, nil, fmt.Errorf("verify JWS: %w", err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, nil, errors.New("verify JWS: exactly one signature required")
	}
	h := sigs[0].ProtectedHeaders()
	if _, ok := h.JWK(); ok {
		return nil, nil, errors.New("verify JWS: an embedded jwk header is not accepted")
	}
	x5c, ok := h.X509CertChain()
	if !ok || x5c.Len() == 0 {
		return nil, nil, errors.New("verify JWS: no x5c header; the signer certificate is required")
	}
	var certs []*x509.Certificate
	for i := 0; i < x5c.Len(); i++ {
		b, _ := x5c.Get(i)
		der, err := base64.StdEncoding.DecodeString(string(b))
		if err != nil {
			der = b
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("verify JWS: x5c[%d]: %w", i, err)
		}
		certs = append(certs, c)
	}
	leaf := certs[0]
	alg, err := jwsAlgFor(leaf.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("verify JWS: %w", err)
	}
	if got, _ := h.Algorithm(); got.String() != alg.String() {
		return nil, nil, fmt.Errorf("verify JWS: header alg %s does not fit the signer key (%s)", got, alg)
	}
	payload, err := jws.Verify(token, jws.WithKey(alg, leaf.PublicKey))
	if err != nil {
		return nil, nil, fmt.Errorf("verify JWS: signature: %w", err)
	}
	chain, e := v.checkChain(leaf, certs[1:], []time.Time{at})
	if e.Status != StatusValid {
		return nil, nil, fmt.Errorf("verify JWS: %s: %s", e.Reason, e.Detail)
	}
	if r := v.checkRevocation(chain, at); r.Status == StatusInvalid {
		return nil, nil, fmt.Errorf("verify JWS: %s: %s", r.Reason, r.Detail)
	}
	return payload, leaf, nil
}

// TokenClaims are the claims of an OAuth2 client-credentials access token.
type TokenClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Scope     string
	IssuedAt  time.Time
	ExpiresAt time.Time
	ID        string
}

// TokenIssuer issues signed JWT access tokens.
type TokenIssuer struct {
	// Key signs (ES256/ES384/RS256 by key type).
	Key crypto.Signer
	// KeyID, if set, goes in the kid header.
	KeyID string
	// Issuer is the iss claim.
	Issuer string
	// TTL is the token lifetime (default 5 minutes).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Issue returns a signed JWT for subject (the client) with audience and
// a space-separated scope, and the claims it holds.
func (ti *TokenIssuer) Issue(subject string, audience []string, scope string) ([]byte, *TokenClaims, error) {
	alg, err := jwsAlgFor(ti.Key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("issue token: %w", err)
	}
	now := time.Now()
	if ti.Now != nil {
		now = ti.Now()
	}
	ttl := ti.TTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, nil, err
	}
	c := &TokenClaims{Issuer: ti.Issuer, Subject: subject, Audience: audience, Scope: scope,
		IssuedAt: now.Truncate(time.Second), ExpiresAt: now.Add(ttl).Truncate(time.Second), ID: hex.EncodeToString(id[:])}
	tok, err := jwt.NewBuilder().Issuer(c.Issuer).Subject(c.Subject).Audience(c.Audience).
		IssuedAt(c.IssuedAt).Expiration(c.ExpiresAt).JwtID(c.ID).Claim("scope", c.Scope).Build()
	if err != nil {
		return nil, nil, fmt.Errorf("issue token: %w", err)
	}
	var opts []jws.WithKeySuboption
	if ti.KeyID != "" {
		h := jws.NewHeaders()
		if err := h.Set(jws.KeyIDKey, ti.KeyID); err != nil {
			return nil, nil, err
		}
		opts = append(opts, jws.WithProtectedHeaders(h))
	}
	subopts := make([]jwt.Option, 0, len(opts))
	for _, o := range opts {
		subopts = append(subopts, o)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(alg, ti.Key, subopts...))
	if err != nil {
		return nil, nil, fmt.Errorf("issue token: %w", err)
	}
	return b, c, nil
}

// TokenVerifier verifies JWT access tokens issued by a TokenIssuer.
type TokenVerifier struct {
	// Key is the issuer's public key; the algorithm follows from it.
	Key crypto.PublicKey
	// Issuer and Audience, when set, must match iss and one aud.
	Issuer, Audience string
	// Skew is the clock skew tolerated on exp/iat/nbf.
	Skew time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verify checks the token's signature, expiry, issuer and audience and
// returns its claims.
func (tv *TokenVerifier) Verify(token []byte) (*TokenClaims, error) {
	alg, err := jwsAlgFor(tv.Key)
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	now := time.Now
	if tv.Now != nil {
		now = tv.Now
	}
	opts := []jwt.ParseOption{jwt.WithKey(alg, tv.Key), jwt.WithValidate(true), jwt.WithClock(jwt.ClockFunc(now)),
		jwt.WithAcceptableSkew(tv.Skew), jwt.WithRequiredClaim("exp"), jwt.WithRequiredClaim("jti")}
	if tv.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(tv.Issuer))
	}
	if tv.Audience != "" {
		opts = append(opts, jwt.WithAudience(tv.Audience))
	}
	tok, err := jwt.Parse(token, opts...)
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	c := &TokenClaims{}
	c.Issuer, _ = tok.Issuer()
	c.Subject, _ = tok.Subject()
	c.Audience, _ = tok.Audience()
	c.IssuedAt, _ = tok.IssuedAt()
	c.ExpiresAt, _ = tok.Expiration()
	c.ID, _ = tok.JwtID()
	_ = tok.Get("scope", &c.Scope)
	return c, nil
}
