package pgcluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindBinariesFallback(t *testing.T) {
	notOnPath := func(string) (string, error) { return "", errors.New("not found") }

	// Nothing installed: the error says what to install.
	_, err := findBinaries(notOnPath, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `Debian package "postgresql"`) {
		t.Fatalf("err = %v, want one naming the Debian package", err)
	}

	// Several versions: the newest, compared as numbers.
	lib := t.TempDir()
	for _, v := range []string{"9.6", "15", "16", "17"} {
		bin := filepath.Join(lib, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		names := []string{"initdb", "pg_ctl"}
		if v == "17" {
			names = names[:1] // incomplete install: skipped
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(bin, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := findBinaries(notOnPath, lib)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(lib, "16", "bin"); got != want {
		t.Fatalf("found %s, want %s", got, want)
	}
}
