package deploy

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dealflow/internal/config"
)

var update = flag.Bool("update", false, "rewrite the configuration table in README.md from internal/config")

const (
	tableBegin = "<!-- config:begin -->\n"
	tableEnd   = "<!-- config:end -->"
)

// configTable renders config.All as the README's Markdown table.
func configTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, v := range config.All {
		def := "(empty)"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		b.WriteString("| `" + v.Name + "` | " + def + " | " + strings.ReplaceAll(v.Usage, "|", `\|`) + " |\n")
	}
	return b.String()
}

// TestREADMEConfigTable keeps the README's table of environment variables
// equal to internal/config; run with -update to rewrite it.
func TestREADMEConfigTable(t *testing.T) {
	path := filepath.Join("..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, tableBegin)
	j := strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q section", strings.TrimSpace(tableBegin), tableEnd)
	}
	got, want := readme[i+len(tableBegin):j], configTable()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme[:i+len(tableBegin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's configuration table differs from internal/config; run `go test ./deploy -run TestREADME -update`.\nwant:\n%s\ngot:\n%s", want, got)
}
