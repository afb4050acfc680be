// Package pgcluster runs a throwaway PostgreSQL cluster from the server
// binaries installed on the machine (initdb, pg_ctl): one per test process,
// and the one the local dev stack keeps its data in.
//
// PostgreSQL refuses to run as root, and sessions and CI run as root: then the
// data folder is handed to the postgres user and every command runs through
// `runuser -u postgres --`. Unprivileged, the same commands run directly.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Superuser is the role initdb creates; trust authentication lets it in
// without a password from 127.0.0.1 and the socket in the data folder.
const Superuser = "postgres"

// debianPackage is what to install when no server binaries are found.
const debianPackage = "postgresql"

// Options configure Start.
type Options struct {
	// Dir is the data folder. It is created and initialised when it holds no
	// cluster yet, and reused as it is otherwise, so a second run of the dev
	// stack keeps its data.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Ephemeral trades safety against a machine crash for speed (initdb
	// without sync, fsync and full-page writes off): for test clusters whose
	// data dies with the process. Commits still reach the kernel before they
	// return, so a server crash (StopImmediate) loses nothing committed.
	Ephemeral bool
	// Settings are extra server settings, passed as -c name=value.
	Settings map[string]string
}

// Cluster is a running (or stopped) PostgreSQL cluster.
type Cluster struct {
	// Dir is the absolute data folder; the server's log is Dir/log and its
	// Unix socket lives in Dir as well.
	Dir string
	// Port is the TCP port the server listens on at 127.0.0.1.
	Port int

	bin       string   // folder holding initdb and pg_ctl
	runAs     string   // "postgres" when we are root, else ""
	ephemeral bool     // see Options.Ephemeral
	settings  []string // "name=value", sorted
}

// FindBinaries returns the folder that holds initdb and pg_ctl: the one on
// PATH, else the newest /usr/lib/postgresql/<version>/bin.
func FindBinaries() (string, error) {
	return findBinaries(exec.LookPath, "/usr/lib/postgresql")
}

func findBinaries(lookPath func(string) (string, error), libDir string) (string, error) {
	if p, err := lookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(libDir, "*", "bin"))
	// Newest version first: compare the version folder numerically, so 9.6
	// sorts below 16.
	sort.Slice(dirs, func(i, j int) bool {
		return versionKey(dirs[i]) > versionKey(dirs[j])
	})
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pgcluster: PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin; install the Debian package %q (apt-get install %s)", debianPackage, debianPackage)
}

func versionKey(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start initialises opts.Dir when needed and starts the server, waiting until
// it accepts connections. A server still running on the same folder (left by a
// killed process) is adopted when its port fits opts.Port; a stale
// postmaster.pid is removed.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: data folder %q: %w", opts.Dir, err)
	}
	if strings.ContainsAny(dir, "'\n") {
		// pg_ctl hands -o to a shell; keep quoting simple and safe.
		return nil, fmt.Errorf("pgcluster: data folder %q must not contain quotes or newlines", dir)
	}
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Port: opts.Port, bin: bin, ephemeral: opts.Ephemeral}
	for k, v := range opts.Settings {
		c.settings = append(c.settings, k+"="+v)
	}
	slices.Sort(c.settings)
	if os.Geteuid() == 0 {
		c.runAs = Superuser
	}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	if !exists(filepath.Join(dir, "PG_VERSION")) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	if adopted, err := c.handleLeftover(ctx, opts.Port); err != nil {
		return nil, err
	} else if adopted {
		return c, nil
	}
	if err := c.start(ctx, opts.Port == 0); err != nil {
		return nil, err
	}
	return c, nil
}

// URL is the connection URL of database db as the superuser over TCP.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates database name unless it exists already.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return CreateDatabase(ctx, c.URL("postgres"), name)
}

// CreateDatabase creates database name on the server that adminURL points at,
// unless it exists already (also when another process creates it at the same
// moment).
func CreateDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pgcluster: create database %s: connect: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var found bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&found); err != nil {
		return fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	if found {
		return nil
	}
	// CREATE DATABASE takes no parameters; the name is quoted as an identifier.
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		// duplicate_database, or the catalog's unique index when a
		// concurrent CREATE won the race: either way it exists now.
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down cleanly (fast mode: active sessions are ended)
// and waits until it has exited. Stopping a stopped cluster is a no-op.
func (c *Cluster) Stop() error { return c.stop("fast") }

// StopImmediate stops the server the way a crash would: without a shutdown
// checkpoint, so the next start runs crash recovery.
func (c *Cluster) StopImmediate() error { return c.stop("immediate") }

// Restart stops the server immediately (as a crash would) and starts it
// again on the same port and data.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.StopImmediate(); err != nil {
		return err
	}
	return c.start(ctx, false)
}

// Running reports whether the cluster's postmaster is alive.
func (c *Cluster) Running() bool {
	pid, _, ok := c.readPID()
	return ok && postgresAlive(pid)
}

// StopOnExit starts a small detached watchdog that, once the current process
// has exited (however: normal exit, panic, timeout, signal), stops the server
// immediately and, when removeDir is set, deletes removeDir. Test processes
// use it so no postgres outlives `go test`, even when the test binary is
// killed before its cleanup runs.
func (c *Cluster) StopOnExit(removeDir string) error {
	const script = `
pid=$1 dir=$2 pgctl=$3 runas=$4 rmdir=$5
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
if [ -f "$dir/postmaster.pid" ]; then
	if [ -n "$runas" ]; then
		runuser -u "$runas" -- "$pgctl" -D "$dir" stop -m immediate -w -t 30
	else
		"$pgctl" -D "$dir" stop -m immediate -w -t 30
	fi
fi
if [ -n "$rmdir" ]; then rm -rf "$rmdir"; fi
`
	cmd := exec.Command("/bin/sh", "-c", script, "pgcluster-watchdog",
		strconv.Itoa(os.Getpid()), c.Dir, filepath.Join(c.bin, "pg_ctl"), c.runAs, removeDir)
	// No stdio: a child holding the test binary's output pipe open would
	// keep `go test` waiting. Its own session: a Ctrl-C that kills the
	// test process group must not kill the watchdog too.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgcluster: start watchdog: %w", err)
	}
	return cmd.Process.Release()
}

// prepareDir creates the data folder and, as root, hands it to the postgres
// user and makes sure that user can reach it.
func (c *Cluster) prepareDir() error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: create data folder: %w", err)
	}
	if c.runAs == "" {
		return nil
	}
	u, err := user.Lookup(c.runAs)
	if err != nil {
		return fmt.Errorf("pgcluster: running as root needs the %q user (from the Debian package %q): %w", c.runAs, debianPackage, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	var st syscall.Stat_t
	if err := syscall.Stat(c.Dir, &st); err != nil {
		return fmt.Errorf("pgcluster: data folder: %w", err)
	}
	if int(st.Uid) != uid {
		// A fresh folder, or one created by root before: hand all of it over.
		err := filepath.WalkDir(c.Dir, func(p string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			return fmt.Errorf("pgcluster: hand data folder to %s: %w", c.runAs, err)
		}
	}
	// The postgres user must be able to walk down to the folder. Temporary
	// folders (os.MkdirTemp, t.TempDir) are 0700 root: grant search (x, not
	// read) to others on each ancestor that lacks it.
	for p := filepath.Dir(c.Dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: data folder parent: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("pgcluster: let %s reach the data folder through %s: %w", c.runAs, p, err)
			}
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	base := []string{"-D", c.Dir, "-A", "trust", "-U", Superuser, "-E", "UTF8"}
	if c.ephemeral {
		base = append(base, "--no-sync")
	}
	// C.UTF-8 gives lower() full Unicode case mapping (accounts are unique by
	// lower(name)); fall back to the plain C locale where it is missing.
	var errs []error
	for _, loc := range []string{"--locale=C.UTF-8", "--no-locale"} {
		out, err := c.run(ctx, "initdb", append(slices.Clone(base), loc)...)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("initdb %s: %w: %s", loc, err, tail(out, 600)))
		// initdb removes what it created on failure, except the folder
		// itself when it existed; nothing to clean.
	}
	return fmt.Errorf("pgcluster: %w", errors.Join(errs...))
}

// handleLeftover looks at a postmaster.pid left in the folder. A live server
// is adopted when the wanted port allows it, stopped otherwise; a stale pid
// file (its process gone or reused by something else) is removed, with any
// stale socket lock, so the new postmaster does not refuse to start.
func (c *Cluster) handleLeftover(ctx context.Context, wantPort int) (adopted bool, err error) {
	pid, port, ok := c.readPID()
	if !ok {
		return false, nil
	}
	if postgresAlive(pid) {
		if (wantPort == 0 || wantPort == port) && port > 0 && c.waitReady(ctx, port, 10*time.Second) {
			c.Port = port
			return true, nil
		}
		if err := c.stop("fast"); err != nil {
			if err := c.stop("immediate"); err != nil {
				return false, fmt.Errorf("pgcluster: stop leftover server (pid %d): %w", pid, err)
			}
		}
		return false, nil
	}
	if err := os.Remove(filepath.Join(c.Dir, "postmaster.pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("pgcluster: remove stale postmaster.pid: %w", err)
	}
	locks, _ := filepath.Glob(filepath.Join(c.Dir, ".s.PGSQL.*.lock"))
	for _, l := range locks {
		_ = os.Remove(l)
	}
	return false, nil
}

// start runs pg_ctl start. With pickPort, a free port is chosen, and chosen
// again if another process grabbed it before the server bound it.
func (c *Cluster) start(ctx context.Context, pickPort bool) error {
	attempts := 1
	if pickPort {
		attempts = 4
	}
	var lastErr error
	for range attempts {
		if pickPort {
			p, err := freePort()
			if err != nil {
				return err
			}
			c.Port = p
		}
		lastErr = c.pgctlStart(ctx)
		if lastErr == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return lastErr
}

func (c *Cluster) pgctlStart(ctx context.Context) error {
	// Unix socket paths are limited to 107 bytes; past that, TCP only.
	sockDir := c.Dir
	if len(sockDir)+len("/.s.PGSQL.65535") > 100 {
		sockDir = ""
	}
	opts := []string{
		"-p", strconv.Itoa(c.Port),
		"-k", "'" + sockDir + "'",
		"-c", "listen_addresses=127.0.0.1",
	}
	if c.ephemeral {
		// Not synchronous_commit=off: that leaves commits in shared memory,
		// which an immediate stop throws away.
		opts = append(opts, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	for _, s := range c.settings {
		opts = append(opts, "-c", "'"+strings.ReplaceAll(s, "'", "")+"'")
	}
	logFile := filepath.Join(c.Dir, "log")
	before := fileSize(logFile)
	out, err := c.run(ctx, "pg_ctl", "-D", c.Dir, "-o", strings.Join(opts, " "), "-l", logFile, "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("pgcluster: pg_ctl start on port %d: %w: %s\nserver log:\n%s", c.Port, err, tail(out, 400), tail(readFrom(logFile, before), 1500))
	}
	return nil
}

func (c *Cluster) stop(mode string) error {
	pid, _, ok := c.readPID()
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "-D", c.Dir, "-m", mode, "-w", "-t", "60", "stop")
	if err != nil {
		if _, _, ok := c.readPID(); !ok {
			return nil // it was not running after all (stale pid file)
		}
		return fmt.Errorf("pgcluster: pg_ctl stop -m %s: %w: %s", mode, err, tail(out, 600))
	}
	// pg_ctl returns once the postmaster has removed its pid file, which it
	// does just before it exits: on a busy machine the process is still
	// there a moment later. Stopped means gone.
	deadline := time.Now().Add(30 * time.Second)
	for postgresAlive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pgcluster: postmaster %d still running 30 s after pg_ctl stop -m %s", pid, mode)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// run runs one of the server binaries, as the postgres user when we are root.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	// The caller's working folder may be unreadable for the postgres user.
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The postmaster that pg_ctl starts redirects its output to the log, but
	// never let a stray descendant holding the pipe hang us.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// readPID reads the postmaster's pid and port from postmaster.pid.
func (c *Cluster) readPID() (pid, port int, ok bool) {
	b, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return 0, 0, false
	}
	lines := strings.Split(string(b), "\n")
	pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	if len(lines) > 3 {
		port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	return pid, port, true
}

// waitReady waits until the server on port accepts a session.
func (c *Cluster) waitReady(ctx context.Context, port int, d time.Duration) bool {
	url := (&Cluster{Port: port}).URL("postgres") + "&connect_timeout=2"
	deadline := time.Now().Add(d)
	for {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			conn.Close(ctx)
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// postgresAlive reports whether pid is a live postgres process (not a
// different program that got the pid of a postmaster killed long ago).
func postgresAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return !exists("/proc/self") // no procfs: trust the signal check
	}
	// A zombie has exited; only its parent has yet to reap it.
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z") {
			return false
		}
	}
	name := strings.TrimSpace(string(comm))
	return name == "postgres" || name == "postmaster"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func readFrom(p string, off int64) []byte {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(off, 0); err != nil {
		return nil
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(f)
	return b.Bytes()
}

// tail keeps the last n bytes of b, trimmed, for error messages.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
