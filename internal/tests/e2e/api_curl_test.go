package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The curl session of README.md runs, as written, against the stack and
// takes a deal from lead to paid invoice.
func TestAPIReadmeCurlSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := stack.RunReadmeCurlSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range ReadmeSessionWants {
		if !strings.Contains(string(out), want) {
			t.Errorf("the session's output lacks %s:\n%s", want, out)
		}
	}
	t.Logf("curl session:\n%s", out)
}
