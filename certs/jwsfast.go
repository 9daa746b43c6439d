package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
