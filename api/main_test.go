package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func runUsers(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runUsersWithInput(t, "", args...)
}

func runUsersWithInput(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = usersCommand(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// lastLine is what the dev-stack script and the e2e harness read.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func TestUsersCommand(t *testing.T) {
	dbURL := testenv.Database(t)
	t.Setenv("DATABASE_URL", dbURL)

	code, out, errOut := runUsers(t, "create", "--email", "Rep@Example.com", "--name", "Rep", "--role", "rep")
	if code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errOut)
	}
	tok1 := lastLine(out)
	if !strings.HasPrefix(tok1, "dft_") {
		t.Fatalf("last line %q is not a token:\n%s", tok1, out)
	}
	// Again: the same user, a fresh token.
	code, out, _ = runUsers(t, "create", "--email", "rep@example.com", "--name", "Rep", "--role", "rep")
	tok2 := lastLine(out)
	if code != 0 || tok2 == tok1 || !strings.Contains(out, "exists") {
		t.Fatalf("second create: %d %s", code, out)
	}

	ctx := context.Background()
	pool, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var users, live int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM api_users), (SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL)`).Scan(&users, &live); err != nil {
		t.Fatal(err)
	}
	if users != 1 || live != 2 {
		t.Fatalf("%d users, %d live tokens; want 1 and 2", users, live)
	}

	if code, out, errOut := runUsers(t, "revoke", "--token", tok1); code != 0 {
		t.Fatalf("revoke token: %d %s %s", code, out, errOut)
	}
	if code, _, _ := runUsers(t, "revoke", "--token", tok1); code != 1 {
		t.Fatalf("revoking a revoked token: %d, want 1", code)
	}
	// From standard input, as `echo "$TOKEN" | api users revoke --token -`.
	code, out, _ = runUsers(t, "create", "--email", "rep@example.com", "--name", "Rep", "--role", "rep")
	tok3 := lastLine(out)
	if code, out, errOut := runUsersWithInput(t, tok3+"\n", "revoke", "--token", "-"); code != 0 || !strings.Contains(out, "token revoked") {
		t.Fatalf("revoke --token - : %d %s %s", code, out, errOut)
	}
	if code, _, _ := runUsersWithInput(t, tok3, "revoke", "--token", "-"); code != 1 {
		t.Fatalf("revoking a revoked token read from stdin: %d, want 1", code)
	}
	if code, _, errOut := runUsersWithInput(t, "\n", "revoke", "--token", "-"); code != 2 || !strings.Contains(errOut, "standard input") {
		t.Fatalf("revoke --token - with nothing on stdin: %d %q, want 2 and a message", code, errOut)
	}
	if code, out, _ := runUsers(t, "revoke", "--email", "REP@example.com"); code != 0 || !strings.Contains(out, "1 token") {
		t.Fatalf("revoke by email: %d %s", code, out)
	}
	if n, err := store.RevokeUserTokens(ctx, pool, "rep@example.com"); err != nil || n != 0 {
		t.Fatalf("tokens left: %d %v", n, err)
	}

	for _, bad := range [][]string{
		{}, {"list"}, {"create", "--email", "x", "--role", "rep"}, {"create", "--email", "a@b.c", "--role", "boss"},
		{"create", "--bogus"}, {"revoke"}, {"revoke", "--token", "t", "--email", "e@x.y"}, {"create", "--email", "a@b.c", "--role", "rep", "extra"},
	} {
		if code, _, errOut := runUsers(t, bad...); code != 2 || errOut == "" {
			t.Errorf("users %q: exit %d, stderr %q; want 2 with a message", bad, code, errOut)
		}
	}
	if code, _, errOut := runUsers(t, "-h"); code != 0 || !strings.Contains(errOut, "users create") {
		t.Errorf("users -h: %d %s", code, errOut)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Setenv("API_ADDR", "nowhere")
	t.Setenv("API_REQUEST_TIMEOUT", "-1s")
	t.Setenv("DATABASE_URL", "mysql://secret@host/db")
	_, vars, err := load()
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"API_ADDR", "API_REQUEST_TIMEOUT", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the database URL: %v", err)
	}
	// API_ADDR, API_METRICS_ADDR, DATABASE_URL, LOG_LEVEL, API_RATE_LIMIT,
	// API_REQUEST_TIMEOUT, TEMPORAL_UI_URL, the eleven of the Temporal connection
	// and the six of the payload codec.
	if len(vars) != 24 {
		t.Errorf("-h would list %d variables, want 24", len(vars))
	}
	t.Setenv("TEMPORAL_UI_URL", "localhost:8233")
	if _, _, err := load(); err == nil || !strings.Contains(err.Error(), "TEMPORAL_UI_URL") {
		t.Errorf("a Web UI address without a scheme: %v", err)
	}
}
