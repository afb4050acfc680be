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
// its sources (tools/go.mod, tools/go.sum, tools/cmd/temporal/*.go); see
// ensureBinary for the stamp, the user-cache copy and the lock. Only a cold
// machine pays the full build (about 13 minutes on 2 cores). Progress and the
// go command's output go to progress (may be nil).
func EnsureTemporalCLI(ctx context.Context, root, dst string, progress io.Writer) error {
	return ensureBinary(ctx, toolBinary{
		label:     "temporal cli",
		module:    filepath.Join(root, "tools"),
		pkg:       "./cmd/temporal",
		sources:   []string{"cmd/temporal/*.go"},
		dst:       dst,
		cacheName: "temporal",
		coldTime:  "~13 min",
	}, progress)
}

// ServerBinaries are the Temporal server's programs, built from tools/server.
type ServerBinaries struct {
	// Server is go.temporal.io/server/cmd/server (temporal-server).
	Server string
	// SQLTool is go.temporal.io/server/cmd/tools/sql (temporal-sql-tool).
	SQLTool string
	// UIServer is github.com/temporalio/ui-server/v2/cmd/server, the Web UI
	// with its assets embedded.
	UIServer string
}

// ServerBinariesIn returns where EnsureTemporalServer puts the binaries in binDir.
func ServerBinariesIn(binDir string) ServerBinaries {
	return ServerBinaries{
		Server:   filepath.Join(binDir, "temporal-server"),
		SQLTool:  filepath.Join(binDir, "temporal-sql-tool"),
		UIServer: filepath.Join(binDir, "temporal-ui-server"),
	}
}

// EnsureTemporalServer makes sure binDir holds the Temporal server, its SQL
// schema tool and the Web UI server built from the tools/server module of the
// repository at root (its go.mod pins them), building each one that is
// missing or stale like EnsureTemporalCLI. The three are built one after the
// other, so the later ones reuse the packages the first compiled; a cold
// build of all three takes about 10 minutes on 2 cores.
func EnsureTemporalServer(ctx context.Context, root, binDir string, progress io.Writer) (ServerBinaries, error) {
	bins := ServerBinariesIn(binDir)
	module := filepath.Join(root, "tools", "server")
	for _, b := range []toolBinary{
		{label: "temporal server", pkg: "go.temporal.io/server/cmd/server", dst: bins.Server, coldTime: "~9 min"},
		{label: "temporal sql tool", pkg: "go.temporal.io/server/cmd/tools/sql", dst: bins.SQLTool, coldTime: "~30 s after the server"},
		{label: "temporal ui server", pkg: "github.com/temporalio/ui-server/v2/cmd/server", dst: bins.UIServer, coldTime: "~30 s after the server"},
	} {
		b.module = module
		b.cacheName = filepath.Base(b.dst)
		if err := ensureBinary(ctx, b, progress); err != nil {
			return ServerBinaries{}, err
		}
	}
	return bins, nil
}

// toolBinary is one binary built from a module under tools/.
type toolBinary struct {
	label  string // for messages: "temporal cli"
	module string // the module's folder
	pkg    string // what `go build` builds in it
	// sources are globs, relative to module, hashed with its go.mod and
	// go.sum into the binary's key; each must match a file.
	sources []string
	dst     string
	// cacheName names the user-cache copy: cacheName-KEY.
	cacheName string
	coldTime  string // how long a cold build takes, for the progress line
}

// ensureBinary makes sure b.dst holds b's binary built from its sources, and
// builds it when it is missing or older than them. A stamp beside dst records
// the sources it was built from, so a binary that is older than a freshly
// checked-out go.mod but built from the same sources is kept. A copy is also
// kept in the user cache directory, keyed by the sources: a fresh clone on the
// same machine (CI) copies it in a second instead of linking it again.
// Concurrent callers (parallel test packages) are serialised by a lock file
// next to dst.
func ensureBinary(ctx context.Context, b toolBinary, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	key, newest, err := pinsKey(b.module, b.sources)
	if err != nil {
		return fmt.Errorf("%s: %w", b.label, err)
	}
	if err := os.MkdirAll(filepath.Dir(b.dst), 0o755); err != nil {
		return fmt.Errorf("%s: %w", b.label, err)
	}
	unlock, err := lockFile(ctx, b.dst+".lock", progress)
	if err != nil {
		return fmt.Errorf("%s: %w", b.label, err)
	}
	defer unlock()

	stamp := b.dst + ".stamp"
	cached := cachedBinaryPath(b.cacheName, key)
	if binaryFresh(b.dst, key, newest) {
		if err := os.WriteFile(stamp, []byte(key), 0o644); err != nil {
			return fmt.Errorf("%s: %w", b.label, err)
		}
		if cached != "" && !fileExists(cached) {
			storeInCache(b.dst, cached, b.cacheName)
		}
		return nil
	}

	if cached != "" && fileExists(cached) {
		if err := placeFile(cached, b.dst); err == nil {
			fmt.Fprintf(progress, "%s: copied from %s\n", b.label, cached)
			return os.WriteFile(stamp, []byte(key), 0o644)
		}
	}

	fmt.Fprintf(progress, "%s: building %s from %s in %s (a cold build takes %s on 2 cores)\n", b.label, b.dst, b.pkg, b.module, b.coldTime)
	start := time.Now()
	tmp := fmt.Sprintf("%s.tmp-%d", b.dst, os.Getpid())
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, b.pkg)
	cmd.Dir = b.module
	// Never let a go.work join a tools module with the app's: the server
	// does not compile against the app's newer SDK and API.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: go build %s in %s: %w", b.label, b.pkg, b.module, err)
	}
	if err := os.Rename(tmp, b.dst); err != nil {
		return fmt.Errorf("%s: %w", b.label, err)
	}
	fmt.Fprintf(progress, "%s: built in %s\n", b.label, time.Since(start).Round(time.Second))
	if err := os.WriteFile(stamp, []byte(key), 0o644); err != nil {
		return fmt.Errorf("%s: %w", b.label, err)
	}
	if cached != "" {
		storeInCache(b.dst, cached, b.cacheName)
	}
	return nil
}

// binaryFresh reports whether the binary at dst was built from the sources:
// its stamp records key or, when it has no stamp, it is not older than the
// newest source file. A stamp with another key means other sources, however
// new the binary (a source file deleted or copied with its old time changes
// the key but not the newest time).
func binaryFresh(dst, key string, newest time.Time) bool {
	fi, err := os.Stat(dst)
	if err != nil {
		return false
	}
	if old, err := os.ReadFile(dst + ".stamp"); err == nil {
		return string(old) == key
	}
	return !fi.ModTime().Before(newest)
}

// pinsKey hashes a binary's sources in module (go.mod, go.sum and the files
// the globs match) and returns the newest of their modification times.
func pinsKey(module string, globs []string) (key string, newest time.Time, err error) {
	names := []string{"go.mod", "go.sum"}
	for _, g := range globs {
		matches, err := filepath.Glob(filepath.Join(module, g))
		if err != nil {
			return "", time.Time{}, err
		}
		if len(matches) == 0 {
			return "", time.Time{}, fmt.Errorf("no %s in %s", g, module)
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(module, m)
			names = append(names, rel)
		}
	}
	h := sha256.New()
	for _, name := range names {
		p := filepath.Join(module, name)
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
	return hex.EncodeToString(h.Sum(nil))[:keyLen], newest, nil
}

// keyLen is the length of a pins key (hex digits).
const keyLen = 16

// cachedBinaryPath is the user-cache copy of binary name built from the pins
// key, or "" when the machine has no user cache directory.
func cachedBinaryPath(name, key string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "dealflow", name+"-"+key)
}

// storeInCache copies a built binary into the cache and drops the copies of
// the same binary built from other pins (each is 60 to 250 MB). Best effort:
// the cache is only a speed-up.
func storeInCache(src, cached, name string) {
	dir := filepath.Dir(cached)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	olds, _ := filepath.Glob(filepath.Join(dir, name+"-*"))
	for _, old := range olds {
		// name-KEY only: "temporal-*" also matches temporal-server-KEY.
		suffix := strings.TrimPrefix(filepath.Base(old), name+"-")
		if old != cached && isKey(suffix) {
			os.Remove(old)
		}
	}
	_ = placeFile(src, cached)
}

// isKey reports whether s has the form of a pins key.
func isKey(s string) bool {
	if len(s) != keyLen {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
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
