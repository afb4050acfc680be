package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"dealflow/internal/dedup"
	"dealflow/workflows"
)

// Duplicate detection (issue 15 part 5), as Dynamics 365's rules: a new
// lead, or a lead qualified into a contact and an account, may duplicate
// records on file with the same email address, the same phone number or the
// same company name, each compared by its key (internal/dedup; the keys are
// written with every row, see 00004_customers.sql).

// Kinds of record a duplicate may be.
const (
	KindLead    = "lead"
	KindContact = "contact"
	KindAccount = "account"
)

// What a duplicate matched on.
const (
	MatchEmail   = "email"
	MatchPhone   = "phone"
	MatchCompany = "company"
)

// maxDuplicates bounds the matches FindDuplicates returns.
const maxDuplicates = 20

// DuplicateQuery is what FindDuplicates looks for: records with the same
// Email, Phone or Company (any may be empty), among the Kinds named.
//
// Open leads are compared by email, phone and company; contacts by email
// and phone; accounts by name and phone. A lead that is no longer open is
// not a duplicate of anything: its contact and account are.
type DuplicateQuery struct {
	Email, Phone, Company string
	// Kinds are KindLead, KindContact and KindAccount; none: all three.
	Kinds []string
	// ExcludeLeadID leaves out the lead itself (a repeated create of the
	// same lead, or its qualification) and the contact and account it is
	// linked to.
	ExcludeLeadID string
	// Viewer, when set, is who asks: a match on a record a rep may not see
	// is returned without its id and name (Hidden), so it tells only that
	// such a record exists.
	Viewer *User
}

// DuplicateMatch is one record a new one may duplicate.
type DuplicateMatch struct {
	Kind string `json:"kind"` // KindLead, KindContact or KindAccount
	ID   string `json:"id,omitempty"`
	// Name is what the record is called: the person's name (or email) of a
	// lead or contact, with the lead's company; the account's name.
	Name string `json:"name,omitempty"`
	// Matched lists what matched: MatchEmail, MatchPhone, MatchCompany.
	Matched []string `json:"matched"`
	// Hidden: the record is one the viewer may not see; ID and Name are
	// left out.
	Hidden bool `json:"hidden,omitempty"`
}

// String describes the match for a person: "contact CON-1 (Ada Park): email, phone".
func (m DuplicateMatch) String() string {
	if m.Hidden {
		return fmt.Sprintf("a %s you may not see: %s", m.Kind, strings.Join(m.Matched, ", "))
	}
	return fmt.Sprintf("%s %s (%s): %s", m.Kind, m.ID, m.Name, strings.Join(m.Matched, ", "))
}

// FindDuplicates returns the records q may duplicate: open leads first,
// then contacts, then accounts, each in the order of their ids, at most
// maxDuplicates in all. A query with no key (no email, a phone of too few
// digits, no company) matches nothing.
func FindDuplicates(ctx context.Context, pool *Pool, q DuplicateQuery) ([]DuplicateMatch, error) {
	k := dedup.KeysOf(q.Email, q.Phone, q.Company)
	if k.Empty() {
		return nil, nil
	}
	want := func(kind string) bool { return len(q.Kinds) == 0 || slices.Contains(q.Kinds, kind) }
	rep := ""
	if q.Viewer != nil && !q.Viewer.Manager() {
		rep = q.Viewer.Email
	}
	// $1 email key, $2 phone key, $3 company key ('' matches nothing: NULLIF),
	// $4 the lead left out, $5 the rep ('' sees all).
	args := []any{k.Email, k.Phone, k.Company, q.ExcludeLeadID, rep}
	param := map[string]string{MatchEmail: "$1", MatchPhone: "$2", MatchCompany: "$3"}
	cond := func(col, what string) string { return col + ` = NULLIF(` + param[what] + `, '')` }
	match := func(col, what string) string { return `CASE WHEN ` + cond(col, what) + ` THEN '` + what + `' END` }
	var parts []string
	if want(KindLead) {
		parts = append(parts, `SELECT 1, 'lead', l.id,
			btrim(coalesce(nullif(btrim(l.first_name || ' ' || l.last_name), ''), l.email)
				|| CASE WHEN l.company <> '' THEN ', ' || l.company ELSE '' END),
			array_remove(ARRAY[`+match("l.email_key", MatchEmail)+`, `+match("l.phone_key", MatchPhone)+`, `+match("l.name_key", MatchCompany)+`], NULL),
			$5 = '' OR `+visibleSQL("$5")+`
		FROM leads l
		WHERE l.lead_status = 'Open' AND l.id <> $4
			AND (`+cond("l.email_key", MatchEmail)+` OR `+cond("l.phone_key", MatchPhone)+` OR `+cond("l.name_key", MatchCompany)+`)`)
	}
	if want(KindContact) {
		parts = append(parts, `SELECT 2, 'contact', c.id,
			coalesce(nullif(btrim(c.first_name || ' ' || c.last_name), ''), c.email),
			array_remove(ARRAY[`+match("c.email_key", MatchEmail)+`, `+match("c.phone_key", MatchPhone)+`], NULL),
			$5 = '' OR `+contactVisibleSQL("$5")+`
		FROM contacts c
		WHERE (`+cond("c.email_key", MatchEmail)+` OR `+cond("c.phone_key", MatchPhone)+`)
			AND NOT EXISTS (SELECT 1 FROM leads x WHERE x.id = $4 AND x.contact_id = c.id)`)
	}
	if want(KindAccount) {
		parts = append(parts, `SELECT 3, 'account', a.id, a.name,
			array_remove(ARRAY[`+match("a.phone_key", MatchPhone)+`, `+match("a.name_key", MatchCompany)+`], NULL),
			$5 = '' OR `+accountVisibleSQL("$5")+`
		FROM accounts a
		WHERE (`+cond("a.name_key", MatchCompany)+` OR `+cond("a.phone_key", MatchPhone)+`)
			AND NOT EXISTS (SELECT 1 FROM leads x WHERE x.id = $4 AND x.account_id = a.id)`)
	}
	if len(parts) == 0 {
		return nil, nil
	}
	sql := `SELECT kind, id, name, matched, visible FROM (` + strings.Join(parts, "\nUNION ALL\n") +
		`) AS d (ord, kind, id, name, matched, visible) ORDER BY ord, id LIMIT ` + fmt.Sprint(maxDuplicates)
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("find duplicates: %w", err)
	}
	defer rows.Close()
	var out []DuplicateMatch
	for rows.Next() {
		var m DuplicateMatch
		var visible bool
		if err := rows.Scan(&m.Kind, &m.ID, &m.Name, &m.Matched, &visible); err != nil {
			return nil, fmt.Errorf("find duplicates: %w", err)
		}
		if !visible {
			m.ID, m.Name, m.Hidden = "", "", true
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find duplicates: %w", err)
	}
	return out, nil
}

// LeadDuplicateQuery returns the duplicate query of a lead as the read model
// has it, for its qualification: its contact's email and phone against
// contacts, its company against accounts, leaving the lead's own records
// out. ok is false when there is nothing to check: no such lead, one u may
// not see, one no longer open in Qualify, or one that names an account or
// contact on file already (those are linked, not created).
func LeadDuplicateQuery(ctx context.Context, pool *Pool, u User, id string) (q DuplicateQuery, ok bool, err error) {
	sql := `SELECT l.email, l.phone, l.company, l.existing_account_id <> '' OR l.existing_contact_id <> ''
		FROM leads l WHERE l.id = $1 AND l.stage = 'Qualify' AND l.status = 'open'`
	args := []any{id}
	if !u.Manager() {
		sql += " AND " + visibleSQL("$2")
		args = append(args, u.Email)
	}
	var linked bool
	err = pool.QueryRow(ctx, sql, args...).Scan(&q.Email, &q.Phone, &q.Company, &linked)
	if errors.Is(err, pgx.ErrNoRows) {
		return DuplicateQuery{}, false, nil
	}
	if err != nil {
		return DuplicateQuery{}, false, fmt.Errorf("lead %s: %w", id, err)
	}
	if linked {
		return DuplicateQuery{}, false, nil
	}
	q.Kinds, q.ExcludeLeadID, q.Viewer = []string{KindContact, KindAccount}, id, &u
	return q, true, nil
}

// backfillBatch is how many rows backfillDuplicateKeys computes per
// statement.
const backfillBatch = 1000

// backfillDuplicateKeys computes the duplicate-detection keys of the rows
// that have none yet (NULL): rows written before 00004_customers.sql, or by
// an older binary, or whose keys a migration cleared because the folding
// changed. Run by Migrate; a second run finds nothing to do.
func backfillDuplicateKeys(ctx context.Context, pool *Pool) error {
	tables := []struct {
		table, selectCols, null string
		keys                    func(a, b, c string) []any
		update                  string
	}{
		{"leads", "email, phone, company", "email_key IS NULL OR phone_key IS NULL OR name_key IS NULL",
			func(e, p, c string) []any { k := dedup.KeysOf(e, p, c); return []any{k.Email, k.Phone, k.Company} },
			`UPDATE leads t SET email_key = u.e, phone_key = u.p, name_key = u.c`},
		{"contacts", "email, phone, ''", "email_key IS NULL OR phone_key IS NULL",
			func(e, p, _ string) []any { k := dedup.KeysOf(e, p, ""); return []any{k.Email, k.Phone, ""} },
			`UPDATE contacts t SET email_key = u.e, phone_key = u.p`},
		{"accounts", "'', phone, name", "name_key IS NULL OR phone_key IS NULL",
			func(_, p, c string) []any { k := dedup.KeysOf("", p, c); return []any{"", k.Phone, k.Company} },
			`UPDATE accounts t SET phone_key = u.p, name_key = u.c`},
	}
	for _, t := range tables {
		for {
			rows, err := pool.Query(ctx, `SELECT id, `+t.selectCols+` FROM `+t.table+` WHERE `+t.null+` ORDER BY id LIMIT `+fmt.Sprint(backfillBatch))
			if err != nil {
				return fmt.Errorf("store: duplicate keys of %s: %w", t.table, err)
			}
			var ids, es, ps, cs []string
			for rows.Next() {
				var id, a, b, c string
				if err := rows.Scan(&id, &a, &b, &c); err != nil {
					rows.Close()
					return fmt.Errorf("store: duplicate keys of %s: %w", t.table, err)
				}
				k := t.keys(a, b, c)
				ids, es, ps, cs = append(ids, id), append(es, k[0].(string)), append(ps, k[1].(string)), append(cs, k[2].(string))
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("store: duplicate keys of %s: %w", t.table, err)
			}
			if len(ids) == 0 {
				break
			}
			if _, err := pool.Exec(ctx, t.update+`
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u (id, e, p, c) WHERE t.id = u.id`,
				ids, es, ps, cs); err != nil {
				return fmt.Errorf("store: duplicate keys of %s: %w", t.table, err)
			}
			if len(ids) < backfillBatch {
				break
			}
		}
	}
	return nil
}

// LeadDuplicates finds the records on file a new lead may duplicate, as
// the API does for a new lead: the importer's duplicate finder
// (leadimport.DuplicateFinder) for starter import and the import page.
// Viewer, when set, hides the records they may not see (DuplicateQuery).
type LeadDuplicates struct {
	Pool   *Pool
	Viewer *User
}

// FindDuplicates describes each record in may duplicate (the lead itself,
// a rerun, excluded).
func (d LeadDuplicates) FindDuplicates(ctx context.Context, in workflows.NewLead) ([]string, error) {
	ms, err := FindDuplicates(ctx, d.Pool, DuplicateQuery{
		Email: in.Lead.Email, Phone: in.Lead.Phone, Company: in.Lead.Company, ExcludeLeadID: in.ID, Viewer: d.Viewer})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out, nil
}
