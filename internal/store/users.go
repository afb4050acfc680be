package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"dealflow/workflows"
)

// User is an API user: reps act on their own deals, managers on all. Its
// email is the identity deals record as owner and team member.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"` // workflows.RoleRep or workflows.RoleManager
}

// Manager reports whether the user sees and acts on every deal.
func (u User) Manager() bool { return u.Role == workflows.RoleManager }

// NewUser is the input of CreateUser.
type NewUser struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
}

// Validate checks the new user's fields.
func (n NewUser) Validate() []workflows.FieldError {
	var errs []workflows.FieldError
	// The email is the identity deals name as owner and team member, so it
	// follows the same rule as theirs.
	if fe := (workflows.Assign{Owner: n.Email}).Validate(); len(fe) > 0 {
		for _, e := range fe {
			errs = append(errs, workflows.FieldError{Field: "email", Reason: e.Reason})
		}
	}
	if len(n.Name) > 200 {
		errs = append(errs, workflows.FieldError{Field: "name", Reason: "is longer than 200 characters"})
	}
	if strings.ContainsRune(n.Name, 0) { // PostgreSQL cannot store it
		errs = append(errs, workflows.FieldError{Field: "name", Reason: "must not contain NUL characters"})
	}
	if n.Role != workflows.RoleRep && n.Role != workflows.RoleManager {
		errs = append(errs, workflows.FieldError{Field: "role", Reason: "must be rep or manager"})
	}
	return errs
}

// CreateUser adds a user: an *InvalidError when n fails Validate,
// ErrUserExists when the email is taken. Emails are kept in lower case: they
// are the identity deals record as owner and team member.
func CreateUser(ctx context.Context, pool *Pool, n NewUser) (User, error) {
	if errs := n.Validate(); len(errs) > 0 {
		return User{}, &InvalidError{What: "user", Fields: errs}
	}
	u := User{ID: newUserID(), Email: strings.ToLower(n.Email), Name: n.Name, Role: n.Role}
	tag, err := pool.Exec(ctx, `INSERT INTO api_users (id, email, name, role) VALUES ($1, $2, $3, $4)
		ON CONFLICT (lower(email)) DO NOTHING`, u.ID, u.Email, u.Name, u.Role)
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", u.Email, err)
	}
	if tag.RowsAffected() == 0 {
		return User{}, ErrUserExists
	}
	return u, nil
}

// newUserID returns "usr_" and 16 lowercase base32 characters (80 bits).
func newUserID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "usr_" + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// UserByEmail finds a user, whatever the email's case; ok is false when
// there is none.
func UserByEmail(ctx context.Context, pool *Pool, email string) (User, bool, error) {
	var u User
	err := pool.QueryRow(ctx, `SELECT id, email, name, role FROM api_users WHERE lower(email) = lower($1)`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("find user %s: %w", email, err)
	}
	return u, true, nil
}

// FirstManager is the manager new deals escalate to when their creator is a
// rep: the longest-standing manager's email, or "" when there is none.
func FirstManager(ctx context.Context, pool *Pool) (string, error) {
	var email string
	err := pool.QueryRow(ctx, `SELECT email FROM api_users WHERE role = $1 ORDER BY created_at, id LIMIT 1`,
		workflows.RoleManager).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return email, err
}

// tokenPrefix marks dealflow tokens, so a leaked one is recognisable.
const tokenPrefix = "dft_"

// newToken returns a fresh random bearer token (256 bits).
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is what api_tokens stores: the token itself is never kept.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// IssueToken creates a new token for the user and returns it: the only time
// it is ever seen, since only its hash is stored.
func IssueToken(ctx context.Context, pool *Pool, userID, name string) (string, error) {
	tok := newToken()
	if _, err := pool.Exec(ctx, `INSERT INTO api_tokens (token_hash, user_id, name) VALUES ($1, $2, $3)`,
		HashToken(tok), userID, name); err != nil {
		return "", fmt.Errorf("issue token for %s: %w", userID, err)
	}
	return tok, nil
}

// UserByToken authenticates a bearer token; ok is false for an unknown or
// revoked one.
func UserByToken(ctx context.Context, pool *Pool, token string) (User, bool, error) {
	var u User
	err := pool.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.role
		FROM api_tokens t JOIN api_users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL`, HashToken(token)).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, err
	}
	return u, true, nil
}

// RevokeToken revokes one token; ok is false when no live token matches.
func RevokeToken(ctx context.Context, pool *Pool, token string) (bool, error) {
	tag, err := pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`,
		HashToken(token))
	if err != nil {
		return false, fmt.Errorf("revoke token: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// RevokeUserTokens revokes every live token of the user and returns how many.
func RevokeUserTokens(ctx context.Context, pool *Pool, email string) (int64, error) {
	tag, err := pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = now()
		WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM api_users WHERE lower(email) = lower($1))`, email)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of %s: %w", email, err)
	}
	return tag.RowsAffected(), nil
}
