package workflows

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays histories recorded from the real stack
// (`temporal workflow show --output json`, see internal/e2e's recorder)
// against today's workflow code. A change to the process that is not behind
// workflow.GetVersion fails here, before it can block running deals forever.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	// v0 histories predate the signal-raw-payloads version; v1- ones carry
	// its marker; v2- ones also apply-change-local's (ApplyChange as a local
	// activity); v3- ones also end-run-in-own-task's. All must replay.
	want := []string{"won.json", "lost.json", "revised.json", "v1-won.json", "v1-lost.json", "v1-revised.json",
		"v2-won.json", "v2-lost.json", "v2-revised.json", "v3-won.json", "v3-lost.json", "v3-revised.json"}
	for _, name := range want {
		if _, err := os.Stat(filepath.Join("testdata", "histories", name)); err != nil {
			t.Errorf("recorded history %s is missing: %v", name, err)
		}
	}
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(DealWorkflow, workflow.RegisterOptions{Name: WorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
