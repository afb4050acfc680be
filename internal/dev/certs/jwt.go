package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// JWTIssuer signs JSON Web Tokens with an ECDSA P-256 key (ES256) and
// publishes the key as a JWK set: what a Temporal server with the default
// JWT claim mapper verifies (global.authorization.jwtKeyProvider
// keySourceURIs pointing at the set), and what the SDK sends as an API key.
type JWTIssuer struct {
	kid string
	key *ecdsa.PrivateKey
}

// NewJWTIssuer makes an issuer with a new key named kid. Two issuers with
// the same kid sign tokens that only their own set verifies.
func NewJWTIssuer(kid string) (*JWTIssuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return &JWTIssuer{kid: kid, key: key}, nil
}

// JWKS returns the public key as a JWK set (JSON), to serve at a key
// source URI (http:// or file://).
func (j *JWTIssuer) JWKS() []byte {
	pub, err := j.key.PublicKey.ECDH() // validated point; Bytes is 0x04 || X || Y
	if err != nil {
		panic(err) // a P-256 key made by NewJWTIssuer always converts
	}
	b := pub.Bytes()
	set := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": j.kid,
		"x": b64(b[1:33]), "y": b64(b[33:65]),
	}}}
	out, _ := json.Marshal(set)
	return out
}

// Token signs a token for subject with Temporal's "permissions" claim
// ("NAMESPACE:ROLE", role read, write, worker or admin; the namespace
// temporal-system grants it on every namespace), valid for ttl from now (a
// negative ttl makes an expired token).
func (j *JWTIssuer) Token(subject string, permissions []string, ttl time.Duration) (string, error) {
	now := time.Now()
	return j.Sign(map[string]any{
		"sub":         subject,
		"permissions": permissions,
		"iat":         now.Add(min(ttl, 0) - time.Minute).Unix(),
		"exp":         now.Add(ttl).Unix(),
	})
}

// Sign signs any claims.
func (j *JWTIssuer) Sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": j.kid})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("certs: claims: %w", err)
	}
	signed := b64(header) + "." + b64(body)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, j.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("certs: sign: %w", err)
	}
	// JWS ES256: R and S as 32-byte big-endian integers, concatenated.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
