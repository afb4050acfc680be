package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The curl session of README.md runs, as written, against the stack and
// takes a deal from lead to paid invoice.
func TestAPIReadmeCurlSession(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README's curl session needs %s: %v", tool, err)
		}
	}
	doc, err := os.ReadFile(filepath.Join(stack.Root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- e2e: curl session -->\n```sh\n")
	script, _, ok2 := strings.Cut(rest, "\n```")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```sh block after <!-- e2e: curl session -->")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "API="+stack.APIURL, "REP_TOKEN="+stack.RepToken, "MANAGER_TOKEN="+stack.ManagerToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the curl session failed: %v\n%s", err, out)
	}
	for _, want := range []string{`"stage": "Paid"`, `"status": "Paid"`, `"paidAmount": "47500"`, "record_payment"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the session's output lacks %s:\n%s", want, out)
		}
	}
	t.Logf("curl session:\n%s", out)
}
