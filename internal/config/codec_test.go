package config

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"go.temporal.io/sdk/converter"

	"dealflow/internal/codec"
)

// Keys of the cases: none may show in an error.
var (
	keyA = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA1}, 32))
	keyB = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xB2}, 32))
	// A valid base64 string of 16 bytes: an AES-128 key.
	short = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xC3}, 16))
)

const token = "c0dec-t0ken-0123456789"

func TestPayloadKeys(t *testing.T) {
	isolate(t)
	// No key: plain payloads, as before.
	r := NewReaderFrom(map[string]string{})
	tc := r.Temporal()
	if err := r.Err(); err != nil || tc.Encryption != nil || tc.Options.DataConverter != nil || tc.Options.FailureConverter != nil {
		t.Fatalf("without keys: encryption %v, converter %v, err %v", tc.Encryption, tc.Options.DataConverter, err)
	}

	// A key: every client built from the options encrypts.
	r = NewReaderFrom(map[string]string{
		CodecKeyID.Name: "2026-12", CodecKey.Name: keyA,
		CodecOldKeys.Name: " 2026-06:" + keyB + " , 2025-12:" + strings.TrimRight(keyB, "=") + "!", // the last: not base64
	})
	r.Temporal()
	if err := r.Err(); err == nil || !strings.HasPrefix(err.Error(), "DEALFLOW_CODEC_OLD_KEYS: key 2025-12 is not base64") {
		t.Fatalf("bad old key: %v", err)
	}
	r = NewReaderFrom(map[string]string{
		CodecKeyID.Name: "2026-12", CodecKey.Name: keyA,
		CodecOldKeys.Name: " 2026-06:" + keyB + " , 2025-12:" + strings.TrimRight(keyA, "="), // unpadded is fine
	})
	tc = r.Temporal()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if tc.Encryption == nil || tc.Encryption.CurrentKeyID() != "2026-12" ||
		strings.Join(tc.Encryption.KeyIDs(), ",") != "2026-12,2026-06,2025-12" {
		t.Fatalf("keyring %v", tc.Encryption)
	}
	p, err := tc.Options.DataConverter.ToPayload("Ada Lovelace")
	if err != nil || !codec.Encrypted(p) || string(p.Metadata[codec.MetadataKeyID]) != "2026-12" {
		t.Fatalf("the options' converter gives %v, %v", p, err)
	}
	if tc.Options.FailureConverter == nil {
		t.Error("no failure converter: error messages would be stored in clear")
	}
	var got string
	if err := tc.Options.DataConverter.FromPayload(p, &got); err != nil || got != "Ada Lovelace" {
		t.Errorf("round trip: %q, %v", got, err)
	}
	plain, _ := converter.GetDefaultDataConverter().ToPayload("recorded before")
	if err := tc.Options.DataConverter.FromPayload(plain, &got); err != nil || got != "recorded before" {
		t.Errorf("a plain payload: %q, %v", got, err)
	}
	found := 0
	for _, v := range r.Vars() {
		if strings.HasPrefix(v.Name, "DEALFLOW_CODEC_KEY") || v == CodecOldKeys {
			found++
		}
	}
	if found != 3 {
		t.Errorf("-h of every binary must list the three key variables; Vars() has %d", found)
	}

	// Only old keys: decrypt, store new payloads in plain text.
	r = NewReaderFrom(map[string]string{CodecOldKeys.Name: "2026-06:" + keyB})
	if tc = r.Temporal(); r.Err() != nil || tc.Encryption == nil || tc.Encryption.CurrentKeyID() != "" {
		t.Errorf("old keys only: %v, %v", tc.Encryption, r.Err())
	}
}

// TestPayloadKeyMistakes: each mistake is one line that names the variable
// first and never quotes a key.
func TestPayloadKeyMistakes(t *testing.T) {
	isolate(t)
	for _, c := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"short key", map[string]string{CodecKeyID.Name: "k1", CodecKey.Name: short},
			[]string{"DEALFLOW_CODEC_KEY: is 16 bytes once base64-decoded, want 32", "openssl rand -base64 32"}},
		{"not base64", map[string]string{CodecKeyID.Name: "k1", CodecKey.Name: "not*base64*" + keyA},
			[]string{"DEALFLOW_CODEC_KEY: is not base64"}},
		{"raw 32 characters", map[string]string{CodecKeyID.Name: "k1", CodecKey.Name: "0123456789abcdef0123456789abcdef"},
			[]string{"DEALFLOW_CODEC_KEY: is 24 bytes once base64-decoded, want 32"}},
		{"no key id", map[string]string{CodecKey.Name: keyA},
			[]string{"DEALFLOW_CODEC_KEY_ID: must be set with DEALFLOW_CODEC_KEY"}},
		{"key id, no key", map[string]string{CodecKeyID.Name: "k1"},
			[]string{"DEALFLOW_CODEC_KEY: must be set with DEALFLOW_CODEC_KEY_ID"}},
		{"bad key id", map[string]string{CodecKeyID.Name: "2026/12", CodecKey.Name: keyA},
			[]string{"DEALFLOW_CODEC_KEY_ID: key id \"2026/12\"", "letters, digits"}},
		{"old key without id", map[string]string{CodecKeyID.Name: "k1", CodecKey.Name: keyA, CodecOldKeys.Name: keyB},
			[]string{"DEALFLOW_CODEC_OLD_KEYS: entry 1: want id:base64-key"}},
		{"old key short", map[string]string{CodecOldKeys.Name: "k0:" + short},
			[]string{"DEALFLOW_CODEC_OLD_KEYS: key k0 is 16 bytes once base64-decoded, want 32"}},
		{"old key has the current id", map[string]string{CodecKeyID.Name: "k1", CodecKey.Name: keyA, CodecOldKeys.Name: "k1:" + keyB},
			[]string{"DEALFLOW_CODEC_OLD_KEYS: key id k1 is also DEALFLOW_CODEC_KEY_ID"}},
		{"old key twice", map[string]string{CodecOldKeys.Name: "k0:" + keyA + ",k0:" + keyB},
			[]string{"DEALFLOW_CODEC_OLD_KEYS: key id k0 appears twice"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := NewReaderFrom(c.env)
			tc := r.Temporal()
			err := r.Err()
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("more than one line:\n%s", msg)
			}
			for i, w := range c.want {
				if i == 0 && !strings.HasPrefix(msg, w) || !strings.Contains(msg, w) {
					t.Errorf("error %q, want %q", msg, w)
				}
			}
			for _, secret := range []string{keyA, keyB, short, strings.TrimRight(keyA, "=")[:20]} {
				if strings.Contains(msg, secret) || strings.Contains(msg, secret[:12]) {
					t.Errorf("the error quotes a key: %s", msg)
				}
			}
			if tc.Options.DataConverter != nil {
				t.Error("a half-configured key still set a converter")
			}
		})
	}
}

func TestCodecServerSettings(t *testing.T) {
	isolate(t)
	keys := map[string]string{CodecKeyID.Name: "k1", CodecKey.Name: keyA}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range keys {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	read := func(env map[string]string, ui string) (CodecServer, error) {
		r := NewReaderFrom(env)
		tc := r.Temporal()
		s := r.CodecServer(tc.Encryption, ui)
		return s, r.Err()
	}

	s, err := read(with(CodecAddr.Name, ":8089", CodecToken.Name, token), "http://localhost:8233")
	if err != nil || s.Addr != ":8089" || s.Token != token || strings.Join(s.Origins, ",") != "http://localhost:8233" {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
	s, err = read(with(CodecAddr.Name, ":8089", CodecToken.Name, token, CodecOrigins.Name, "http://localhost:8233/, http://127.0.0.1:8233"), "https://temporal.example")
	if err != nil || strings.Join(s.Origins, ",") != "http://localhost:8233,http://127.0.0.1:8233" {
		t.Fatalf("origins: %+v, %v", s, err)
	}
	if s, err = read(with(), ""); err != nil || s.Addr != "" {
		t.Fatalf("off by default: %+v, %v", s, err)
	}

	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no token", with(CodecAddr.Name, ":8089"), "DEALFLOW_CODEC_TOKEN: must be set with DEALFLOW_CODEC_ADDR"},
		{"short token", with(CodecAddr.Name, ":8089", CodecToken.Name, "secret"), "DEALFLOW_CODEC_TOKEN: want at least 16 characters, got 6"},
		{"token with a slash", with(CodecAddr.Name, ":8089", CodecToken.Name, token+"/x"), "DEALFLOW_CODEC_TOKEN: use only"},
		{"no keys", map[string]string{CodecAddr.Name: ":8089", CodecToken.Name: token}, "DEALFLOW_CODEC_ADDR: the codec server needs the keys"},
		{"bad origin", with(CodecAddr.Name, ":8089", CodecToken.Name, token, CodecOrigins.Name, "localhost:8233"), "DEALFLOW_CODEC_CORS_ORIGINS: origin \"localhost:8233\""},
		{"bad addr", with(CodecAddr.Name, "8089", CodecToken.Name, token), "DEALFLOW_CODEC_ADDR: want host:port"},
	} {
		_, err := read(c.env, "")
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want one line starting %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("%s: the error quotes the token", c.name)
		}
	}
}
