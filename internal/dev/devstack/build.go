package devstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// EnsureTemporalCLI makes sure dst holds the Temporal CLI built from the tools/
// module of the repository at root (tools/cmd/temporal: the pinned CLI plus
// our dev-database command), and builds it when it is missing or older than
// its sources (tools/go.mod, tools/go.sum, tools/cmd/temporal/*.go). A stamp
// beside dst records the sources it was built from, so a binary that is older
// than a freshly checked-out go.mod but built from the same sources is kept. A
// copy is also kept in the user cache directory, keyed by the sources: a fresh
// clone on the same machine (CI) copies it in a second instead of linking it
// again, and only a cold machine pays the full build (about 13 minutes on 2
// cores). Progress and the go command's output go to progress (may be nil).
// Concurrent callers (parallel test packages) are serialised by a lock file
// next to dst.
func EnsureTemporalCLI(ctx context.Context, root, dst string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	tools := filepath.Join(root, "tools")
	key, newest, err := pinsKey(tools)
	if err != nil {
		return fmt.Errorf("temporal cli: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("temporal cli: %w", err)
	}
	unlock, err := lockFile(ctx, dst+".lock", progress)
	if err != nil {
		return fmt.Errorf("temporal cli: %w", err)
	}
	defer unlock()

	stamp := dst + ".stamp"
	cached := cachedCLIPath(key)
	if cliFresh(dst, key, newest) {
		if err := os.WriteFile(stamp, []byte(key), 0o644); err != nil {
			return fmt.Errorf("temporal cli: %w", err)
		}
		if cached != "" && !fileExists(cached) {
			storeInCache(dst, cached)
		}
		return nil
	}

	if cached != "" && fileExists(cached) {
		if err := placeFile(cached, dst); err == nil {
			fmt.Fprintf(progress, "temporal cli: copied from %s\n", cached)
			return os.WriteFile(stamp, []byte(key), 0o644)
		}
	}

	fmt.Fprintf(progress, "temporal cli: building %s from tools/cmd/temporal (a cold build takes ~13 min on 2 cores)\n", dst)
	start := time.Now()
	tmp := fmt.Sprintf("%s.tmp-%d", dst, os.Getpid())
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "./cmd/temporal")
	cmd.Dir = tools
	// Never let a go.work join the tools module with the app's: the server
	// does not compile against the app's newer SDK and API.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("temporal cli: go build in %s: %w", tools, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("temporal cli: %w", err)
	}
	fmt.Fprintf(progress, "temporal cli: built in %s\n", time.Since(start).Round(time.Second))
	if err := os.WriteFile(stamp, []byte(key), 0o644); err != nil {
		return fmt.Errorf("temporal cli: %w", err)
	}
	if cached != "" {
		storeInCache(dst, cached)
	}
	return nil
}

// cliFresh reports whether the binary at dst was built from the sources: its
// stamp records key or, when it has no stamp, it is not older than the newest
// source file. A stamp with another key means other sources, however new the
// binary (a source file deleted or copied with its old time changes the key
// but not the newest time).
func cliFresh(dst, key string, newest time.Time) bool {
	fi, err := os.Stat(dst)
	if err != nil {
		return false
	}
	if old, err := os.ReadFile(dst + ".stamp"); err == nil {
		return string(old) == key
	}
	return !fi.ModTime().Before(newest)
}

// pinsKey hashes the CLI's sources in tools/ (go.mod, go.sum and the main
// package) and returns the newest of their modification times.
func pinsKey(tools string) (key string, newest time.Time, err error) {
	mains, err := filepath.Glob(filepath.Join(tools, "cmd", "temporal", "*.go"))
	if err != nil {
		return "", time.Time{}, err
	}
	if len(mains) == 0 {
		return "", time.Time{}, fmt.Errorf("no cmd/temporal/*.go in %s", tools)
	}
	names := []string{"go.mod", "go.sum"}
	for _, m := range mains {
		rel, _ := filepath.Rel(tools, m)
		names = append(names, rel)
	}
	h := sha256.New()
	for _, name := range names {
		p := filepath.Join(tools, name)
		b, err := os.ReadFile(p)
		if err != nil {
			return "", time.Time{}, err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return "", time.Time{}, err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], newest, nil
}

// cachedCLIPath is the user-cache copy of the CLI built from the pins key, or
// "" when the machine has no user cache directory.
func cachedCLIPath(key string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "dealflow", "temporal-"+key)
}

// storeInCache copies the built CLI into the cache and drops copies built from
// other pins (each is ~250 MB). Best effort: the cache is only a speed-up.
func storeInCache(src, cached string) {
	dir := filepath.Dir(cached)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	olds, _ := filepath.Glob(filepath.Join(dir, "temporal-*"))
	for _, old := range olds {
		if old != cached {
			os.Remove(old)
		}
	}
	_ = placeFile(src, cached)
}

// placeFile puts a copy of src at dst atomically: a byte copy (never a hard
// link, so that writing one in place cannot change the other), then a rename.
func placeFile(src, dst string) error {
	tmp := fmt.Sprintf("%s.tmp-%d", dst, os.Getpid())
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel
// the wait, and returns the unlock function.
func lockFile(ctx context.Context, path string, progress io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !said {
			fmt.Fprintf(progress, "waiting for another build holding %s\n", path)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// AppBinaries are the paths of the built app binaries.
type AppBinaries struct {
	Worker string
	API    string
}

// BuildApp builds the worker and api binaries of the repository at root into
// outDir with one go command (so they share compiled packages) and returns
// their paths. The go command's output is included in the error.
func BuildApp(ctx context.Context, root, outDir string) (AppBinaries, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return AppBinaries{}, fmt.Errorf("build app: %w", err)
	}
	if err := GoBuild(ctx, root, outDir+string(filepath.Separator), "./worker", "./api"); err != nil {
		return AppBinaries{}, fmt.Errorf("build app: %w", err)
	}
	return AppBinaries{Worker: filepath.Join(outDir, "worker"), API: filepath.Join(outDir, "api")}, nil
}

// GoBuild runs `go build -o out pkgs...` in dir, with go.work disabled.
func GoBuild(ctx context.Context, dir, out string, pkgs ...string) error {
	args := append([]string{"build", "-o", out}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(buf.String()))
	}
	return nil
}
