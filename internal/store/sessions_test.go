package store_test

import (
	"context"
	"testing"
	"time"

	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
)

// A session lives while it is used within its idle time and its token is
// live; ending it, or revoking the token, ends it.
func TestWebSessions(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	u, err := store.CreateUser(ctx, pool, store.NewUser{Email: "s@example.com", Role: "rep"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := store.IssueToken(ctx, pool, u.ID, "t")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	id, s, err := store.CreateSession(ctx, pool, u, tok, now, now.Add(time.Hour))
	if err != nil || id == "" || s.CSRF == "" || s.CSRF == id {
		t.Fatalf("create: %q %+v %v", id, s, err)
	}
	got, ok, err := store.TouchSession(ctx, pool, id, now.Add(50*time.Minute), now.Add(110*time.Minute))
	if err != nil || !ok || got.User.Email != "s@example.com" || got.CSRF != s.CSRF {
		t.Fatalf("touch: %+v %v %v", got, ok, err)
	}
	if _, ok, _ := store.TouchSession(ctx, pool, id, now.Add(100*time.Minute), now.Add(160*time.Minute)); !ok {
		t.Fatal("the touch did not push the expiry on")
	}
	if _, ok, _ := store.TouchSession(ctx, pool, id, now.Add(161*time.Minute), now.Add(200*time.Minute)); ok {
		t.Fatal("an expired session is live")
	}
	if _, ok, _ := store.TouchSession(ctx, pool, "nope", now, now.Add(time.Hour)); ok {
		t.Fatal("an unknown session is live")
	}

	id2, _, err := store.CreateSession(ctx, pool, u, tok, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EndSession(ctx, pool, id2); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := store.TouchSession(ctx, pool, id2, now, now.Add(time.Hour)); ok {
		t.Fatal("an ended session is live")
	}
	id3, _, err := store.CreateSession(ctx, pool, u, tok, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.RevokeToken(ctx, pool, tok); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := store.TouchSession(ctx, pool, id3, now, now.Add(time.Hour)); ok {
		t.Fatal("a session of a revoked token is live")
	}
}
