package codec

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"dealflow/workflows"
)

// TestWorkerWithKeysReplaysEveryHistory replays the recorded histories
// (workflows/testdata/histories, recorded before encryption) on a worker
// configured as the worker binary is with a key, as it does when a deal's
// workflow is evicted from its cache: the plain histories as they are, and
// the same histories with every payload encrypted as a worker with the key
// now writes them.
func TestWorkerWithKeysReplaysEveryHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("replays every recorded history twice")
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "workflows", "testdata", "histories", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	k := keyring(t, ptr(key("k2", 2)), key("k1", 1))
	writer := keyring(t, ptr(key("k1", 1))) // an older key wrote the encrypted copies
	dc := DataConverter(k)
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			h, err := client.HistoryFromJSON(mustOpen(t, f), client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			encrypted := encryptHistory(t, writer, h)
			for name, hist := range map[string]*historypb.History{"plain": h, "encrypted": encrypted} {
				r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
					DataConverter: dc, FailureConverter: FailureConverter(dc),
				})
				if err != nil {
					t.Fatal(err)
				}
				r.RegisterWorkflowWithOptions(workflows.DealWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
				if err := r.ReplayWorkflowHistory(logger, hist); err != nil {
					t.Errorf("replay the %s history: %v", name, err)
				}
			}
			// The test has teeth: without the key that wrote them, the
			// encrypted copies do not replay.
			other := DataConverter(keyring(t, ptr(key("k2", 2))))
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: other})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflowWithOptions(workflows.DealWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
			if err := r.ReplayWorkflowHistory(logger, encrypted); err == nil {
				t.Error("the encrypted history replayed without its key")
			}
		})
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// encryptHistory returns h with every payload but the search attributes
// encrypted by k, and checks that some were.
func encryptHistory(t *testing.T, k *Keyring, h *historypb.History) *historypb.History {
	t.Helper()
	enc := &historypb.History{}
	for _, e := range h.Events {
		enc.Events = append(enc.Events, cloneEvent(e))
	}
	err := proxy.VisitPayloads(context.Background(), enc, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return k.Encode(ps)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := EncryptedPayloads(context.Background(), enc); n == 0 {
		t.Fatal("no payload to encrypt in the history")
	}
	return enc
}

func cloneEvent(e *historypb.HistoryEvent) *historypb.HistoryEvent {
	return proto.Clone(e).(*historypb.HistoryEvent)
}
