package apifuzz

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"

	"dealflow/internal/tests/e2e"
)

// stackEnv carries the stack's addresses from the test process to the fuzz
// workers it starts (`go test -fuzz` runs the inputs in child processes of
// the same binary, which inherit its environment): one stack for all.
const stackEnv = "DEALFLOW_APIFUZZ_STACK"

// stackInfo is what a process needs of the stack: the worker, Temporal and
// PostgreSQL run there; each process builds its own API server on them.
type stackInfo struct {
	TemporalAddress string `json:"temporalAddress"`
	Namespace       string `json:"namespace"`
	DatabaseURL     string `json:"databaseURL"`
}

var shared stackInfo

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		if err := json.Unmarshal([]byte(os.Getenv(stackEnv)), &shared); err != nil || shared.DatabaseURL == "" {
			fmt.Fprintf(os.Stderr, "FAIL: fuzz worker without %s: %v\n", stackEnv, err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	s, err := e2e.Start(context.Background(), e2e.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		if s != nil {
			fmt.Fprint(os.Stderr, s.Logs(40))
		}
		return 1
	}
	shared = stackInfo{TemporalAddress: s.TemporalAddress(), Namespace: s.Namespace(), DatabaseURL: s.DatabaseURL}
	b, _ := json.Marshal(shared)
	os.Setenv(stackEnv, string(b))
	code := m.Run()
	if code != 0 {
		fmt.Fprint(os.Stderr, s.Logs(40))
	}
	if h := current; h != nil {
		h.close()
	}
	if err := s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "apifuzz: stop the stack: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
