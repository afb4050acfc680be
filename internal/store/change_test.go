package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// A step that reads nothing back goes to PostgreSQL as one batch (store's
// writeAtOnce): it is written whole or not at all, and a step written
// before is rewritten through the transaction, not written twice.
func TestStepInOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	step := func(seq int, stage workflows.Stage, opp *workflows.Opportunity) workflows.Change {
		return workflows.Change{
			Deal: workflows.DealHeader{ID: "ONE-TRIP", Owner: "rep1", Stage: stage, Status: workflows.StatusOpen,
				Currency: "EUR", CreatedAt: at, StageEnteredAt: at.Add(time.Duration(seq) * time.Minute)},
			Lead:        workflows.Lead{Topic: "t", Status: "Open"},
			Event:       workflows.Event{Seq: seq, At: at.Add(time.Duration(seq) * time.Minute), Actor: "rep1", Action: "edit", Accepted: true, Stage: stage},
			Opportunity: opp,
			Records:     &workflows.Records{Opportunity: opp},
		}
	}
	state := func() (stage string, events, maxSeq int, oppStatus string) {
		t.Helper()
		err := pool.QueryRow(ctx, `SELECT l.stage, count(e.seq), coalesce(max(e.seq), 0),
				coalesce((SELECT status FROM opportunities WHERE lead_id = l.id), '')
			FROM leads l LEFT JOIN deal_events e ON e.lead_id = l.id WHERE l.id = 'ONE-TRIP' GROUP BY l.id`).
			Scan(&stage, &events, &maxSeq, &oppStatus)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	apply := func(ch workflows.Change) error {
		_, err := store.ApplyChange(ctx, pool, ch)
		return err
	}

	if err := apply(step(1, workflows.StageQualify, nil)); err != nil {
		t.Fatal(err)
	}
	// The opportunity's row comes after the lead's in the batch: its refusal
	// must take the lead row's new stage and the event back with it.
	bad := step(2, workflows.StageDevelop, &workflows.Opportunity{ID: "OPP-ONE-TRIP", Name: "n", Status: "Bogus"})
	if err := apply(bad); !errors.Is(err, store.ErrInvalidChange) {
		t.Fatalf("a step PostgreSQL refuses: %v, want ErrInvalidChange", err)
	}
	if stage, events, last, opp := state(); stage != "Qualify" || events != 1 || last != 1 || opp != "" {
		t.Fatalf("after the refused step: stage %s, %d events up to seq %d, opportunity %q; want Qualify, 1, 1 and none",
			stage, events, last, opp)
	}

	good := step(2, workflows.StageDevelop, &workflows.Opportunity{ID: "OPP-ONE-TRIP", Name: "n", Status: "Open"})
	if err := apply(good); err != nil {
		t.Fatal(err)
	}
	if stage, events, last, opp := state(); stage != "Develop" || events != 2 || last != 2 || opp != "Open" {
		t.Fatalf("after step 2: stage %s, %d events up to seq %d, opportunity %q", stage, events, last, opp)
	}
	// The same seq again, as a re-run of a failed workflow task takes it: a
	// different step, which must replace what the first one wrote.
	rerun := step(2, workflows.StagePropose, &workflows.Opportunity{ID: "OPP-ONE-TRIP", Name: "n", Status: "Lost"})
	if err := apply(rerun); err != nil {
		t.Fatal(err)
	}
	if stage, events, last, opp := state(); stage != "Propose" || events != 2 || last != 2 || opp != "Lost" {
		t.Fatalf("after step 2's re-run: stage %s, %d events up to seq %d, opportunity %q; want Propose, 2, 2 and Lost",
			stage, events, last, opp)
	}
}
