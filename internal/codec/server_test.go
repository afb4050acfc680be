package codec

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	testToken = "0123456789abcdef0123"
	uiOrigin  = "http://localhost:8233"
)

func newTestServer(t *testing.T) (*httptest.Server, *Keyring) {
	t.Helper()
	k := keyring(t, ptr(key("k1", 1)))
	h, err := NewServer(ServerOptions{Keyring: k, Token: testToken, Origins: []string{uiOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, k
}

type call struct {
	method, path, origin, auth, body string
	header                           map[string]string
}

func (c call) do(t *testing.T, base string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func payloadsJSON(t *testing.T, ps ...*commonpb.Payload) string {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServerDecodesForTheUI(t *testing.T) {
	srv, k := newTestServer(t)
	enc := encode(t, DataConverter(k), ada)
	plain := encode(t, converter.GetDefaultDataConverter(), "recorded before encryption")
	body := payloadsJSON(t, enc, plain)

	// The browser's preflight: no token, the UI's headers.
	resp, _ := call{method: http.MethodOptions, path: "/decode", origin: uiOrigin, header: map[string]string{
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "content-type,x-namespace",
	}}.do(t, srv.URL)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight: %s", resp.Status)
	}
	h := resp.Header
	if h.Get("Access-Control-Allow-Origin") != uiOrigin || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight headers: %v", h)
	}
	for _, want := range []string{"Content-Type", "X-Namespace", "Authorization"} {
		if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
			t.Errorf("preflight does not allow header %s: %q", want, h.Get("Access-Control-Allow-Headers"))
		}
	}

	// The decode itself, with the token as a bearer or in the path.
	for _, c := range []call{
		{method: http.MethodPost, path: "/decode", origin: uiOrigin, auth: "Bearer " + testToken},
		{method: http.MethodPost, path: "/t/" + testToken + "/decode", origin: uiOrigin},
		{method: http.MethodPost, path: "/decode", auth: "bearer " + testToken}, // the CLI: no Origin
	} {
		c.body = body
		c.header = map[string]string{"Content-Type": "application/json", "X-Namespace": "default"}
		resp, got := c.do(t, srv.URL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s %s", c.method, c.path, resp.Status, got)
		}
		if c.origin != "" && resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
			t.Errorf("%s: no Access-Control-Allow-Origin for the UI", c.path)
		}
		var out commonpb.Payloads
		if err := protojson.Unmarshal([]byte(got), &out); err != nil || len(out.Payloads) != 2 {
			t.Fatalf("%s: answer %s: %v", c.path, got, err)
		}
		var l lead
		var s string
		if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &l); err != nil || l != ada {
			t.Errorf("%s: decoded %+v, %v", c.path, l, err)
		}
		if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[1], &s); err != nil || s != "recorded before encryption" {
			t.Errorf("%s: the plain payload came back as %q, %v", c.path, s, err)
		}
	}
}

func TestServerEncodes(t *testing.T) {
	srv, k := newTestServer(t)
	resp, got := call{method: http.MethodPost, path: "/encode", auth: "Bearer " + testToken,
		body: payloadsJSON(t, encode(t, converter.GetDefaultDataConverter(), ada))}.do(t, srv.URL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("encode: %s %s", resp.Status, got)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal([]byte(got), &out); err != nil || len(out.Payloads) != 1 || !Encrypted(out.Payloads[0]) {
		t.Fatalf("encode answered %s (%v)", got, err)
	}
	var l lead
	if err := DataConverter(k).FromPayload(out.Payloads[0], &l); err != nil || l != ada {
		t.Errorf("the encoded payload decodes to %+v, %v", l, err)
	}
	// Nothing in, nothing out, and still the field the UI reads.
	resp, got = call{method: http.MethodPost, path: "/decode", auth: "Bearer " + testToken, body: `{"payloads":[]}`}.do(t, srv.URL)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(got) != `{"payloads":[]}` {
		t.Errorf("empty decode: %s %s", resp.Status, got)
	}
}

func TestServerRefuses(t *testing.T) {
	srv, k := newTestServer(t)
	body := payloadsJSON(t, encode(t, DataConverter(k), ada))
	for name, c := range map[string]struct {
		call
		status int
	}{
		"no token":               {call{method: http.MethodPost, path: "/decode", origin: uiOrigin}, http.StatusUnauthorized},
		"wrong token":            {call{method: http.MethodPost, path: "/decode", auth: "Bearer " + strings.Repeat("x", 20)}, http.StatusUnauthorized},
		"basic auth":             {call{method: http.MethodPost, path: "/decode", auth: "Basic " + testToken}, http.StatusUnauthorized},
		"wrong token in path":    {call{method: http.MethodPost, path: "/t/" + strings.Repeat("x", 20) + "/decode"}, http.StatusUnauthorized},
		"token prefix in path":   {call{method: http.MethodPost, path: "/t/" + testToken[:10] + "/decode"}, http.StatusUnauthorized},
		"other origin":           {call{method: http.MethodPost, path: "/decode", origin: "http://evil.example", auth: "Bearer " + testToken}, http.StatusForbidden},
		"other origin preflight": {call{method: http.MethodOptions, path: "/decode", origin: "http://evil.example", header: map[string]string{"Access-Control-Request-Method": "POST"}}, http.StatusForbidden},
		"GET":                    {call{method: http.MethodGet, path: "/decode", auth: "Bearer " + testToken}, http.StatusMethodNotAllowed},
		"unknown path":           {call{method: http.MethodPost, path: "/decrypt", auth: "Bearer " + testToken}, http.StatusNotFound},
		"not JSON":               {call{method: http.MethodPost, path: "/decode", auth: "Bearer " + testToken, body: "payloads"}, http.StatusBadRequest},
	} {
		if c.body == "" {
			c.body = body
		}
		resp, got := c.do(t, srv.URL)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s %s, want %d", name, resp.Status, got, c.status)
		}
		if strings.Contains(got, "Ada") {
			t.Errorf("%s: the answer holds the plain text: %s", name, got)
		}
		if c.status == http.StatusForbidden && resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS headers for a refused origin", name)
		}
		if c.status == http.StatusUnauthorized && c.origin == uiOrigin && resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
			t.Errorf("%s: the UI cannot read the 401 (no CORS headers)", name)
		}
	}

	// A payload of a key this server lacks: a clear 400.
	other := keyring(t, ptr(key("k9", 9)))
	resp, got := call{method: http.MethodPost, path: "/decode", auth: "Bearer " + testToken,
		body: payloadsJSON(t, encode(t, DataConverter(other), ada))}.do(t, srv.URL)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got, `"k9"`) {
		t.Errorf("unknown key: %s %s", resp.Status, got)
	}
}

func TestNewServerChecks(t *testing.T) {
	k := keyring(t, ptr(key("k1", 1)))
	for name, o := range map[string]ServerOptions{
		"no keyring": {Token: testToken},
		"no token":   {Keyring: k},
		"bad origin": {Keyring: k, Token: testToken, Origins: []string{"localhost:8233"}},
		"a path":     {Keyring: k, Token: testToken, Origins: []string{"http://localhost:8233/ui"}},
	} {
		if _, err := NewServer(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
