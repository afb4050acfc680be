package security

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/jackc/pgx/v5"

	"dealflow/internal/config"
	"dealflow/internal/dev/devstack"
	"dealflow/internal/httpapi"
)

// do sends a request to base (the stack's API when empty) with auth as the
// whole Authorization header (none when empty).
func doAt(t *testing.T, base, method, path, auth string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	if base == "" {
		base = stack.APIURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func do(t *testing.T, method, path, auth string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return doAt(t, "", method, path, auth, body, headers...)
}

func get(t *testing.T, path, auth string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodGet, path, auth, nil)
}

func bearer(token string) string { return "Bearer " + token }

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// problemType is the type of a problem answer ("" when it is none).
func problemType(b []byte) (string, string) {
	var p struct{ Type, Detail string }
	_ = json.Unmarshal(b, &p)
	return strings.TrimPrefix(p.Type, httpapi.ProblemType), p.Detail
}

// route is one operation of the API's spec.
type route struct{ method, path string }

// v1Routes are every /v1 operation in api/openapi.yaml (which a test of
// package api keeps equal to the server's routes).
func v1Routes(t *testing.T) []route {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(stack.Root, "api", "openapi.yaml"))
	if err != nil {
		t.Fatalf("load api/openapi.yaml: %v", err)
	}
	var out []route
	for path, item := range doc.Paths.Map() {
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		for method := range item.Operations() {
			out = append(out, route{method, path})
		}
	}
	slices.SortFunc(out, func(a, b route) int { return strings.Compare(a.path+" "+a.method, b.path+" "+b.method) })
	if len(out) < 25 {
		t.Fatalf("only %d /v1 operations in the spec", len(out))
	}
	return out
}

// fill puts a lead id and the other path parameters into a spec path.
func fill(path, id string) string {
	return strings.NewReplacer("{id}", id, "{revision}", "1", "{itemId}", "line-2").Replace(path)
}

// validBody is a body each route accepts, so that what is refused is the
// caller, not the input.
func validBody(r route) []byte {
	switch {
	case r.method == http.MethodGet || r.method == http.MethodDelete:
		return nil
	case r.path == "/v1/leads":
		return jsonBody(map[string]any{"topic": "security"})
	case r.path == "/v1/users":
		return jsonBody(map[string]any{"email": "sec-new@example.com", "role": "rep"})
	}
	bodies := map[string]any{
		"{id}": map[string]any{"topic": "renamed"}, "assign": map[string]any{"owner": "rep@example.com"},
		"disqualify": map[string]any{"reason": "Lost"}, "stakeholders": map[string]any{"name": "N", "role": "Champion"},
		"competitors": map[string]any{"name": "C"}, "team": map[string]any{"userId": "manager@example.com"},
		"lines": map[string]any{"product": "p", "quantity": "1", "unitPrice": "1"}, "{revision}": map[string]any{"name": "n"},
		"close": map[string]any{"outcome": "lost", "reason": "Canceled"}, "cancel": map[string]any{"reason": "r"},
		"payments": map[string]any{"amount": "1"}, "activities": map[string]any{"type": "note", "description": "n"},
		"{itemId}": map[string]any{"subject": "s"},
	}
	last := r.path[strings.LastIndex(r.path, "/")+1:]
	if strings.Contains(r.path, "/activities/") && (last == "cancel" || last == "complete") {
		return []byte(`{}`) // an activity's, not the order's or invoice's
	}
	if b, ok := bodies[last]; ok {
		return jsonBody(b)
	}
	return []byte(`{}`)
}

// newUser creates a user with the real `api users create` and returns its
// token (kept among the secrets).
func newUser(t *testing.T, email, role string) string {
	t.Helper()
	tok, err := stack.CreateUser(context.Background(), email, email, role)
	if err != nil {
		t.Fatal(err)
	}
	secrets.add(tok)
	return tok
}

// newDeal creates a qualified deal of rep@example.com and returns its id.
func newDeal(t *testing.T, prefix string) string {
	t.Helper()
	id := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	resp, b := do(t, http.MethodPost, "/v1/leads", bearer(stack.RepToken), jsonBody(map[string]any{
		"id": id, "topic": "Security " + id, "firstName": "Eve", "company": "Sec " + id, "email": id + "@customer.example",
		"budget": "100", "purchaseTimeframe": "This Year", "decisionMakerIdentified": true,
	}))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create %s: %d %s", id, resp.StatusCode, b)
	}
	if resp, b := do(t, http.MethodPost, "/v1/leads/"+id+"/qualify", bearer(stack.RepToken), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("qualify %s: %d %s", id, resp.StatusCode, b)
	}
	return id
}

// rows is the deal's rows as one digest: what a refused request must not change.
func rows(t *testing.T, id string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var digest string
	err = conn.QueryRow(ctx, `SELECT md5(concat_ws('#',
		(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM leads x WHERE x.id = $1),
		(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM opportunities x WHERE x.lead_id = $1),
		(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM quotes x WHERE x.lead_id = $1),
		(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM deal_events x WHERE x.lead_id = $1),
		(SELECT count(*) FROM api_users)::text))`, id).Scan(&digest)
	if err != nil {
		t.Fatal(err)
	}
	return digest
}

// Every /v1 route answers 401, with a WWW-Authenticate challenge, to a
// request without a token, with a malformed Authorization header, or with a
// token that does not exist.
func TestEveryRouteNeedsAToken(t *testing.T) {
	id := newDeal(t, "sec-401")
	before := rows(t, id)
	for _, r := range v1Routes(t) {
		for _, auth := range []string{"", "Bearer", "Bearer ", "Basic cmVwOnB3", bearer("dft_not-a-real-token-at-all-0000000000000000"), stack.RepToken} {
			resp, b := do(t, r.method, fill(r.path, id), auth, validBody(r))
			typ, _ := problemType(b)
			if resp.StatusCode != http.StatusUnauthorized || typ != "unauthorized" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with Authorization %.14q: %d %s (WWW-Authenticate %q), want 401", r.method, r.path, auth, resp.StatusCode, b, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	if after := rows(t, id); after != before {
		t.Error("requests without a valid token changed the deal's rows")
	}
}

// A rep gets 404 on every route of another rep's deal, worded exactly as
// for a deal that does not exist, and changes nothing; assign, which is for
// managers, is 403 to any rep. The owner and a manager still see the deal.
func TestOtherRepsDealIsNotFound(t *testing.T) {
	id := newDeal(t, "sec-404")
	missing := "sec-missing-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	stranger := newUser(t, fmt.Sprintf("stranger-%d@example.com", time.Now().UnixNano()), "rep")
	before := rows(t, id)
	n := 0
	for _, r := range v1Routes(t) {
		if !strings.HasPrefix(r.path, "/v1/leads/{id}") {
			continue
		}
		n++
		want, wantType := http.StatusNotFound, "not-found"
		if strings.HasSuffix(r.path, "/assign") {
			want, wantType = http.StatusForbidden, "forbidden"
		}
		resp, b := do(t, r.method, fill(r.path, id), bearer(stranger), validBody(r))
		typ, detail := problemType(b)
		if resp.StatusCode != want || typ != wantType {
			t.Errorf("other rep %s %s: %d %s, want %d %s", r.method, r.path, resp.StatusCode, b, want, wantType)
			continue
		}
		// The same answer as for a lead that does not exist.
		resp2, b2 := do(t, r.method, fill(r.path, missing), bearer(stranger), validBody(r))
		typ2, detail2 := problemType(b2)
		if resp2.StatusCode != resp.StatusCode || typ2 != typ || strings.ReplaceAll(detail2, missing, id) != detail {
			t.Errorf("%s %s: another rep's deal answers %d %q, a missing one %d %q: they must not differ", r.method, r.path, resp.StatusCode, detail, resp2.StatusCode, detail2)
		}
	}
	if n < 20 {
		t.Fatalf("only %d deal routes checked", n)
	}
	if after := rows(t, id); after != before {
		t.Error("the other rep's requests changed the deal's rows")
	}
	resp, b := get(t, "/v1/leads?limit=200", bearer(stranger))
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), id) {
		t.Errorf("other rep's list: %d, lists the deal: %v", resp.StatusCode, strings.Contains(string(b), id))
	}
	for _, tok := range []string{stack.RepToken, stack.ManagerToken} {
		if resp, b := get(t, "/v1/leads/"+id, bearer(tok)); resp.StatusCode != http.StatusOK {
			t.Errorf("owner or manager reads the deal: %d %s", resp.StatusCode, b)
		}
	}
}

// A revoked token (revoked with the real `api users revoke`) is refused at
// once on every kind of route; the user's other tokens and other users are
// unaffected, and revoking by email revokes them all.
func TestRevokedToken(t *testing.T) {
	email := fmt.Sprintf("revoked-%d@example.com", time.Now().UnixNano())
	tok1 := newUser(t, email, "rep")
	tok2 := newUser(t, email, "rep") // a second token for the same user
	id := newDeal(t, "sec-revoke")
	if resp, b := get(t, "/v1/leads", bearer(tok1)); resp.StatusCode != http.StatusOK {
		t.Fatalf("before revocation: %d %s", resp.StatusCode, b)
	}
	revoke(t, "--token", tok1)
	for _, r := range []route{{http.MethodGet, "/v1/leads"}, {http.MethodPost, "/v1/leads"}, {http.MethodGet, "/v1/leads/{id}"},
		{http.MethodPost, "/v1/leads/{id}/lines"}, {http.MethodGet, "/v1/pipeline"}, {http.MethodPost, "/v1/users"}} {
		resp, b := do(t, r.method, fill(r.path, id), bearer(tok1), validBody(r))
		if typ, _ := problemType(b); resp.StatusCode != http.StatusUnauthorized || typ != "unauthorized" {
			t.Errorf("revoked token %s %s: %d %s, want 401", r.method, r.path, resp.StatusCode, b)
		}
	}
	if resp, b := get(t, "/v1/leads", bearer(tok2)); resp.StatusCode != http.StatusOK {
		t.Errorf("the user's other token: %d %s", resp.StatusCode, b)
	}
	if resp, _ := get(t, "/v1/leads", bearer(stack.RepToken)); resp.StatusCode != http.StatusOK {
		t.Errorf("another user's token: %d", resp.StatusCode)
	}
	revoke(t, "--email", email)
	if resp, _ := get(t, "/v1/leads", bearer(tok2)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after revoking every token of the user: %d, want 401", resp.StatusCode)
	}
}

// revoke runs `api users revoke`, a token given on standard input (`--token
// -`, so that it is not on a command line); its output must not repeat the
// token.
func revoke(t *testing.T, flag, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stack.Bin.API, "users", "revoke", flag, value)
	if flag == "--token" {
		cmd = exec.CommandContext(ctx, stack.Bin.API, "users", "revoke", flag, "-")
		cmd.Stdin = strings.NewReader(value + "\n")
	}
	cmd.Env = stack.APIEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("api users revoke %s: %v\n%s", flag, err, out)
	}
	for _, s := range secrets.all() {
		if strings.Contains(string(out), s) {
			t.Errorf("api users revoke %s prints a secret: %s", flag, out)
		}
	}
}

// PostgreSQL holds tokens only as SHA-256 hashes: no issued token appears
// in any column of any table, and each one's hash is on file.
func TestTokensOnlyHashed(t *testing.T) {
	resp, b := do(t, http.MethodPost, "/v1/users", bearer(stack.ManagerToken),
		jsonBody(map[string]any{"email": fmt.Sprintf("hashed-%d@example.com", time.Now().UnixNano()), "role": "rep"}))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create user: %d %s", resp.StatusCode, b)
	}
	var created struct{ Token string }
	if err := json.Unmarshal(b, &created); err != nil || created.Token == "" {
		t.Fatalf("no token in %s", b)
	}
	secrets.add(created.Token)
	tokens := []string{stack.RepToken, stack.ManagerToken, created.Token}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, tok := range tokens {
		sum := sha256.Sum256([]byte(tok))
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE token_hash = $1`, sum[:]).Scan(&n); err != nil || n != 1 {
			t.Errorf("token %.8s…: %d rows with its SHA-256 (%v), want 1", tok, n, err)
		}
	}
	// Every table, every row, as text (bytea as hex, so also a token's
	// bytes stored raw would show).
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	scanned := 0
	for _, table := range tables {
		rows, err := conn.Query(ctx, `SELECT x::text FROM `+pgx.Identifier{table}.Sanitize()+` x`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range texts {
			scanned++
			for _, tok := range tokens {
				raw := fmt.Sprintf("%x", tok)
				if strings.Contains(row, tok) || strings.Contains(row, raw) || tokenShape.MatchString(row) {
					t.Errorf("table %s holds a token: %.60s…", table, row)
				}
			}
		}
	}
	if !slices.Contains(tables, "api_tokens") || scanned == 0 {
		t.Fatalf("scanned %d rows of %v", scanned, tables)
	}
}

// A body over 1 MiB is refused with 413 — declared (Content-Length) or
// found while reading (chunked) — on creation and on an action, and writes
// nothing.
func TestOversizedBody(t *testing.T) {
	id := newDeal(t, "sec-413")
	before := rows(t, id)
	big := []byte(`{"topic":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`)
	for _, path := range []string{"/v1/leads", "/v1/leads/" + id + "/stakeholders", "/v1/users"} {
		tok := stack.RepToken
		if path == "/v1/users" {
			tok = stack.ManagerToken
		}
		resp, b := do(t, http.MethodPost, path, bearer(tok), big)
		if typ, _ := problemType(b); resp.StatusCode != http.StatusRequestEntityTooLarge || typ != "too-large" {
			t.Errorf("POST %s with %d bytes: %d %.200s, want 413", path, len(big), resp.StatusCode, b)
		}
		// Chunked: no Content-Length, the limit is found while reading.
		req, _ := http.NewRequest(http.MethodPost, stack.APIURL+path, io.MultiReader(bytes.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("Authorization", bearer(tok))
		resp2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("chunked POST %s: %v", path, err)
		}
		b2, _ := io.ReadAll(resp2.Body)
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked POST %s: %d %.200s, want 413", path, resp2.StatusCode, b2)
		}
	}
	// PATCH too.
	resp, b := do(t, http.MethodPatch, "/v1/leads/"+id, bearer(stack.RepToken), big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("PATCH with %d bytes: %d %.200s", len(big), resp.StatusCode, b)
	}
	if after := rows(t, id); after != before {
		t.Error("an oversized request changed the deal's rows or the users")
	}
}

// Past API_RATE_LIMIT a token gets 429 with Retry-After (a second API
// process, rate-limited, beside the stack's); other tokens go on, and the
// token is served again after the delay.
func TestRateLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var env []string
	for _, kv := range stack.APIEnv() {
		if !strings.HasPrefix(kv, config.APIAddr.Name+"=") && !strings.HasPrefix(kv, config.APIRateLimit.Name+"=") {
			env = append(env, kv)
		}
	}
	// No metrics listener: the stack's API has the port.
	env = append(env, config.APIAddr.Name+"="+addr, config.APIRateLimit.Name+"=1", config.APIMetricsAddr.Name+"=")
	p, err := devstack.StartProcess(devstack.ProcessSpec{Name: "api (rate-limited)", Path: stack.Bin.API, Env: env,
		LogFile: filepath.Join(stack.Dir, "api-ratelimited.log")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(0); err != nil {
			t.Errorf("stop the rate-limited API: %v", err)
		}
	}()
	base := "http://" + addr
	if err := devstack.WaitAPIReady(ctx, base, p); err != nil {
		t.Fatal(err)
	}

	// 1 request/s, burst 2: the third at once is throttled.
	var throttled *http.Response
	var body []byte
	for i := range 5 {
		resp, b := doAt(t, base, http.MethodGet, "/v1/leads", bearer(stack.RepToken), nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			throttled, body = resp, b
			break
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	if throttled == nil {
		t.Fatal("5 requests at once at 1 request/s: none throttled")
	}
	if typ, _ := problemType(body); typ != "rate-limited" {
		t.Errorf("429 body: %s", body)
	}
	ra, err := strconv.Atoi(throttled.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 5 {
		t.Fatalf("Retry-After %q, want a number of seconds", throttled.Header.Get("Retry-After"))
	}
	if resp, b := doAt(t, base, http.MethodGet, "/v1/leads", bearer(stack.ManagerToken), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("another token is throttled too: %d %s", resp.StatusCode, b)
	}
	time.Sleep(time.Duration(ra) * time.Second)
	if resp, b := doAt(t, base, http.MethodGet, "/v1/leads", bearer(stack.RepToken), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after Retry-After: %d %s", resp.StatusCode, b)
	}

	// Guessing tokens: past the rate, this client's address gets 429 before
	// its tokens are looked up.
	var codes []int
	for i := range 5 {
		resp, b := doAt(t, base, http.MethodGet, "/v1/leads", bearer("dft_guess"+strconv.Itoa(i)), nil)
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			if typ, _ := problemType(b); typ != "rate-limited" || resp.Header.Get("Retry-After") == "" {
				t.Errorf("429 for guessed tokens: %v %s", resp.Header, b)
			}
			break
		}
	}
	if !slices.Equal(codes, []int{401, 401, 429}) {
		t.Errorf("5 guessed tokens at once at 1 request/s: %v, want 401 401 429", codes)
	}
}
