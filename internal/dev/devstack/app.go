package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"dealflow/internal/config"
	"dealflow/workflows"
)

// AppEnv returns the environment for the worker and api binaries: this
// process's environment without any variable internal/config declares (and
// without TEMPORAL_*, which the SDK and CLI may read), plus vars. Nothing from
// the caller's shell can point a child at another database by accident.
func AppEnv(vars map[string]string) []string {
	declared := make(map[string]bool, len(config.All))
	for _, v := range config.All {
		declared[v.Name] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if declared[name] || strings.HasPrefix(name, "TEMPORAL_") {
			continue
		}
		env = append(env, kv)
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// WaitWorkerPolling waits until a worker started at or after p's start polls
// the deal task queue for both workflow and activity tasks: only then can a
// deal make progress. It fails at once when p exits.
func WaitWorkerPolling(ctx context.Context, c client.Client, p *Process) error {
	last := errors.New("no poller yet")
	for {
		if last = pollingSince(ctx, c, p); last == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("worker exited during start-up: %s", p.Describe(40))
		case <-ctx.Done():
			return fmt.Errorf("worker not polling task queue %s: %v (%v)\n%s", workflows.TaskQueue, ctx.Err(), last, p.Describe(40))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pollingSince reports whether p polls both task queue types: a poller with
// the SDK's default identity "<pid>@host@" of p, or one seen after p started
// (an earlier worker cannot poll after it has exited; one machine, one clock).
func pollingSince(ctx context.Context, c client.Client, p *Process) error {
	since, pid := p.Started(), strconv.Itoa(p.PID())+"@"
	for _, tq := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := c.DescribeTaskQueue(cctx, workflows.TaskQueue, tq)
		cancel()
		if err != nil {
			return fmt.Errorf("describe task queue: %w", err)
		}
		found := false
		for _, pi := range resp.GetPollers() {
			if strings.HasPrefix(pi.GetIdentity(), pid) || pi.GetLastAccessTime().AsTime().After(since) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("no %s poller since %s", tq, since.Format(time.TimeOnly))
		}
	}
	return nil
}

// WaitAPIReady waits until the API at baseURL answers /readyz with 200 (it
// has reached Temporal and PostgreSQL). It fails at once when p exits.
func WaitAPIReady(ctx context.Context, baseURL string, p *Process) error {
	if err := WaitHTTP(ctx, strings.TrimRight(baseURL, "/")+"/readyz", p.Done()); err != nil {
		return fmt.Errorf("api not ready: %w\n%s", err, p.Describe(40))
	}
	return nil
}

// CreateUser runs `api users create` with env and returns the bearer token,
// which the command prints as the last line of its standard output.
func CreateUser(ctx context.Context, apiBin string, env []string, email, name, role string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, apiBin, "users", "create", "--email", email, "--name", name, "--role", role)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("api users create --email %s --role %s: %w\nstdout: %s\nstderr: %s",
			email, role, err, strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", fmt.Errorf("api users create --email %s: no token on the last line of its output:\n%s", email, stdout.String())
	}
	return token, nil
}
