package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/client"

	"dealflow/internal/deals"
	"dealflow/workflows"
)

// parkDeals starts n deals through deals.Start (as the API and the importer
// do), with the default policy, and waits until every one has written its
// lead and sits in Qualify waiting on its reminder timer. It returns their
// lead ids.
func parkDeals(ctx context.Context, tc client.Client, who people, runID string, n, conc int, progress io.Writer) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("idle-%s-%d", runID, i)
	}
	budget := decimal.NewFromInt(60000)
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		ticker = newTicker(progress, "idle: started", n)
	)
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				in := workflows.NewLead{ID: ids[i], Owner: who.Owner, Manager: who.Manager, CreatedBy: who.Owner,
					Lead: workflows.LeadFields{Topic: "parked lead", FirstName: "Ada", LastName: "Lovelace",
						Company: "Acme Corp", Email: "ada@acme.example", Source: "Web", Budget: &budget}}
				if _, err := deals.Start(ctx, tc, in); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				ticker.done()
			}
		})
	}
	wg.Wait()
	ticker.stop()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d of %d starts failed, e.g. %w", len(errs), n, errs[0])
	}
	if err := waitParked(ctx, tc, ids, progress); err != nil {
		return nil, err
	}
	return ids, nil
}

// waitParked describes every deal until none has a workflow task or an
// activity pending: each has written its lead and waits on its timer.
func waitParked(ctx context.Context, tc client.Client, ids []string, progress io.Writer) error {
	pending := ids
	deadline := time.Now().Add(30 * time.Minute)
	for len(pending) > 0 {
		var (
			mu   sync.Mutex
			left []string
			wg   sync.WaitGroup
			work = make(chan string)
			bad  error
		)
		for range 16 {
			wg.Go(func() {
				for id := range work {
					d, err := tc.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
					mu.Lock()
					switch {
					case err != nil:
						bad = err
						left = append(left, id)
					case d.GetPendingWorkflowTask() != nil || len(d.GetPendingActivities()) > 0:
						left = append(left, id)
					case d.GetWorkflowExecutionInfo().GetCloseTime() != nil:
						bad = fmt.Errorf("parked deal %s ended: %s", id, d.GetWorkflowExecutionInfo().GetStatus())
					}
					mu.Unlock()
				}
			})
		}
		for _, id := range pending {
			work <- id
		}
		close(work)
		wg.Wait()
		if bad != nil && len(left) == len(pending) {
			return bad
		}
		if len(left) > 0 {
			fmt.Fprintf(progress, "idle: %d of %d deals not parked yet\n", len(left), len(ids))
			if time.Now().After(deadline) {
				return fmt.Errorf("%d deals not parked after 30 minutes", len(left))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Second):
			}
		}
		pending = left
	}
	return nil
}

// idleActions edits the lead of k random parked deals through the API, one
// after another, and returns the latencies and the workflow IDs acted on.
func idleActions(ctx context.Context, a *api, token string, ids []string, k int) (*latencies, []string) {
	lat := newLatencies()
	var acted []string
	for j := range k {
		id := ids[rand.IntN(len(ids))]
		acted = append(acted, workflows.WorkflowID(id))
		t := time.Now()
		body := map[string]any{"jobTitle": fmt.Sprintf("Buyer %d", j)}
		if _, err := a.do(ctx, lat, "edit_lead", http.MethodPatch, "/v1/leads/"+id, token, body, ""); err != nil {
			lat.fail("edit_lead")
			continue
		}
		lat.add("edit_lead", time.Since(t))
	}
	return lat, acted
}
