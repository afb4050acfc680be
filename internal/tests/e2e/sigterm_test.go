package e2e

import "testing"

func TestWorkerSIGTERMFinishesInFlightTasks(t *testing.T) { WorkerSIGTERM(t, stack) }
