package cluster

import (
	"net"
	"net/http"
	"testing"
	"time"

	"dealflow/internal/dev/certs"
)

// issuer signs the JWTs the cluster accepts as API keys and serves its
// public key as a JWK set on loopback, where the server's default token key
// provider reads it (global.authorization.jwtKeyProvider).
type issuer struct {
	*certs.JWTIssuer
	kid string
	srv *http.Server
	url string
}

func newIssuer(kid string) (*issuer, error) {
	j, err := certs.NewJWTIssuer(kid)
	if err != nil {
		return nil, err
	}
	return &issuer{JWTIssuer: j, kid: kid}, nil
}

// serve starts the JWKS endpoint; close stops it.
func (is *issuer) serve() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	jwks := is.JWKS()
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	is.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	is.url = "http://" + ln.Addr().String() + "/jwks.json"
	go func() { _ = is.srv.Serve(ln) }()
	return nil
}

func (is *issuer) close() {
	if is.srv != nil {
		_ = is.srv.Close()
	}
}

// token signs a token for subject with Temporal's permissions claim
// ("namespace:role") valid for ttl (negative: already expired).
func (is *issuer) token(tb testing.TB, subject string, permissions []string, ttl time.Duration) string {
	tok, err := is.Token(subject, permissions, ttl)
	if err != nil {
		if tb == nil {
			panic(err)
		}
		tb.Fatal(err)
	}
	return tok
}
