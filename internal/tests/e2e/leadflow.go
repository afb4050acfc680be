package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"dealflow/workflows"
)

// newLeadID returns a lead id no other test run uses.
func newLeadID(prefix string) string {
	return prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// leadFlow is the end-to-end path of a new deal: a rep creates lead id over
// HTTP, then reads it back from its workflow in stage Qualify. It returns an
// error when either step does not succeed before ctx ends.
func leadFlow(ctx context.Context, s *Stack, id string) error {
	body := map[string]any{
		"id":        id,
		"topic":     "E2E: 40 widgets",
		"firstName": "Ada",
		"lastName":  "Lovelace",
		// Each lead a customer of its own: the same email or company would
		// be a possible duplicate of another test's lead (409).
		"company": "Analytical Engines " + id,
		"email":   id + "@example.com",
	}
	resp, b, err := s.Do(ctx, http.MethodPost, "/v1/leads", s.RepToken, body)
	if err != nil {
		return fmt.Errorf("POST /v1/leads: %w", err)
	}
	// A repeat with the same id is the same deal: 200 or 201 both fit; 202
	// says the deal is still being set up (its first workflow task is late),
	// which the reads below wait for.
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /v1/leads: %s %s", resp.Status, b)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &created); err != nil || created.ID != id {
		return fmt.Errorf("POST /v1/leads answered %s, want a JSON object with id %q (%v)", b, id, err)
	}

	last := "no answer"
	for {
		resp, b, err := s.Do(ctx, http.MethodGet, "/v1/leads/"+id, s.RepToken, nil)
		switch {
		case err != nil:
			last = err.Error()
		case resp.StatusCode == http.StatusOK:
			var lead struct {
				ID    string `json:"id"`
				Stage string `json:"stage"`
			}
			if err := json.Unmarshal(b, &lead); err != nil {
				return fmt.Errorf("GET /v1/leads/%s: %v in %s", id, err, b)
			}
			if lead.Stage != string(workflows.StageQualify) {
				return fmt.Errorf("GET /v1/leads/%s: stage %q, want %q: %s", id, lead.Stage, workflows.StageQualify, b)
			}
			return nil
		default:
			last = fmt.Sprintf("%s %s", resp.Status, b)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET /v1/leads/%s: no lead before the deadline; last answer: %s", id, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
