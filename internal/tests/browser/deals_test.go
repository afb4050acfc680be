package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// apiDeal is a deal made through the JSON API, for tests that need deals in
// given stages without driving every form.
type apiDeal struct {
	Topic, First, Last, Company, Value string
	// Stage is where to take the deal: Qualify, Develop, Close, Invoice or
	// Paid.
	Stage string
}

// api sends a JSON request as the token's user and fails the test unless
// the answer is 200 or 201.
func api(t *testing.T, token, method, path string, body any) map[string]any {
	t.Helper()
	resp, b, err := stack.Do(context.Background(), method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// makeDeal creates the deal as the token's user and takes it to its stage
// through the API; it returns the deal's id.
func makeDeal(t *testing.T, token string, d apiDeal, suffix string) string {
	t.Helper()
	id := fmt.Sprintf("%s-%s", slug(d.Company), suffix)
	api(t, token, http.MethodPost, "/v1/leads", map[string]any{
		"id": id, "topic": d.Topic,
		"firstName": d.First, "lastName": d.Last, "company": d.Company, "jobTitle": "Head of Operations",
		"email":  fmt.Sprintf("%s@%s.example.com", slug(d.First), id),
		"phone":  fmt.Sprintf("+44 %09d", time.Now().UnixNano()%1e9),
		"source": "Web", "rating": "Hot", "budget": d.Value, "estimatedValue": d.Value,
		"purchaseTimeframe": "This Quarter", "purchaseProcess": "Committee", "decisionMakerIdentified": true,
	})
	if d.Stage == "Qualify" {
		return id
	}
	base := "/v1/leads/" + id
	api(t, token, http.MethodPost, base+"/qualify", map[string]any{
		"estimatedCloseDate": time.Now().Add(45 * 24 * time.Hour).UTC().Truncate(24 * time.Hour).Format(time.RFC3339),
	})
	if d.Stage == "Develop" {
		return id
	}
	api(t, token, http.MethodPatch, base, map[string]any{"customerNeed": "one view of the pipeline", "proposedSolution": "licences and onboarding"})
	api(t, token, http.MethodPost, base+"/stakeholders", map[string]any{"name": d.First + " " + d.Last, "role": "Decision Maker"})
	api(t, token, http.MethodPost, base+"/lines", map[string]any{"product": "Platform licence", "quantity": "12", "unitPrice": "950.00"})
	api(t, token, http.MethodPost, base+"/lines", map[string]any{"product": "Onboarding", "quantity": "1", "unitPrice": "2400.00", "discount": "400"})
	api(t, token, http.MethodPost, base+"/quotes", map[string]any{"paymentTerms": "Net 30"})
	api(t, token, http.MethodPost, base+"/quotes/1/activate", nil)
	if d.Stage == "Close" {
		return id
	}
	api(t, token, http.MethodPost, base+"/close", map[string]any{"outcome": "won"})
	api(t, token, http.MethodPost, base+"/order/fulfill", nil)
	api(t, token, http.MethodPost, base+"/invoice/payments", map[string]any{"amount": "5000.00"})
	if d.Stage == "Invoice" {
		return id
	}
	api(t, token, http.MethodPost, base+"/invoice/payments", map[string]any{"amount": "8400.00"})
	return id
}

// slug is s lower-cased with every run of other characters than letters and
// digits one dash.
func slug(s string) string {
	out := []rune{}
	dash := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			out, dash = append(out, r), false
		case r >= 'A' && r <= 'Z':
			out, dash = append(out, r+'a'-'A'), false
		case !dash && len(out) > 0:
			out, dash = append(out, '-'), true
		}
	}
	if dash {
		out = out[:len(out)-1]
	}
	return string(out)
}
