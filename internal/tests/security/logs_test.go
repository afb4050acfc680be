package security

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// secretList is every secret the run handed out.
type secretList struct {
	mu sync.Mutex
	s  []string
}

func newSecretList() *secretList { return &secretList{} }

func (l *secretList) add(s string) {
	if s == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s = append(l.s, s)
}

func (l *secretList) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.s...)
}

// tokenShape is what a dealflow bearer token looks like: any of them in a
// log is a leak, also one the run never issued (a client's wrong token).
var tokenShape = regexp.MustCompile(`dft_[A-Za-z0-9_-]{20,}`)

// logFiles are every process's logs: worker, API (and any second API),
// Temporal, PostgreSQL.
func logFiles() []string {
	files, _ := filepath.Glob(filepath.Join(stack.Dir, "*.log"))
	if pgLog != "" {
		files = append(files, pgLog)
	}
	return files
}

// scanLogs returns "file: what" for every secret found in a log.
func scanLogs() []string {
	var leaks []string
	for _, f := range logFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			leaks = append(leaks, fmt.Sprintf("%s: unreadable: %v", f, err))
			continue
		}
		text := string(b)
		for _, s := range secrets.all() {
			if strings.Contains(text, s) {
				leaks = append(leaks, fmt.Sprintf("%s: holds the secret %.8s…", filepath.Base(f), s))
			}
		}
		if m := tokenShape.FindString(text); m != "" {
			leaks = append(leaks, fmt.Sprintf("%s: holds a bearer token %.8s…", filepath.Base(f), m))
		}
	}
	return leaks
}

// TestLogsHoldNoSecrets provokes what is most likely to log a secret —
// wrong, unknown and revoked tokens in every header shape, a PostgreSQL
// outage (connection errors of a pool whose URL holds the password), a
// restart of the worker and the API — then reads every log. TestMain reads
// them again after all tests.
func TestLogsHoldNoSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if len(logFiles()) < 3 {
		t.Fatalf("expected the worker, API and Temporal logs in %s, found %v", stack.Dir, logFiles())
	}
	unknown := "dft_" + strings.Repeat("Zz9-", 11)
	secrets.add(unknown)
	for _, h := range []string{"Bearer " + unknown, "bearer " + unknown, unknown, "Basic " + unknown, "Bearer  " + unknown + " x", "Token " + stack.RepToken} {
		resp, body := get(t, "/v1/leads", h)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %.12s…: %d %s", h, resp.StatusCode, body)
		}
	}
	// A token in the query string and in other headers is not accepted
	// either, and must not be echoed.
	resp, _ := get(t, "/v1/leads?access_token="+unknown, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token in the query: %d", resp.StatusCode)
	}

	// PostgreSQL down: the API and worker log connection errors; the URL's
	// password must stay out of them. Only with our own cluster.
	if cl := pgCluster(); cl != nil {
		if err := cl.StopImmediate(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			resp, body := get(t, "/v1/leads", "Bearer "+stack.RepToken)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("PostgreSQL down: GET /v1/leads %d %s, want 503", resp.StatusCode, body)
			}
			r2, _ := get(t, "/readyz", "")
			if r2.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("PostgreSQL down: /readyz %d, want 503", r2.StatusCode)
			}
		}
		if err := cl.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Restarts log the configuration the processes start with.
	if err := stack.StopWorker(); err != nil {
		t.Fatal(err)
	}
	if err := stack.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stack.StopAPI(); err != nil {
		t.Fatal(err)
	}
	if err := stack.StartAPI(ctx); err != nil {
		t.Fatal(err)
	}

	if leaks := scanLogs(); len(leaks) > 0 {
		t.Fatalf("secrets in the logs:\n  %s", strings.Join(leaks, "\n  "))
	}
	// The scan itself works: the password is in the processes' environment,
	// as it must be, and the logs are not empty.
	var size int64
	for _, f := range logFiles() {
		if fi, err := os.Stat(f); err == nil {
			size += fi.Size()
		}
	}
	if size == 0 {
		t.Fatal("the logs are empty: nothing was scanned")
	}
	if !strings.Contains(strings.Join(stack.APIEnv(), "\n"), password) {
		t.Fatal("the API's DATABASE_URL does not hold the password: the test proves nothing")
	}
	t.Logf("%d secrets checked in %d log files (%d bytes)", len(secrets.all()), len(logFiles()), size)
}
