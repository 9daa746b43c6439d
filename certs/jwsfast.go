package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// JWSKey signs compact JWS like SignJWS, with the protected header
// ({"alg":...,"x5c":[...]}) encoded once instead of for every token. The
// tokens are the same kind SignJWS makes and VerifyJWS checks. It is safe
// for concurrent use.
type JWSKey struct {
	key    crypto.Signer
	hash   crypto.Hash
	curve  *ecdsa.PublicKey // nil for RSA
	header []byte           // base64url of the protected header, then '.'
}

// NewJWSKey prepares a JWS signer for key with chain in x5c (the key's
// certificate first).
func NewJWSKey(key crypto.Signer, chain []*x509.Certificate) (*JWSKey, error) {
	alg, err := jwsAlgFor(key.Public())
	if err != nil {
		return nil, fmt.Errorf("sign JWS: %w", err)
	}
	if len(chain) == 0 || !publicKeysEqual(key.Public(), chain[0].PublicKey) {
		return nil, errors.New("sign JWS: the first certificate of the chain must be the key's certificate")
	}
	h := struct {
		Alg string   `json:"alg"`
		X5c []string `json:"x5c"`
	}{Alg: alg.String()}
	for _, c := range chain {
		h.X5c = append(h.X5c, base64.StdEncoding.EncodeToString(c.Raw))
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	k := &JWSKey{key: key, hash: jwsHash(alg.String())}
	if pub, ok := key.Public().(*ecdsa.PublicKey); ok {
		k.curve = pub
	}
	k.header = append(base64.RawURLEncoding.AppendEncode(nil, hj), '.')
	return k, nil
}

func jwsHash(alg string) crypto.Hash {
	if alg == "ES384" {
		return crypto.SHA384
	}
	return crypto.SHA256
}

// Sign returns the compact JWS of payload.
func (k *JWSKey) Sign(payload []byte) ([]byte, error) {
	enc := base64.RawURLEncoding
	out := make([]byte, 0, len(k.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	out = append(out, k.header...)
	out = enc.AppendEncode(out, payload)
	h := k.hash.New()
	h.Write(out)
	sig, err := k.key.Sign(rand.Reader, h.Sum(nil), k.hash)
	if err != nil {
		return nil, fmt.Errorf("sign JWS: %w", err)
	}
	if k.curve != nil {
		if sig, err = ECDSADERToRaw(sig, k.curve.Curve); err != nil {
			return nil, fmt.Errorf("sign JWS: %w", err)
		}
	}
	out = append(out, '.')
	return enc.AppendEncode(out, sig), nil
}

// VerifyJWSSignature checks only the signature of a compact JWS with pub,
// by the algorithm pub implies (ES256 for P-256, ES384 for P-384, RS256
// for RSA of 2048 bits or more), and returns the decoded payload. It does
// not look at the header: the caller has checked it (its alg among it) and
// trusts pub for the token's signer, as gateway.JWSVerifier does for a
// chain it verified with VerifyJWS before.
func VerifyJWSSignature(token []byte, pub crypto.PublicKey) ([]byte, error) {
	d1 := bytes.IndexByte(token, '.')
	if d1 < 0 {
		return nil, errors.New("verify JWS: not a compact JWS")
	}
	d2 := bytes.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return nil, errors.New("verify JWS: not a compact JWS")
	}
	d2 += d1 + 1
	if bytes.IndexByte(token[d2+1:], '.') >= 0 {
		return nil, errors.New("verify JWS: not a compact JWS")
	}
	enc := base64.RawURLEncoding.Strict()
	sig, err := enc.DecodeString(string(token[d2+1:]))
	if err != nil {
		return nil, fmt.Errorf("verify JWS: signature encoding: %w", err)
	}
	payload, err := enc.DecodeString(string(token[d1+1 : d2]))
	if err != nil {
		return nil, fmt.Errorf("verify JWS: payload encoding: %w", err)
	}
	alg, err := jwsAlgFor(pub)
	if err != nil {
		return nil, fmt.Errorf("verify JWS: %w", err)
	}
	hash := jwsHash(alg.String())
	h := hash.New()
	h.Write(token[:d2])
	sum := h.Sum(nil)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return nil, errors.New("verify JWS: signature: wrong ECDSA signature length")
		}
		if !ecdsa.Verify(k, sum, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
			return nil, errors.New("verify JWS: signature: does not verify")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, hash, sum, sig); err != nil {
			return nil, errors.New("verify JWS: signature: does not verify")
		}
	}
	return payload, nil
}
