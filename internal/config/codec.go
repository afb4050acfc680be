package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"dealflow/internal/codec"
)

// payloadKeys reads the payload encryption keys: DEALFLOW_CODEC_KEY (with
// its id DEALFLOW_CODEC_KEY_ID) encrypts and decrypts, the keys of
// DEALFLOW_CODEC_OLD_KEYS only decrypt. It returns nil when no key is
// configured: payloads are then stored in plain text. Errors name the
// variable and never quote a key.
func (r *Reader) payloadKeys() *codec.Keyring {
	id, key, old := r.raw(CodecKeyID), r.raw(CodecKey), r.raw(CodecOldKeys)
	failed := false
	fail := func(v Var, format string, args ...any) { r.fail(v, format, args...); failed = true }

	var current *codec.Key
	switch {
	case key != "" && id == "":
		fail(CodecKeyID, "must be set with %s: it names the key in every payload the key encrypts", CodecKey.Name)
	case key == "" && id != "":
		fail(CodecKey, "must be set with %s (or leave both unset: payloads are then stored in plain text)", CodecKeyID.Name)
	case key != "":
		if err := codec.CheckKeyID(id); err != nil {
			fail(CodecKeyID, "%v", err)
		}
		secret, err := decodeKey(key)
		if err != nil {
			fail(CodecKey, "%v", err)
		}
		current = &codec.Key{ID: id, Secret: secret}
	}

	var olds []codec.Key
	seen := map[string]bool{id: id != ""}
	for i, entry := range splitList(old) {
		kid, b64, found := strings.Cut(entry, ":")
		kid = strings.TrimSpace(kid)
		switch {
		case !found:
			fail(CodecOldKeys, "entry %d: want id:base64-key, e.g. 2026-06:… (entries separated by commas)", i+1)
			continue
		case codec.CheckKeyID(kid) != nil:
			fail(CodecOldKeys, "entry %d: %v", i+1, codec.CheckKeyID(kid))
			continue
		case kid == id:
			fail(CodecOldKeys, "key id %s is also %s: an old key needs an id of its own", kid, CodecKeyID.Name)
			continue
		case seen[kid]:
			fail(CodecOldKeys, "key id %s appears twice", kid)
			continue
		}
		seen[kid] = true
		secret, err := decodeKey(strings.TrimSpace(b64))
		if err != nil {
			fail(CodecOldKeys, "key %s %v", kid, err)
			continue
		}
		olds = append(olds, codec.Key{ID: kid, Secret: secret})
	}
	if failed || (current == nil && len(olds) == 0) {
		return nil
	}
	kr, err := codec.NewKeyring(current, olds...)
	if err != nil { // the checks above cover what NewKeyring refuses
		r.fail(CodecKey, "%v", err)
		return nil
	}
	return kr
}

// decodeKey decodes a base64 AES-256 key (standard or URL alphabet, padded
// or not). Its errors never quote the key.
func decodeKey(s string) ([]byte, error) {
	var b []byte
	err := errors.New("no encoding")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("is not base64 (make a key with `openssl rand -base64 32`)")
	}
	if len(b) != codec.KeySize {
		return nil, fmt.Errorf("is %d bytes once base64-decoded, want %d: an AES-256 key (make one with `openssl rand -base64 32`)", len(b), codec.KeySize)
	}
	return b, nil
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// setEncryption gives the client options the codec of keys, or leaves them
// as they are (plain payloads) when keys is nil.
func (t *Temporal) setEncryption(keys *codec.Keyring) {
	if keys == nil {
		return
	}
	t.Encryption = keys
	dc := codec.DataConverter(keys)
	t.Options.DataConverter = dc
	t.Options.FailureConverter = codec.FailureConverter(dc)
}

// CodecServer is where and for whom the API serves the codec server.
type CodecServer struct {
	// Addr is the listen address; "" disables the server.
	Addr string
	// Token is the bearer token it requires.
	Token string
	// Origins are the browser origins allowed to call it.
	Origins []string
}

// CodecServer reads the codec server's settings. keys are the payload keys
// (Temporal().Encryption), which it needs; uiURL is TEMPORAL_UI_URL, whose
// origin is allowed when DEALFLOW_CODEC_CORS_ORIGINS is empty.
func (r *Reader) CodecServer(keys *codec.Keyring, uiURL string) CodecServer {
	s := CodecServer{Addr: r.Addr(CodecAddr, false), Token: r.raw(CodecToken)}
	switch {
	case s.Token != "":
		if err := checkToken(s.Token); err != nil {
			// Never echo it: it is a secret.
			r.fail(CodecToken, "%v", err)
		}
	case s.Addr != "":
		r.fail(CodecToken, "must be set with %s: the codec server decrypts for whoever calls it (make one with `openssl rand -hex 24`)", CodecAddr.Name)
	}
	if s.Addr != "" && keys == nil && !r.set(CodecKey) && !r.set(CodecOldKeys) {
		r.fail(CodecAddr, "the codec server needs the keys: set %s and %s", CodecKeyID.Name, CodecKey.Name)
	}
	origins := r.raw(CodecOrigins)
	for _, o := range splitList(origins) {
		o = strings.TrimSuffix(o, "/")
		if err := codec.CheckOrigin(o); err != nil {
			r.fail(CodecOrigins, "%v", err)
			continue
		}
		s.Origins = append(s.Origins, o)
	}
	if origins == "" && uiURL != "" {
		if u, err := url.Parse(uiURL); err == nil && u.Host != "" {
			s.Origins = []string{u.Scheme + "://" + u.Host}
		}
	}
	return s
}

// set reports whether v is set to something other than blanks.
func (r *Reader) set(v Var) bool {
	s, ok := r.env(v.Name)
	return ok && strings.TrimSpace(s) != ""
}

// checkToken accepts 16 or more unreserved URL characters: the Web UI gets
// the token in its codec endpoint's path (codec.TokenPathPrefix).
func checkToken(s string) error {
	if len(s) < 16 {
		return fmt.Errorf("want at least 16 characters, got %d (make one with `openssl rand -hex 24`)", len(s))
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
			return errors.New("use only A-Z a-z 0-9 - . _ ~ (it goes into a URL path)")
		}
	}
	return nil
}
