// Package encryption tests payload encryption end to end: the real worker
// and API binaries with a key, the Temporal dev server, PostgreSQL. A deal
// is created and worked through the API (Updates) and with Signals; its
// history, read raw from the server by a client without the key, holds no
// contact name, email, phone or amount; the API's codec server gives them
// back to the Temporal Web UI's origin with the token, and to no one else;
// the CLI reads it with the codec server; and the Web UI itself, in
// Chromium, shows the deal decrypted.
package encryption

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"dealflow/internal/codec"
	"dealflow/internal/config"
	"dealflow/internal/dev/devstack"
	"dealflow/internal/temporalx"
	"dealflow/internal/tests/e2e"
	"dealflow/workflows"
)

var (
	stack *e2e.Stack
	// env is the key configuration the worker and the API run with.
	env map[string]string
	// codecURL is the API's codec server, codecToken its token.
	codecURL, codecToken string
)

// uiOrigin is the Web UI's origin, which the codec server allows (by
// default, the origin of TEMPORAL_UI_URL).
func uiOrigin() string { return stack.TemporalUIURL() }

func TestMain(m *testing.M) {
	port, err := devstack.FreePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	codecToken = randomHex(24)
	codecURL = "http://127.0.0.1:" + strconv.Itoa(port)
	env = map[string]string{
		config.CodecKeyID.Name: "2026-12",
		config.CodecKey.Name:   randomKey(),
		// A retired key: it decrypts only.
		config.CodecOldKeys.Name: "2026-06:" + randomKey(),
	}
	os.Exit(e2e.Main(m, e2e.Options{
		Env: env,
		APIEnv: map[string]string{
			config.CodecAddr.Name:  "127.0.0.1:" + strconv.Itoa(port),
			config.CodecToken.Name: codecToken,
		},
		// The Web UI decrypts through the API's codec server, with the
		// token in the endpoint, as `make up` sets it up.
		TemporalUI:      true,
		UICodecEndpoint: "http://localhost:" + strconv.Itoa(port) + codec.TokenPathPrefix + codecToken,
	}, &stack))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomKey() string {
	b := make([]byte, codec.KeySize)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// keyedClient is a Temporal client built as the binaries build theirs, from
// the same environment: it encrypts.
func keyedClient(t *testing.T) (*temporalx.Client, *codec.Keyring) {
	t.Helper()
	r := config.NewReaderFrom(merge(env, map[string]string{
		config.TemporalAddress.Name: stack.TemporalAddress(), config.TemporalNamespace.Name: stack.Namespace(),
		"TEMPORAL_CONFIG_FILE": os.DevNull,
	}))
	conn := r.Temporal()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := temporalx.Dial(ctx, temporalx.Options{Conn: conn, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, conn.Encryption
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// api sends a request to the API and returns the status and body.
func api(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, b, err := stack.Do(ctx, method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// waitFor polls GET /v1/leads/{id} until its body contains want.
func waitFor(t *testing.T, id, want string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, b := api(t, http.MethodGet, "/v1/leads/"+id, stack.RepToken, nil)
		if status == http.StatusOK && bytes.Contains(b, []byte(want)) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /v1/leads/%s never showed %q; last: %d %s", id, want, status, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The customer data of the test's deal: unique strings, so that finding one
// in the history can only mean this deal's data.
type secrets struct {
	id, firstName, lastName, email, phone, phone2, budget, jobTitle, rating string
	// Readable by design, in search attributes only.
	company, estimatedValue string
}

func newSecrets() secrets {
	n := randomHex(4)
	digits := strconv.FormatInt(time.Now().UnixNano()%100000000, 10)
	for len(digits) < 8 {
		digits = "0" + digits
	}
	return secrets{
		id:        "enc-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		firstName: "Zenobia" + n, lastName: "Quillfeather" + n,
		email: "zq." + n + "@contoso.example", phone: "+44 20 7946 " + digits[:4], phone2: "+33 1 7000 " + digits[4:],
		budget: "87654.32", jobTitle: "Chief Cipher Officer " + n, rating: "Warm",
		company: "Northwind " + n, estimatedValue: "12345.67",
	}
}

// createLead creates a lead with s's contact and budget through the API, as
// a rep does, and waits until the deal answers with it.
func createLead(t *testing.T, s secrets, topic string) {
	t.Helper()
	status, b := api(t, http.MethodPost, "/v1/leads", stack.RepToken, map[string]any{
		"id": s.id, "topic": topic, "firstName": s.firstName, "lastName": s.lastName,
		"company": s.company, "email": s.email, "budget": s.budget,
	})
	if status != http.StatusCreated {
		t.Fatalf("create lead: %d %s", status, b)
	}
	waitFor(t, s.id, s.email)
}

// TestHistoryHoldsNoCustomerData works a deal through every way a payload
// reaches Temporal (start, Updates, an Update refused, Signals from a client
// with the key and from one without, local activities), then reads its
// history raw and finds none of the deal's customer data outside the search
// attributes.
func TestHistoryHoldsNoCustomerData(t *testing.T) {
	s := newSecrets()
	status, b := api(t, http.MethodPost, "/v1/leads", stack.RepToken, map[string]any{
		"id": s.id, "topic": "Encrypted: 40 widgets",
		"firstName": s.firstName, "lastName": s.lastName, "company": s.company,
		"email": s.email, "phone": s.phone,
		"budget": s.budget, "estimatedValue": s.estimatedValue,
	})
	if status != http.StatusCreated {
		t.Fatalf("create lead: %d %s", status, b)
	}
	// The API decrypts what the workflow answers.
	waitFor(t, s.id, s.email)

	// An Update (PATCH): the command and its result are payloads.
	if status, b := api(t, http.MethodPatch, "/v1/leads/"+s.id, stack.RepToken, map[string]any{"phone": s.phone2}); status != http.StatusOK {
		t.Fatalf("PATCH phone: %d %s", status, b)
	}
	// An Update the validator refuses: the refusal comes back readable.
	status, b = api(t, http.MethodPost, "/v1/leads/"+s.id+"/qualify", stack.RepToken, map[string]any{})
	if status != http.StatusConflict || !bytes.Contains(b, []byte("purchase timeframe")) {
		t.Fatalf("qualify without the gate: %d %s, want 409 naming what is missing", status, b)
	}

	// A Signal from a client with the key: the workflow reads it (the SDK
	// decrypts before the workflow's code sees the payload).
	keyed, keys := keyedClient(t)
	wid := workflows.WorkflowID(s.id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := keyed.SignalWorkflow(ctx, wid, "", string(workflows.ActEditLead),
		map[string]any{"actor": "ops@example.com", "jobTitle": s.jobTitle}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.id, s.jobTitle)
	// A Signal from a client without the key (an operator's plain CLI): its
	// plain payload passes through.
	plain, err := stack.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.SignalWorkflow(ctx, wid, "", string(workflows.ActEditLead),
		map[string]any{"actor": "ops@example.com", "rating": s.rating}); err != nil {
		t.Fatal(err)
	}
	view := waitFor(t, s.id, `"`+s.rating+`"`)
	for _, want := range []string{s.firstName, s.lastName, s.phone2, s.jobTitle, s.company} {
		if !bytes.Contains(view, []byte(want)) {
			t.Errorf("the deal the API shows lacks %q: %s", want, view)
		}
	}

	// The raw history, as anyone with access to Temporal reads it.
	h := history(ctx, t, plain, wid)
	encrypted, err := codec.EncryptedPayloads(ctx, h)
	if err != nil || encrypted < 5 {
		t.Fatalf("%d encrypted payloads in %d events (%v): the deal's data is not encrypted", encrypted, len(h.Events), err)
	}
	t.Logf("%d events, %d encrypted payloads", len(h.Events), encrypted)
	hidden := []string{s.firstName, s.lastName, s.email, s.phone, s.phone2, s.budget, s.jobTitle}
	if found := find(t, h, hidden...); len(found) > 0 {
		t.Errorf("the raw history holds customer data: %s", strings.Join(found, "; "))
	}
	// The company and the estimated value are search attributes (Customer,
	// EstimatedRevenue): readable there, by design, and nowhere else.
	if found := find(t, withoutSearchAttributes(h), s.company, s.estimatedValue); len(found) > 0 {
		t.Errorf("the raw history holds the search attributes' values outside them: %s", strings.Join(found, "; "))
	}
	sa := searchAttributes(ctx, t, plain, wid)
	if sa["Customer"] != s.company || sa["EstimatedRevenue"] != s.estimatedValue {
		t.Errorf("search attributes Customer=%q EstimatedRevenue=%q, want %q and %q (README: what managers see)",
			sa["Customer"], sa["EstimatedRevenue"], s.company, s.estimatedValue)
	}

	// The check has teeth: decrypted, the same history shows every value.
	if err := codec.DecodeHistory(ctx, keys, h); err != nil {
		t.Fatal(err)
	}
	if found := find(t, h, hidden...); len(found) != len(hidden) {
		t.Errorf("the decrypted history shows only %d of the %d values: %s", len(found), len(hidden), strings.Join(found, "; "))
	}
}

// TestCodecServerDecodesForTheUI: the Web UI (its origin, the token) gets
// the deal's payloads decrypted from the API's codec server; without the
// token, or from another origin, nothing.
func TestCodecServerDecodesForTheUI(t *testing.T) {
	s := newSecrets()
	createLead(t, s, "Encrypted: codec server")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plain, err := stack.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	h := history(ctx, t, plain, workflows.WorkflowID(s.id))
	// What the UI sends: the payloads of an event, as JSON.
	input := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
	if len(input.GetPayloads()) == 0 || !codec.Encrypted(input.Payloads[0]) {
		t.Fatalf("the start event's input is not encrypted: %v", input)
	}
	body, err := protojson.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}

	// The browser's preflight, then the call, as the UI makes them.
	resp, _ := codecCall(t, http.MethodOptions, "/decode", nil, map[string]string{
		"Origin": uiOrigin(), "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace",
	})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin() ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Namespace") {
		t.Fatalf("preflight: %s %v", resp.Status, resp.Header)
	}
	ui := map[string]string{"Origin": uiOrigin(), "Content-Type": "application/json", "X-Namespace": stack.Namespace()}
	for _, c := range []struct{ what, path, auth string }{
		{"a bearer token (the CLI's --codec-auth, a UI with OIDC)", "/decode", "Bearer " + codecToken},
		{"the token in the path (the UI's endpoint)", "/t/" + codecToken + "/decode", ""},
	} {
		hdr := merge(ui)
		if c.auth != "" {
			hdr["Authorization"] = c.auth
		}
		resp, got := codecCall(t, http.MethodPost, c.path, body, hdr)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin() {
			t.Fatalf("decode with %s: %s %s", c.what, resp.Status, got)
		}
		var out commonpb.Payloads
		if err := protojson.Unmarshal(got, &out); err != nil || len(out.Payloads) != 1 || codec.Encrypted(out.Payloads[0]) {
			t.Fatalf("decode with %s answered %s (%v)", c.what, got, err)
		}
		var in workflows.NewLead
		if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &in); err != nil {
			t.Fatal(err)
		}
		if in.Lead.FirstName != s.firstName || in.Lead.LastName != s.lastName || in.Lead.Email != s.email || in.Lead.Budget.String() != s.budget {
			t.Errorf("decode with %s: the UI reads the deal's input as %+v", c.what, in.Lead)
		}
	}

	// No token: 401, readable by the UI (CORS headers) so it can say so.
	resp, got := codecCall(t, http.MethodPost, "/decode", body, ui)
	if resp.StatusCode != http.StatusUnauthorized || bytes.Contains(got, []byte(s.email)) {
		t.Errorf("without the token: %s %s", resp.Status, got)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin() {
		t.Error("the 401 has no CORS headers: the UI cannot tell why it failed")
	}
	// A wrong token: 401.
	wrong := merge(ui, map[string]string{"Authorization": "Bearer " + randomHex(24)})
	if resp, got := codecCall(t, http.MethodPost, "/decode", body, wrong); resp.StatusCode != http.StatusUnauthorized || bytes.Contains(got, []byte(s.email)) {
		t.Errorf("with a wrong token: %s %s", resp.Status, got)
	}
	if resp, got := codecCall(t, http.MethodPost, "/t/"+randomHex(24)+"/decode", body, ui); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("with a wrong token in the path: %s %s", resp.Status, got)
	}
	// Another origin, even with the token: 403.
	evil := merge(ui, map[string]string{"Origin": "http://evil.example", "Authorization": "Bearer " + codecToken})
	if resp, got := codecCall(t, http.MethodPost, "/decode", body, evil); resp.StatusCode != http.StatusForbidden || bytes.Contains(got, []byte(s.email)) {
		t.Errorf("from another origin: %s %s", resp.Status, got)
	}
}

func codecCall(t *testing.T, method, path string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, codecURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// history reads a workflow's whole history, raw.
func history(ctx context.Context, t *testing.T, c client.Client, wid string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}

// find returns where each of the strings occurs in the history: in any
// event marshalled as protobuf (every string and payload's data verbatim)
// or as JSON.
func find(t *testing.T, h *historypb.History, strs ...string) []string {
	t.Helper()
	var found []string
	for _, s := range strs {
		for _, e := range h.Events {
			bin, err := proto.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			js, err := protojson.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(bin, []byte(s)) || bytes.Contains(js, []byte(s)) {
				found = append(found, fmt.Sprintf("%q in event %d (%s)", s, e.GetEventId(), e.GetEventType()))
				break
			}
		}
	}
	return found
}

// withoutSearchAttributes returns a copy of h with every SearchAttributes
// message cleared.
func withoutSearchAttributes(h *historypb.History) *historypb.History {
	c := proto.Clone(h).(*historypb.History)
	clearSA(c.ProtoReflect())
	return c
}

func clearSA(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil:
		case fd.Message().FullName() == "temporal.api.common.v1.SearchAttributes":
			m.Clear(fd)
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				clearSA(v.List().Get(i).Message())
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					clearSA(mv.Message())
					return true
				})
			}
		default:
			clearSA(v.Message())
		}
		return true
	})
}

// searchAttributes returns a workflow's search attributes as the server
// lists them (plain JSON payloads), as text.
func searchAttributes(ctx context.Context, t *testing.T, c client.Client, wid string) map[string]string {
	t.Helper()
	d, err := c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, p := range d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields() {
		var v any
		if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
			t.Fatalf("search attribute %s: %v", k, err)
		}
		switch x := v.(type) {
		case string:
			out[k] = x
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	return out
}

// TestCLIShowsTheDealDecrypted: `temporal workflow show` reads the deal in
// clear through the codec server with the token (README: the CLI), and
// sees only ciphertext without it.
func TestCLIShowsTheDealDecrypted(t *testing.T) {
	s := newSecrets()
	createLead(t, s, "Encrypted: temporal workflow show")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wid := workflows.WorkflowID(s.id)
	show := func(args ...string) *historypb.History {
		t.Helper()
		out, err := stack.CLI(ctx, append([]string{"workflow", "show", "-w", wid, "--output", "json"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var h historypb.History
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(out, &h); err != nil || len(h.Events) == 0 {
			t.Fatalf("temporal workflow show printed no history (%v):\n%.2000s", err, out)
		}
		return &h
	}
	want := []string{s.firstName, s.lastName, s.email, s.budget}
	if found := find(t, show("--codec-endpoint", codecURL, "--codec-auth", "Bearer "+codecToken), want...); len(found) != len(want) {
		t.Errorf("temporal workflow show with the codec shows only %s", strings.Join(found, "; "))
	}
	plain := show()
	if found := find(t, plain, want...); len(found) > 0 {
		t.Errorf("temporal workflow show without the codec shows %s", strings.Join(found, "; "))
	}
	if n, _ := codec.EncryptedPayloads(ctx, plain); n == 0 {
		t.Error("temporal workflow show without the codec shows no encrypted payload")
	}
}
