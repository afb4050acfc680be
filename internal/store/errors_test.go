package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// The store's errors say what went wrong by type: callers decide with
// errors.Is and errors.As, never by text.
func TestTypedErrors(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	deal := func(id, currency string) workflows.Change {
		return workflows.Change{
			Deal: workflows.DealHeader{ID: id, Owner: "rep1", Stage: workflows.StageQualify, Status: workflows.StatusOpen,
				Currency: currency, CreatedAt: at, StageEnteredAt: at},
			Lead:  workflows.Lead{Topic: "t", Status: "Open"},
			Event: workflows.Event{Seq: 1, At: at, Actor: "rep1", Action: "create", Accepted: true, Stage: workflows.StageQualify},
		}
	}

	ch := deal("T1", "EUR")
	ch.Qualify = &workflows.QualifyRecord{AccountID: "ACC-missing"}
	if _, err := store.ApplyChange(ctx, pool, ch); !errors.Is(err, store.ErrUnknownAccount) || errors.Is(err, store.ErrInvalidChange) {
		t.Errorf("unknown account: %v", err)
	}
	_, err := store.ApplyChange(ctx, pool, deal("T2", "eur"))
	var pgErr *pgconn.PgError
	if !errors.Is(err, store.ErrInvalidChange) || !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		t.Errorf("data PostgreSQL refuses: %v, want ErrInvalidChange wrapping the check violation", err)
	}
	if _, err := store.ApplyChange(ctx, pool, workflows.Change{}); !errors.Is(err, store.ErrInvalidChange) {
		t.Errorf("no deal id: %v", err)
	}
	if c, err := store.ClaimMessage(ctx, pool, "no-such-key"); c != nil || err != nil {
		t.Errorf("claim of no message: %v %v, want nil and nil", c, err)
	}

	if _, err := store.CreateUser(ctx, pool, store.NewUser{Email: "a@example.com", Role: workflows.RoleRep}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateUser(ctx, pool, store.NewUser{Email: "A@Example.com", Role: workflows.RoleManager}); !errors.Is(err, store.ErrUserExists) {
		t.Errorf("taken email: %v", err)
	}
	var inv *store.InvalidError
	_, err = store.CreateUser(ctx, pool, store.NewUser{Email: "nope", Role: "boss"})
	if !errors.As(err, &inv) || !slices.Equal(fieldNames(inv.Fields), []string{"email", "role"}) {
		t.Errorf("invalid user: %v", err)
	}
	_, err = store.ListLeads(ctx, pool, store.User{Role: workflows.RoleManager},
		store.LeadFilter{Stage: "Nowhere", Status: "sleepy", MinValue: "lots", Sort: "colour", Cursor: "zz"})
	if !errors.As(err, &inv) || !slices.Equal(fieldNames(inv.Fields), []string{"stage", "status", "min_value", "sort", "cursor"}) {
		t.Errorf("invalid lead filter: %v", err)
	}

	down, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if _, _, err := store.UserByEmail(ctx, down, "a@example.com"); !store.Unreachable(err) {
		t.Errorf("closed port: %v, want Unreachable", err)
	}
	if _, _, err := store.UserByEmail(ctx, pool, "a@example.com"); store.Unreachable(err) {
		t.Errorf("a running server reported unreachable: %v", err)
	}
}

func fieldNames(errs []workflows.FieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}
