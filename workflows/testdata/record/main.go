// Command record drives three deals (won, lost, revised quote) through a
// running stack with the Temporal client and saves their histories as JSON
// for the replay test. Run it against the stack of `make up`:
//
//	go run ./workflows/testdata/record -out workflows/testdata/histories
//
// It lives under testdata so `go build ./...` and `go vet ./...` skip it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"dealflow/workflows"
)

func main() {
	addr := flag.String("temporal", "127.0.0.1:7233", "Temporal frontend")
	out := flag.String("out", "workflows/testdata/histories", "output folder")
	prefix := flag.String("prefix", "", "file name prefix, e.g. v1- for histories of a newer workflow version")
	flag.Parse()
	c, err := client.Dial(client.Options{HostPort: *addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	suffix := time.Now().UTC().Format("20060102150405")
	for name, script := range scripts() {
		id := "record-" + name + "-" + suffix
		if err := drive(ctx, c, id, script); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		if err := save(ctx, c, id, filepath.Join(*out, *prefix+name+".json")); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		fmt.Println("recorded", name, id)
	}
}

type step struct {
	act workflows.Action
	cmd any
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }
func s(v string) *string         { return &v }

func scripts() map[string][]step {
	develop := []step{
		{workflows.ActEditLead, workflows.EditLead{Rating: s("Hot")}},
		{workflows.ActQualify, workflows.Qualify{}},
		{workflows.ActEditOpportunity, workflows.EditOpportunity{CustomerNeed: s("faster month-end close"), ProposedSolution: s("hosted ledger")}},
		{workflows.ActAddStakeholder, workflows.AddStakeholder{Name: "Dana Fox", Role: "Decision Maker"}},
		{workflows.ActAddCompetitor, workflows.AddCompetitor{Name: "Fabrikam"}},
		{workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Ledger seat", Quantity: d("25"), UnitPrice: d("480.00"), Tax: d2("960")}}},
		{workflows.ActPropose, workflows.Propose{PaymentTerms: "Net 30"}},
		{workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 1}},
	}
	join := func(a []step, b ...step) []step { return append(append([]step{}, a...), b...) }
	return map[string][]step{
		"won": join(develop,
			step{workflows.ActClose, workflows.Close{Outcome: "won"}},
			step{workflows.ActFulfillOrder, workflows.FulfillOrder{}},
			step{workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("5000")}},
			step{workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("7960")}}),
		"lost": join(develop,
			step{workflows.ActClose, workflows.Close{Outcome: "lost", Reason: "Out-Sold", Competitor: "Fabrikam"}}),
		"revised": join(develop,
			step{workflows.ActReviseQuote, workflows.ReviseQuote{Revision: 1}},
			step{workflows.ActEditQuote, workflows.EditQuote{Revision: 2, Lines: &[]workflows.LineInput{{Product: "Ledger seat", Quantity: d("30"), UnitPrice: d("450")}}}},
			step{workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 2}},
			step{workflows.ActClose, workflows.Close{Outcome: "won"}},
			step{workflows.ActCancelOrder, workflows.CancelOrder{Reason: "customer merged with another"}}),
	}
}

func d2(v string) *decimal.Decimal { x := d(v); return &x }

func drive(ctx context.Context, c client.Client, id string, steps []step) error {
	p := workflows.DefaultPolicy()
	// Short timers so every deal ends within seconds.
	p.ThankYouAfter, p.ReengageAfter, p.Retention = time.Second, time.Second, 3*time.Second
	in := workflows.NewLead{ID: id, Owner: "rep@example.com", Manager: "manager@example.com", Currency: "USD", Policy: &p,
		Lead: workflows.LeadFields{Topic: "Ledger for " + id, FirstName: "Pat", LastName: "Lee", Company: "Contoso " + id,
			Email: "pat@contoso.example", Source: "Web", Budget: d2("20000"), PurchaseTimeframe: "This Quarter", DecisionMakerIdentified: true}}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.WorkflowID(id), TaskQueue: workflows.TaskQueue,
		TypedSearchAttributes: workflows.StartSearchAttributes(in), StaticSummary: workflows.Summary(in),
	}, workflows.WorkflowName, in)
	if err != nil {
		return err
	}
	for i, st := range steps {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: run.GetID(), UpdateName: string(st.act), Args: []any{st.cmd},
			UpdateID: fmt.Sprintf("%s-%d", id, i), WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err != nil {
			return fmt.Errorf("step %d %s: %w", i, st.act, err)
		}
		if err := h.Get(ctx, nil); err != nil {
			return fmt.Errorf("step %d %s: %w", i, st.act, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return run.Get(ctx, nil)
}

func save(ctx context.Context, c client.Client, id, path string) error {
	it := c.GetWorkflowHistory(ctx, workflows.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
