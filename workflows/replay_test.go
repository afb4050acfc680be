package workflows

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays histories recorded from the real stack
// (workflows/testdata/record) against today's workflow code. A change to the
// process that is not behind workflow.GetVersion fails here, before it can
// block running deals forever.
//
// It also checks that the histories are worth replaying: every GetVersion
// change in this package has a history recorded at its newest version, and
// the histories recorded at the newest versions together take every path a
// deal can take (every action as an Update and as a Signal, refusals, every
// follow-up, the retention window's end, continue-as-new). What a history
// covers is observed while it replays, not declared: an interceptor sees the
// Updates, Signals and writes the workflow code makes.
func TestReplayRecordedHistories(t *testing.T) {
	skipInShortMode(t)
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/histories")
	}
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	seen := map[string]*replayed{}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			obs := &replayed{versions: map[string]workflow.Version{}}
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				Interceptors: []interceptor.WorkerInterceptor{&replayWatcher{obs: obs}},
			})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflowWithOptions(DealWorkflow, workflow.RegisterOptions{Name: WorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
			seen[name] = obs
		})
	}
	changes, err := versionChanges(".")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("every version has a history", func(t *testing.T) {
		for _, name := range sortedKeys(seen) {
			t.Logf("%s: recorded at %s", name, seen[name].versionList(changes))
		}
		for _, c := range changes {
			if !slices.ContainsFunc(sortedKeys(seen), func(n string) bool { return seen[n].versions[c.id] == c.max }) {
				t.Errorf("no history is recorded at version %d of %q (%s): record them with workflows/testdata/record", c.max, c.id, c.pos)
			}
		}
	})
	t.Run("the newest histories take every path", func(t *testing.T) {
		var newest coverage
		n := 0
		for _, name := range sortedKeys(seen) {
			if seen[name].atNewest(changes) {
				newest.add(seen[name])
				n++
			}
		}
		if n == 0 {
			t.Fatal("no history is recorded at the newest version of every change: record them all (workflows/testdata/record)")
		}
		for _, gap := range newest.gaps() {
			t.Errorf("no history recorded at the newest versions %s: record one (workflows/testdata/record)", gap)
		}
	})
}

// replayed is what one history's replay did.
type replayed struct {
	versions  map[string]workflow.Version
	updates   []string // Update names handled
	signals   []string // Signal names received
	writes    []Change // ApplyChange inputs, in order
	fromState bool     // the run started from a carried state (continue-as-new)
	continued bool     // the run ended by continuing as new
	ended     *Deal    // the deal the run completed with, if it did
}

func (r *replayed) versionList(changes []versionChange) string {
	var parts []string
	for _, c := range changes {
		v, ok := r.versions[c.id]
		if !ok {
			parts = append(parts, c.id+"=not reached")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%d", c.id, v))
	}
	return strings.Join(parts, ", ")
}

// atNewest reports whether the history was recorded at the newest version of
// every change it reached, and reached at least one.
func (r *replayed) atNewest(changes []versionChange) bool {
	if len(r.versions) == 0 {
		return false
	}
	for _, c := range changes {
		if v, ok := r.versions[c.id]; ok && v != c.max {
			return false
		}
	}
	return true
}

// coverage is the union of what histories did.
type coverage struct {
	updates, signals, applied, refused, followups map[string]bool
	retentionEnd, continued, fromState            bool
}

func (c *coverage) add(r *replayed) {
	if c.updates == nil {
		c.updates, c.signals, c.applied, c.refused, c.followups = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	for _, u := range r.updates {
		c.updates[u] = true
	}
	for _, s := range r.signals {
		c.signals[s] = true
	}
	for _, w := range r.writes {
		switch {
		case strings.HasPrefix(w.Event.Action, "followup:"):
			c.followups[strings.TrimPrefix(w.Event.Action, "followup:")] = true
		case w.Event.Accepted:
			c.applied[w.Event.Action] = true
		default:
			c.refused[w.Event.Action] = true
		}
	}
	// A run that completes short of Paid was ended by its retention window.
	if r.ended != nil && r.ended.Stage != StagePaid {
		c.retentionEnd = true
	}
	c.continued = c.continued || r.continued
	c.fromState = c.fromState || r.fromState
}

// gaps lists the paths no history took.
func (c *coverage) gaps() []string {
	var out []string
	for _, a := range Actions {
		if !c.applied[string(a)] {
			out = append(out, fmt.Sprintf("applies %s", a))
		}
		if !c.updates[string(a)] {
			out = append(out, fmt.Sprintf("takes %s as an Update", a))
		}
		if !c.signals[string(a)] {
			out = append(out, fmt.Sprintf("takes %s as a Signal", a))
		}
	}
	if !c.updates[UpdateCreated] {
		out = append(out, "answers the created Update (Update-with-Start)")
	}
	if len(c.refused) == 0 {
		out = append(out, "records a refused action")
	}
	for _, k := range []string{KindLeadReminder, KindLeadEscalation, KindStageNudge, KindQuoteExpiring, KindQuoteExpired,
		KindInvoiceDue, KindInvoiceOverdue, KindReengage, KindThankYou} {
		if !c.followups[k] {
			out = append(out, "fires the follow-up "+k)
		}
	}
	if !c.retentionEnd {
		out = append(out, "ends at the retention window")
	}
	if !c.continued {
		out = append(out, "continues as new")
	}
	if !c.fromState {
		out = append(out, "starts a run from a carried state")
	}
	return out
}

// replayWatcher records what the workflow does while a history replays.
type replayWatcher struct {
	interceptor.WorkerInterceptorBase
	obs *replayed
}

func (w *replayWatcher) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &watchInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, obs: w.obs}
}

type watchInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	obs *replayed
}

func (w *watchInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return w.Next.Init(&watchOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, obs: w.obs})
}

func (w *watchInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	if len(in.Args) > 0 {
		if nl, ok := in.Args[0].(NewLead); ok && nl.State != nil {
			w.obs.fromState = true
		}
	}
	res, err := w.Next.ExecuteWorkflow(ctx, in)
	var can *workflow.ContinueAsNewError
	switch {
	case errors.As(err, &can):
		w.obs.continued = true
	case err == nil:
		if d, ok := res.(*Deal); ok {
			w.obs.ended = d
		}
	}
	return res, err
}

func (w *watchInbound) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	w.obs.signals = append(w.obs.signals, in.SignalName)
	return w.Next.HandleSignal(ctx, in)
}

func (w *watchInbound) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	w.obs.updates = append(w.obs.updates, in.Name)
	return w.Next.ExecuteUpdate(ctx, in)
}

type watchOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	obs *replayed
}

func (w *watchOutbound) GetVersion(ctx workflow.Context, changeID string, minSupported, maxSupported workflow.Version) workflow.Version {
	v := w.Next.GetVersion(ctx, changeID, minSupported, maxSupported)
	w.obs.versions[changeID] = v
	return v
}

func (w *watchOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	w.write(args)
	return w.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

func (w *watchOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	w.write(args)
	return w.Next.ExecuteActivity(ctx, activityType, args...)
}

func (w *watchOutbound) write(args []any) {
	if len(args) > 0 {
		if ch, ok := args[0].(Change); ok {
			w.obs.writes = append(w.obs.writes, ch)
		}
	}
}

// versionChange is one workflow.GetVersion call in this package's code.
type versionChange struct {
	id  string
	max workflow.Version
	pos string
}

// versionChanges finds every workflow.GetVersion call in the package's
// non-test files; each must name its change and newest version literally.
func versionChanges(dir string) ([]versionChange, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var out []versionChange
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			return nil, err
		}
		var bad error
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "GetVersion" || len(call.Args) != 4 {
				return true
			}
			pos := fset.Position(call.Pos()).String()
			id, ok1 := call.Args[1].(*ast.BasicLit)
			max, ok2 := call.Args[3].(*ast.BasicLit)
			if !ok1 || !ok2 || id.Kind != token.STRING || max.Kind != token.INT {
				bad = fmt.Errorf("%s: GetVersion must name its change id and newest version as literals, so that this test can find them", pos)
				return false
			}
			s, _ := strconv.Unquote(id.Value)
			m, _ := strconv.Atoi(max.Value)
			out = append(out, versionChange{id: s, max: workflow.Version(m), pos: pos})
			return true
		})
		if bad != nil {
			return nil, bad
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no GetVersion call found: is the package's source beside the test?")
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
