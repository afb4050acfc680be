package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

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
	// The same seq again, as the re-run of a failed workflow task takes it:
	// another step, whose records hold no opportunity. Only the rewrite
	// (the transaction path) removes the one the first write left.
	rerun := step(2, workflows.StagePropose, nil)
	if err := apply(rerun); err != nil {
		t.Fatal(err)
	}
	if stage, events, last, opp := state(); stage != "Propose" || events != 2 || last != 2 || opp != "" {
		t.Fatalf("after step 2's re-run: stage %s, %d events up to seq %d, opportunity %q; want Propose, 2, 2 and none",
			stage, events, last, opp)
	}
}

// Two attempts of one step that overlap (one timed out but still runs, and
// its retry): the one that waited for the deal's lock must see what the
// other committed, and rewrite instead of writing as if the step were new.
func TestOverlappingAttemptsOfAStep(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	step := func(seq int, stage workflows.Stage) workflows.Change {
		return workflows.Change{
			Deal: workflows.DealHeader{ID: "OVERLAP", Owner: "rep1", Stage: stage, Status: workflows.StatusOpen,
				Currency: "EUR", CreatedAt: at, StageEnteredAt: at},
			Lead:    workflows.Lead{Topic: "t", Status: "Open"},
			Event:   workflows.Event{Seq: seq, At: at.Add(time.Duration(seq) * time.Minute), Actor: "rep1", Action: "edit", Accepted: true, Stage: stage},
			Records: &workflows.Records{},
		}
	}
	if _, err := store.ApplyChange(ctx, pool, step(1, workflows.StageQualify)); err != nil {
		t.Fatal(err)
	}

	// The first attempt holds the lock and has written step 2 with an
	// opportunity, not yet committed.
	first, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback(ctx)
	for _, sql := range []string{
		`SELECT FROM leads WHERE id = 'OVERLAP' FOR UPDATE`,
		`INSERT INTO deal_events (lead_id, seq, at, action, accepted) VALUES ('OVERLAP', 2, now(), 'first', true)`,
		`INSERT INTO opportunities (id, lead_id, currency, status) VALUES ('OPP-OVERLAP', 'OVERLAP', 'EUR', 'Open')`,
	} {
		if _, err := first.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	// The second attempt, another step under the same seq, waits for it.
	done := make(chan error, 1)
	go func() {
		_, err := store.ApplyChange(ctx, pool, step(2, workflows.StagePropose))
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the second attempt did not wait for the first's lock: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the second attempt never waited for the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var stage, action string
	var opps int
	if err := pool.QueryRow(ctx, `SELECT l.stage, e.action, (SELECT count(*) FROM opportunities WHERE lead_id = l.id)
		FROM leads l JOIN deal_events e ON e.lead_id = l.id AND e.seq = 2 WHERE l.id = 'OVERLAP'`).
		Scan(&stage, &action, &opps); err != nil {
		t.Fatal(err)
	}
	if stage != "Propose" || action != "edit" || opps != 0 {
		t.Errorf("after the overlapping attempts: stage %s, step 2 %q, %d opportunities; want Propose, the second's, none (rewritten)",
			stage, action, opps)
	}
}

// A step names the child rows it left as the previous step had them
// (Change.Kept): the store writes the rest and leaves those alone. A step
// written before is rewritten whole, whatever it names.
func TestKeptChildRowsAreLeftAlone(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	line := func(id, amount string) workflows.Line {
		d := decimal.RequireFromString(amount)
		return workflows.Line{ID: id, Product: "p " + id, Quantity: decimal.NewFromInt(1), UnitPrice: d, Amount: d, ExtendedAmount: d}
	}
	step := func(seq int, opp *workflows.Opportunity, kept *workflows.Kept) workflows.Change {
		return workflows.Change{
			Deal: workflows.DealHeader{ID: "KEPT", Owner: "rep1", Stage: workflows.StageDevelop, Status: workflows.StatusOpen,
				Currency: "EUR", CreatedAt: at, StageEnteredAt: at},
			Lead:        workflows.Lead{Topic: "t", Status: "Open"},
			Event:       workflows.Event{Seq: seq, At: at.Add(time.Duration(seq) * time.Minute), Actor: "rep1", Action: "edit", Accepted: true, Stage: workflows.StageDevelop},
			Opportunity: opp,
			Records:     &workflows.Records{Opportunity: opp},
			Kept:        kept,
		}
	}
	rows := func() (lines, stakeholders int, revenue string) {
		t.Helper()
		err := pool.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM opportunity_lines WHERE opportunity_id = 'OPP-KEPT'),
				(SELECT count(*) FROM opportunity_stakeholders WHERE opportunity_id = 'OPP-KEPT'),
				(SELECT estimated_revenue::text FROM opportunities WHERE id = 'OPP-KEPT')`).
			Scan(&lines, &stakeholders, &revenue)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	apply := func(ch workflows.Change) {
		t.Helper()
		if _, err := store.ApplyChange(ctx, pool, ch); err != nil {
			t.Fatal(err)
		}
	}
	dana := workflows.Stakeholder{ID: "S1", Name: "Dana", Role: "Decision Maker"}
	lee := workflows.Stakeholder{ID: "S2", Name: "Lee", Role: "Influencer"}

	apply(step(1, &workflows.Opportunity{ID: "OPP-KEPT", Name: "n", Status: "Open",
		Lines: []workflows.Line{line("L1", "100")}, Stakeholders: []workflows.Stakeholder{dana}}, nil))
	if l, s, rev := rows(); l != 1 || s != 1 || rev != "100" {
		t.Fatalf("after step 1: %d lines, %d stakeholders, revenue %s", l, s, rev)
	}

	// Step 2 says its lines are kept while they are not (a test's lie, to
	// see the store trust it): the lines stay, the stakeholders and the
	// opportunity's own row are written.
	two := &workflows.Opportunity{ID: "OPP-KEPT", Name: "n", Status: "Open",
		Lines: []workflows.Line{line("L1", "100"), line("L2", "50")}, Stakeholders: []workflows.Stakeholder{dana, lee}}
	apply(step(2, two, &workflows.Kept{OpportunityLines: true}))
	if l, s, rev := rows(); l != 1 || s != 2 || rev != "150" {
		t.Fatalf("after step 2: %d lines, %d stakeholders, revenue %s; want 1, 2, 150", l, s, rev)
	}

	// The same step again (a failed workflow task's re-run): the rewrite
	// makes every row the Records', kept or not.
	apply(step(2, two, &workflows.Kept{OpportunityLines: true}))
	if l, s, _ := rows(); l != 2 || s != 2 {
		t.Fatalf("after step 2's re-run: %d lines, %d stakeholders; want 2 and 2", l, s)
	}
}
