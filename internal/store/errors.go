package store

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"dealflow/workflows"
)

// Errors of ApplyChange that retrying cannot mend: the same Change would fail
// the same way forever. Test for them with errors.Is.
var (
	// ErrUnknownAccount: the qualification names an account that is not on
	// file.
	ErrUnknownAccount = errors.New("unknown account")
	// ErrInvalidChange: PostgreSQL rejected the Change's data (a check,
	// not-null or foreign-key constraint, or a value it cannot store), or
	// the Change lacks what it must carry (its deal id, a qualification's
	// new ids).
	ErrInvalidChange = errors.New("invalid change")
)

// ErrUserExists is returned by CreateUser when the email is taken.
var ErrUserExists = errors.New("a user with this email exists")

// InvalidError is returned for input that fails its Validate method
// (NewUser, LeadFilter); nothing was read or written.
type InvalidError struct {
	// What names the input, e.g. "user".
	What   string
	Fields []workflows.FieldError
}

func (e *InvalidError) Error() string {
	return "store: invalid " + e.What + ": " + workflows.Describe(e.Fields)
}

// kindError gives err one of the sentinel errors above as its kind, keeping
// its text: errors.Is finds the kind, errors.As what err wraps.
type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func withKind(kind, err error) error { return &kindError{kind: kind, err: err} }

// Unreachable reports whether err says PostgreSQL could not be reached (the
// connection failed, or the server is shutting down or refusing
// connections) rather than that a query failed: the database is down, and a
// caller may say so (503) instead of reporting a fault (500).
func Unreachable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	// 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now,
	// 53300 too many connections.
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
	}
	return false
}
