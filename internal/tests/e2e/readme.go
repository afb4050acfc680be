package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ReadmeSessionWants are strings the README's curl session prints when it
// takes its deal from lead to paid invoice.
var ReadmeSessionWants = []string{`"stage": "Paid"`, `"status": "Paid"`, `"paidAmount": "47500"`, "record_payment"}

// RunReadmeCurlSession runs the curl session of README.md (the ```sh block
// after `<!-- e2e: curl session -->`), as written, against the stack with
// its rep and manager tokens, and returns what it printed. The session
// fails on the first command that fails.
func (s *Stack) RunReadmeCurlSession(ctx context.Context) ([]byte, error) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("the README's curl session needs %s: %w", tool, err)
		}
	}
	doc, err := os.ReadFile(filepath.Join(s.Root, "README.md"))
	if err != nil {
		return nil, err
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- e2e: curl session -->\n```sh\n")
	script, _, ok2 := strings.Cut(rest, "\n```")
	if !ok || !ok2 {
		return nil, errors.New("README.md has no ```sh block after <!-- e2e: curl session -->")
	}
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "API="+s.APIURL, "REP_TOKEN="+s.RepToken, "MANAGER_TOKEN="+s.ManagerToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("the curl session failed: %w\n%s", err, out)
	}
	return out, nil
}
