// Package devstack runs the dealflow stack on one machine from source: it
// builds the Temporal CLI (the dev server with its embedded Web UI) and the
// app binaries, starts them as child processes in their own process groups
// with logs in files, waits until they answer, and stops them so that nothing
// is left behind. cmd/stack (`make up`) and the end-to-end test harness
// (internal/tests/e2e) are both built on it.
package devstack

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the module path of the repository root's go.mod.
const ModulePath = "dealflow"

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory whose go.mod declares `module dealflow`.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	return RepoRootFrom(wd)
}

// RepoRootFrom is RepoRoot starting at dir.
func RepoRootFrom(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if modulePath(filepath.Join(d, "go.mod")) == ModulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("find repo root: no go.mod with `module %s` at or above %s", ModulePath, dir)
		}
	}
}

// modulePath reads the module directive of a go.mod, or "" when there is none.
func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != line {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// DevDir is the git-ignored folder of local stack data under the repo root.
func DevDir(root string) string { return filepath.Join(root, ".dev") }

// TemporalCLIPath is where the Temporal CLI is built: .dev/bin/temporal.
func TemporalCLIPath(root string) string { return filepath.Join(DevDir(root), "bin", "temporal") }

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil || !errors.Is(err, os.ErrNotExist)
}
