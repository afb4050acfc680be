package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is a signed-in browser of the web app: its user, the hash of the
// token it signed in with (the rate limit's key, as for the token itself)
// and the CSRF token its forms carry.
type Session struct {
	User      User
	TokenHash []byte
	CSRF      string
}

// newSecret returns 256 random bits, URL-safe.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateSession opens a session of u, authenticated by token (see
// UserByToken), expiring at expires, and returns its id (the cookie's value:
// only its hash is stored). Expired sessions are swept on the way.
func CreateSession(ctx context.Context, pool *Pool, u User, token string, now, expires time.Time) (id string, s Session, err error) {
	id, csrf := newSecret(), newSecret()
	if _, err := pool.Exec(ctx, `DELETE FROM web_sessions WHERE expires_at < $1`, now); err != nil {
		return "", Session{}, fmt.Errorf("sweep sessions: %w", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO web_sessions (id_hash, token_hash, csrf, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, HashToken(id), HashToken(token), csrf, now, expires); err != nil {
		return "", Session{}, fmt.Errorf("create session for %s: %w", u.Email, err)
	}
	return id, Session{User: u, TokenHash: HashToken(token), CSRF: csrf}, nil
}

// TouchSession finds a live session (not expired at now, its token not
// revoked) and pushes its expiry to expires; ok is false when there is none.
func TouchSession(ctx context.Context, pool *Pool, id string, now, expires time.Time) (Session, bool, error) {
	var s Session
	err := pool.QueryRow(ctx, `UPDATE web_sessions w SET expires_at = $3
		FROM api_tokens t JOIN api_users u ON u.id = t.user_id
		WHERE w.id_hash = $1 AND w.expires_at > $2 AND t.token_hash = w.token_hash AND t.revoked_at IS NULL
		RETURNING u.id, u.email, u.name, u.role, w.token_hash, w.csrf`, HashToken(id), now, expires).
		Scan(&s.User.ID, &s.User.Email, &s.User.Name, &s.User.Role, &s.TokenHash, &s.CSRF)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("find session: %w", err)
	}
	return s, true, nil
}

// EndSession deletes a session (sign-out); an unknown id is not an error.
func EndSession(ctx context.Context, pool *Pool, id string) error {
	if _, err := pool.Exec(ctx, `DELETE FROM web_sessions WHERE id_hash = $1`, HashToken(id)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
