package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"dealflow/internal/config"
	"dealflow/internal/store"
)

// usersCommand runs `api users create|revoke` and returns the exit code. It
// reads only DATABASE_URL, and migrates first, so it works before the API
// has ever started.
func usersCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	usage := func() { usersUsage(stderr) }
	if len(args) == 0 || (args[0] != "create" && args[0] != "revoke") {
		if len(args) == 0 || (args[0] != "-h" && args[0] != "-help" && args[0] != "--help") {
			fmt.Fprintln(stderr, "api users: want create or revoke")
			usage()
			return 2
		}
		usage()
		return 0
	}
	sub := args[0]
	fs := flag.NewFlagSet("api users "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage
	email := fs.String("email", "", "the user's email")
	name := fs.String("name", "", "the user's name (create)")
	role := fs.String("role", "", "rep or manager (create)")
	token := fs.String("token", "", `the token to revoke (revoke); "-" reads it from standard input`)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "api users %s: unexpected arguments %q\n", sub, fs.Args())
		return 2
	}
	r := config.NewReader()
	dbURL := r.PostgresURL(config.DatabaseURL)
	if err := r.Err(); err != nil {
		fmt.Fprintf(stderr, "api: invalid configuration:\n%v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if sub == "create" {
		return usersCreate(ctx, dbURL, *email, *name, *role, *token, stdout, stderr)
	}
	return usersRevoke(ctx, dbURL, *token, *email, stdin, stdout, stderr)
}

const usersHelp = `Usage:
  api users create --email E --name N --role rep|manager
      Creates the user unless one with that email exists, then issues a new
      token and prints it as the last line of the output (it is shown only
      this once; only its SHA-256 hash is stored).
  api users revoke --token T
  api users revoke --token -
  api users revoke --email E
      Revokes the token, or every token of the user. With "-" the token is
      read from standard input, so that it appears in neither the process
      list nor the shell's history.

Environment:
`

func usersUsage(stderr io.Writer) {
	fmt.Fprint(stderr, usersHelp)
	for _, v := range []config.Var{config.DatabaseURL} {
		fmt.Fprintf(stderr, "  %-22s %s (default %s)\n", v.Name, v.Usage, v.Default)
	}
}

// usersCreate is `api users create`.
func usersCreate(ctx context.Context, dbURL, email, name, role, token string, stdout, stderr io.Writer) int {
	if token != "" {
		fmt.Fprintln(stderr, "api users create: --token applies to revoke")
		return 2
	}
	n := store.NewUser{Email: strings.TrimSpace(email), Name: strings.TrimSpace(name), Role: role}
	if errs := n.Validate(); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "api users create: --%s %s\n", e.Field, e.Reason)
		}
		return 2
	}
	return report(stderr, createUser(ctx, dbURL, n, stdout))
}

// usersRevoke is `api users revoke`.
func usersRevoke(ctx context.Context, dbURL, token, email string, stdin io.Reader, stdout, stderr io.Writer) int {
	if (token == "") == (email == "") {
		fmt.Fprintln(stderr, "api users revoke: give either --token or --email")
		return 2
	}
	if token == "-" {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if token = strings.TrimSpace(line); token == "" {
			fmt.Fprintf(stderr, "api users revoke: --token -: no token on standard input (%v)\n", err)
			return 2
		}
	}
	return report(stderr, revoke(ctx, dbURL, token, email, stdout))
}

func report(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "api users: %v\n", err)
		return 1
	}
	return 0
}

func createUser(ctx context.Context, dbURL string, n store.NewUser, stdout io.Writer) error {
	pool, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool); err != nil {
		return err
	}
	u, err := store.CreateUser(ctx, pool, n)
	switch {
	case errors.Is(err, store.ErrUserExists):
		existing, ok, ferr := store.UserByEmail(ctx, pool, n.Email)
		if ferr != nil {
			return ferr
		}
		if !ok {
			return err
		}
		u = existing
		fmt.Fprintf(stdout, "user %s exists: %s (%s)\n", u.ID, u.Email, u.Role)
		if u.Role != n.Role {
			fmt.Fprintf(stdout, "note: the user's role stays %s\n", u.Role)
		}
	case err != nil:
		return err
	default:
		fmt.Fprintf(stdout, "created user %s: %s (%s)\n", u.ID, u.Email, u.Role)
	}
	tok, err := store.IssueToken(ctx, pool, u.ID, "cli")
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "token (shown once):")
	fmt.Fprintln(stdout, tok)
	return nil
}

func revoke(ctx context.Context, dbURL, token, email string, stdout io.Writer) error {
	pool, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool); err != nil {
		return err
	}
	if token != "" {
		ok, err := store.RevokeToken(ctx, pool, token)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("no live token matches")
		}
		fmt.Fprintln(stdout, "token revoked")
		return nil
	}
	n, err := store.RevokeUserTokens(ctx, pool, email)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d token(s) of %s revoked\n", n, email)
	return nil
}
