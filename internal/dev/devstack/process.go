package devstack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const DefaultGrace = 15 * time.Second

// ProcessSpec says how to run one child process.
type ProcessSpec struct {
	// Name is a short label for messages ("worker", "temporal").
	Name string
	// Path is the executable; Args are its arguments (without argv[0]).
	Path string
	Args []string
	// Env is the complete environment; nil inherits the parent's.
	Env []string
	// Dir is the working directory; empty means the parent's.
	Dir string
	// LogFile receives stdout and stderr, appended. Required.
	LogFile string
}

// Process is a running (or finished) child started by StartProcess. It runs
// in its own process group, so Stop and Kill reach everything it spawned, and
// it is killed by the kernel if this process dies first (Pdeathsig), so even
// a crashed parent leaves nothing behind.
type Process struct {
	spec    ProcessSpec
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error // exit status; set before done is closed

	mu       sync.Mutex
	stopping bool // we sent a signal: a death by it is not a failure
}

// StartProcess starts spec's program and returns at once.
func StartProcess(spec ProcessSpec) (*Process, error) {
	if spec.LogFile == "" {
		return nil, fmt.Errorf("start %s: no log file", spec.Name)
	}
	if err := os.MkdirAll(filepath.Dir(spec.LogFile), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	log, err := os.OpenFile(spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	defer log.Close() // the child holds its own descriptor
	fmt.Fprintf(log, "==== %s: %s %s\n", time.Now().Format(time.RFC3339), spec.Path, strings.Join(spec.Args, " "))

	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &Process{spec: spec, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		// The leader is gone; take anything it left in its group with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		close(p.done)
	}()
	return p, nil
}

// Name returns the spec's label.
func (p *Process) Name() string { return p.spec.Name }

// PID returns the process id (also its process group id).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Started returns when the process was started.
func (p *Process) Started() time.Time { return p.started }

// LogPath returns the file that holds its output.
func (p *Process) LogPath() string { return p.spec.LogFile }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns how the process ended (nil for exit status 0); call it after
// Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Unexpected reports whether the process has exited without being asked to.
func (p *Process) Unexpected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Exited() && !p.stopping
}

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := syscall.Kill(-p.PID(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s: %w", p.spec.Name, err)
	}
	return nil
}

// Stop sends SIGTERM to the process group, waits up to grace (DefaultGrace
// when 0) for the process to exit, then sends SIGKILL, and returns once it is
// gone. It returns an error when SIGKILL was needed or the process exited
// with a failure status; a process that had already exited returns nil.
func (p *Process) Stop(grace time.Duration) error {
	if grace <= 0 {
		grace = DefaultGrace
	}
	p.mu.Lock()
	already := p.Exited()
	p.stopping = true
	p.mu.Unlock()
	if already {
		return nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		if err := p.err; err != nil && !killedBy(err, syscall.SIGTERM) {
			return fmt.Errorf("stop %s: %w (log %s)", p.spec.Name, err, p.spec.LogFile)
		}
		return nil
	case <-t.C:
		_ = p.Signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("stop %s: still running %s after SIGTERM; killed (log %s)", p.spec.Name, grace, p.spec.LogFile)
	}
}

// Kill sends SIGKILL to the process group at once, as a crash would, and
// returns once the process is gone.
func (p *Process) Kill() error {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// LogTail returns the last n lines of the process's log.
func (p *Process) LogTail(n int) string { return LogTail(p.spec.LogFile, n) }

// LogTail returns the last n lines of a file, or a note saying why it cannot.
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 64 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Describe returns a one-paragraph report of how a process ended and the tail
// of its log, for error messages.
func (p *Process) Describe(lines int) string {
	state := "running"
	if p.Exited() {
		state = "exited"
		if p.err != nil {
			state = "exited: " + p.err.Error()
		}
	}
	return fmt.Sprintf("%s (pid %d, %s), last lines of %s:\n%s", p.spec.Name, p.PID(), state, p.spec.LogFile, indent(p.LogTail(lines)))
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

func killedBy(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
