package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"dealflow/internal/dev/devstack"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lowFreePort is a free port below 32768, other than those taken: the
// cluster's frontend keeps its port in a smallint column (devstack's
// pickPorts), and a port below the kernel's ephemeral range (32768 and up
// here) is never handed to another test's outgoing connection between its
// pick and its use, as one from FreePort can be. The Web UI's port needs
// that: the codec server's CORS origin names it, so the dev server's retries
// on "address already in use" cannot move it.
func lowFreePort(t *testing.T, taken ...int) int {
	t.Helper()
	for p := 20000 + os.Getpid()%10000; p < 32000; p++ {
		if !slices.Contains(taken, p) && devstack.PortFree(p) {
			return p
		}
	}
	t.Fatal("no free port below 32000")
	return 0
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// processesUnder lists the live processes whose command line mentions dir.
func processesUnder(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				continue
			}
		}
		found = append(found, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
	}
	return found
}

// TestStackUpAndDown runs what `make up` runs, on free ports and a temp data
// folder: it must come up, serve a lead with the printed rep token, and on
// cancellation (Ctrl-C) stop every process it started.
func TestStackUpAndDown(t *testing.T) { upAndDown(t, modeDev) }

// TestStackUpAndDownOnCluster is TestStackUpAndDown with -temporal=cluster:
// the worker and the API reach the cluster through the printed TEMPORAL_*
// variables alone.
func TestStackUpAndDownOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal cluster")
	}
	upAndDown(t, modeCluster)
}

func upAndDown(t *testing.T, mode string) {
	t.Setenv("DATABASE_URL", "")
	data := t.TempDir()
	temporalPort := lowFreePort(t)
	f := flags{
		temporal:     mode,
		temporalPort: temporalPort,
		uiPort:       lowFreePort(t, temporalPort),
		pgPort:       0,
		apiAddr:      "127.0.0.1:" + strconv.Itoa(freePort(t)),
		metricsAddr:  "127.0.0.1:" + strconv.Itoa(freePort(t)),
		codecAddr:    "127.0.0.1:" + strconv.Itoa(freePort(t)),
		dataDir:      data,
		timeout:      20 * time.Minute,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, f, &out) }()

	deadline := time.After(10 * time.Minute)
	for !strings.Contains(out.String(), "dealflow is up") {
		select {
		case code := <-done:
			t.Fatalf("stack exited with %d before it was up:\n%s", code, out.String())
		case <-deadline:
			t.Fatalf("stack not up after 10 minutes:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	text := out.String()
	wants := []string{
		"http://localhost:" + strconv.Itoa(f.uiPort) + "/namespaces/default/workflows",
		"http://localhost:" + strings.TrimPrefix(f.apiAddr, "127.0.0.1:"),
		"workflow list --query 'SalesStage=\"Qualify\"'",
	}
	if mode == modeCluster {
		wants = append(wants, "export TEMPORAL_TLS=true", "export TEMPORAL_TLS_CLIENT_CERT_PATH="+filepath.Join(data, "cluster", "certs", "client.pem"))
	}
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("the summary lacks %q:\n%s", want, text)
		}
	}
	m := regexp.MustCompile(`export REP_TOKEN=(\S+)`).FindStringSubmatch(text)
	if m == nil || !strings.Contains(text, "export MANAGER_TOKEN=") {
		t.Fatalf("no tokens in the summary:\n%s", text)
	}

	// The printed token works against the printed API.
	api := "http://" + f.apiAddr
	body := strings.NewReader(`{"id":"stack-test","topic":"t","firstName":"A","lastName":"B","company":"C","email":"a@example.com"}`)
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/leads", body)
	req.Header.Set("Authorization", "Bearer "+m[1])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || created.ID != "stack-test" {
		t.Fatalf("POST /v1/leads: %s, id %q", resp.Status, created.ID)
	}

	// The printed web app signs the demo rep in with the printed token.
	if !strings.Contains(text, "Web app      http://localhost:"+strings.TrimPrefix(f.apiAddr, "127.0.0.1:")+"/   (sign in with the tokens below)") {
		t.Errorf("the summary lacks the web app:\n%s", text)
	}
	webSignIn(t, api, "rep@example.com", m[1])
	codecWired(t, f, text)

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("stack exited with %d after Ctrl-C:\n%s%s", code, out.String(), failedLogs(out.String()))
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("stack did not stop:\n%s", out.String())
	}
	// The watchdog shell pgcluster leaves for a crash of this test process
	// names the folder too; it goes when the test binary exits.
	var left []string
	for _, p := range processesUnder(data) {
		if !strings.Contains(p, "pgcluster-watchdog") {
			left = append(left, p)
		}
	}
	if len(left) > 0 {
		t.Errorf("processes left behind:\n%s", strings.Join(left, "\n"))
	}
	for _, port := range []int{f.temporalPort, f.uiPort} {
		if !devstack.PortFree(port) {
			t.Errorf("port %d still taken", port)
		}
	}
}

func TestParseFlags(t *testing.T) {
	f, err := parseFlags([]string{"-temporal-port", "7000", "-api-addr", ":9000"})
	if err != nil {
		t.Fatal(err)
	}
	if f.temporalPort != 7000 || f.apiAddr != ":9000" || f.uiPort != 8233 || f.pgPort != 5433 || f.temporal != modeDev {
		t.Errorf("flags = %+v", f)
	}
	if f, err := parseFlags([]string{"-temporal", "cluster"}); err != nil || f.temporal != modeCluster {
		t.Errorf("-temporal cluster: %+v, %v", f, err)
	}
	if _, err := parseFlags([]string{"-temporal", "k8s"}); err == nil {
		t.Error("-temporal k8s accepted")
	}
	if p, err := portOf(f.apiAddr); err != nil || p != 9000 {
		t.Errorf("portOf(%q) = %d, %v", f.apiAddr, p, err)
	}
	if got := redact("postgres://u:secret@h:5432/db"); strings.Contains(got, "secret") {
		t.Errorf("redact leaks the password: %s", got)
	}
}

// failedLogs is the end of each log a failed stop names ("(log PATH)"),
// read before the test's folder goes: why a process did not stop cleanly.
func failedLogs(out string) string {
	var b strings.Builder
	for _, m := range regexp.MustCompile(`\(log (\S+\.log)\)`).FindAllStringSubmatch(out, -1) {
		data, err := os.ReadFile(m[1])
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		lines = lines[max(0, len(lines)-40):]
		fmt.Fprintf(&b, "\n--- last lines of %s:\n%s\n", m[1], strings.Join(lines, "\n"))
	}
	return b.String()
}

// webSignIn signs in to the web app at api as a browser would and checks
// that the board answers.
func webSignIn(t *testing.T, api, email, token string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(api + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /signin: %s\n%s", resp.Status, b)
	}
	resp, err = c.PostForm(api+"/signin", url.Values{"csrf": {string(m[1])}, "email": {email}, "token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/board" || !strings.Contains(string(b), `data-stage="Qualify"`) {
		t.Fatalf("sign-in: %s at %s\n%.2000s", resp.Status, resp.Request.URL, b)
	}
}

// codecWired checks what the stack set up for payload encryption: a dev key
// in the data folder, readable by its owner only; the Web UI told to decode
// through the API's codec server, with the token in the endpoint's path;
// and that server up, on the printed address, with the printed token.
func codecWired(t *testing.T, f flags, summary string) {
	t.Helper()
	file := filepath.Join(f.dataDir, codecFileName)
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the dev keys file %s: %v, %v", file, st, err)
	}
	saved, err := readEnvFile(file)
	if err != nil || saved["DEALFLOW_CODEC_KEY"] == "" || saved["DEALFLOW_CODEC_TOKEN"] == "" {
		t.Fatalf("the dev keys file holds %v, %v", saved, err)
	}
	codecURL := "http://localhost:" + strings.TrimPrefix(f.codecAddr, "127.0.0.1:")
	for _, want := range []string{
		"Encryption   payloads in Temporal: AES-256-GCM, key " + saved["DEALFLOW_CODEC_KEY_ID"],
		"Codec server " + codecURL,
		"export DEALFLOW_CODEC_TOKEN=" + saved["DEALFLOW_CODEC_TOKEN"],
		"--codec-endpoint " + codecURL,
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("the summary lacks %q:\n%s", want, summary)
		}
	}

	// The UI's own settings name the codec endpoint.
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(f.uiPort) + "/api/v1/settings")
	if err != nil {
		t.Fatal(err)
	}
	var settings struct{ Codec struct{ Endpoint string } }
	err = json.NewDecoder(resp.Body).Decode(&settings)
	resp.Body.Close()
	if want := codecURL + "/t/" + saved["DEALFLOW_CODEC_TOKEN"]; err != nil || settings.Codec.Endpoint != want {
		t.Errorf("the Web UI's codec endpoint is %q (%v), want %q", settings.Codec.Endpoint, err, want)
	}

	// The codec server encrypts and decrypts with the stack's key, for the
	// UI's origin.
	call := func(op, body string) string {
		req, _ := http.NewRequest(http.MethodPost, settings.Codec.Endpoint+"/"+op, strings.NewReader(body))
		req.Header.Set("Origin", "http://localhost:"+strconv.Itoa(f.uiPort))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("codec server /%s: %s %s", op, resp.Status, b)
		}
		return string(b)
	}
	plain := `{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"IkFkYSI="}]}`
	enc := call("encode", plain)
	if !strings.Contains(enc, "YmluYXJ5L2VuY3J5cHRlZA==") { // binary/encrypted
		t.Fatalf("encode answered %s", enc)
	}
	if dec := call("decode", enc); !strings.Contains(dec, "IkFkYSI=") {
		t.Errorf("decode answered %s", dec)
	}
}
