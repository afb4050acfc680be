package codec

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// ServerOptions configure NewServer.
type ServerOptions struct {
	// Keyring encodes and decodes. Required.
	Keyring *Keyring
	// Token is the bearer token every request needs. Required.
	Token string
	// Origins are the browser origins (scheme://host[:port], such as the
	// Temporal Web UI's http://localhost:8233) allowed to call the server.
	// A request with another Origin is refused; one without (the CLI, curl)
	// is served.
	Origins []string
	// MaxBody bounds a request's body; default 16 MiB.
	MaxBody int64
	// Logger receives refusals and failures; never a payload or the token.
	Logger *slog.Logger
}

// TokenPathPrefix is where the server also accepts its token as a path
// segment, /t/<token>/decode: the Temporal Web UI sends an Authorization
// header only with the access token of its own OIDC login (and only over
// HTTPS), so a UI without one is given an endpoint that carries the token,
// http://host:port/t/<token>.
const TokenPathPrefix = "/t/"

// NewServer returns the codec server: the Temporal codec-server protocol
// (POST /encode and POST /decode, a JSON body {"payloads": [...]} in and
// out) for the Web UI and the CLI (`temporal workflow show --codec-endpoint
// URL --codec-auth "Bearer TOKEN"`), behind a bearer token, with CORS for
// the given origins (preflight included; the UI sends Content-Type and
// X-Namespace).
func NewServer(o ServerOptions) (http.Handler, error) {
	if o.Keyring == nil {
		return nil, errors.New("codec server: no keyring")
	}
	if o.Token == "" {
		return nil, errors.New("codec server: no token")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for _, origin := range o.Origins {
		if err := CheckOrigin(origin); err != nil {
			return nil, fmt.Errorf("codec server: %w", err)
		}
	}
	return &server{o: o}, nil
}

// CheckOrigin accepts a browser origin: http(s)://host[:port], nothing else.
func CheckOrigin(origin string) error {
	rest, ok := strings.CutPrefix(origin, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(origin, "https://")
	}
	if !ok || rest == "" || strings.ContainsAny(rest, "/?#@ ") {
		return fmt.Errorf("origin %q: want scheme://host[:port], such as http://localhost:8233", origin)
	}
	return nil
}

type server struct{ o ServerOptions }

// The headers a browser may send: the UI sends Content-Type and
// X-Namespace, and Authorization when it passes its access token.
const allowHeaders = "Authorization, Content-Type, X-Namespace"

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin != "" {
		if !slices.Contains(s.o.Origins, origin) {
			s.o.Logger.Warn("codec server: origin not allowed", "origin", origin, "remote", r.RemoteAddr)
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		// The UI's "include cross-origin credentials" setting needs it; the
		// server itself trusts only the token, never a cookie.
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		s.preflight(w, r, origin)
		return
	}
	op, token, ok := route(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed: POST", http.StatusMethodNotAllowed)
		return
	}
	if token == "" {
		token = bearer(r.Header.Get("Authorization"))
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.o.Token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dealflow codec"`)
		http.Error(w, "missing or wrong token", http.StatusUnauthorized)
		return
	}
	s.convert(w, r, op)
}

// route splits /encode, /decode, /t/<token>/encode and /t/<token>/decode.
func route(path string) (op, token string, ok bool) {
	if rest, found := strings.CutPrefix(path, TokenPathPrefix); found {
		token, path, found = strings.Cut(rest, "/")
		if !found || token == "" {
			return "", "", false
		}
		path = "/" + path
	}
	switch path {
	case "/encode", "/decode":
		return path[1:], token, true
	}
	return "", "", false
}

func bearer(h string) string {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

func (s *server) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	if origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		http.Error(w, "not a CORS preflight", http.StatusBadRequest)
		return
	}
	if m := r.Header.Get("Access-Control-Request-Method"); m != http.MethodPost {
		http.Error(w, "method not allowed: POST", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", allowHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) convert(w http.ResponseWriter, r *http.Request, op string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, fmt.Sprintf("body larger than %d bytes", s.o.MaxBody), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var in commonpb.Payloads
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &in); err != nil {
		http.Error(w, `want a JSON object {"payloads": [...]}: `+err.Error(), http.StatusBadRequest)
		return
	}
	var out []*commonpb.Payload
	if op == "encode" {
		out, err = s.o.Keyring.Encode(in.Payloads)
	} else {
		out, err = s.o.Keyring.Decode(in.Payloads)
	}
	if err != nil {
		s.o.Logger.Warn("codec server: "+op+" failed", "error", err, "namespace", r.Header.Get("X-Namespace"), "remote", r.RemoteAddr)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
	if len(out) == 0 {
		b = []byte(`{"payloads":[]}`) // protojson would leave the field out
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
