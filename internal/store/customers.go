package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"dealflow/internal/dedup"
	"dealflow/workflows"
)

// Accounts and contacts (issue 15 part 4): a qualification links or
// creates them (change.go); the API lists, reads and edits them here. A rep
// sees the accounts that have a deal the rep may see (visibleSQL), with
// their contacts and only those deals; a manager sees all. An account or
// contact a rep may not see is ErrAccountNotFound or ErrContactNotFound, as
// one that does not exist.

// Errors of the accounts' and contacts' reads and edits. Test for them with
// errors.Is; the error's text names the record.
var (
	// ErrAccountNotFound: no account has the id, or none the user may see.
	ErrAccountNotFound = errors.New("no such account")
	// ErrContactNotFound: no contact has the id, or none the user may see.
	ErrContactNotFound = errors.New("no such contact")
	// ErrAccountExists: another account has the name, whatever the case.
	ErrAccountExists = errors.New("account exists")
	// ErrContactExists: another contact has the email address, whatever the
	// case.
	ErrContactExists = errors.New("contact exists")
)

// Input limits of accounts and contacts.
const (
	maxAddress = 1000
	maxWebsite = 200
)

// accountVisibleSQL restricts accounts a to those with a deal the rep whose
// email is the placeholder arg may see.
func accountVisibleSQL(arg string) string {
	return `EXISTS (SELECT 1 FROM leads l WHERE l.account_id = a.id AND ` + visibleSQL(arg) + `)`
}

// contactVisibleSQL restricts contacts c to those of an account the rep
// may see, or the contact of a deal the rep may see.
func contactVisibleSQL(arg string) string {
	return `(EXISTS (SELECT 1 FROM leads l WHERE l.account_id = c.account_id AND ` + visibleSQL(arg) + `)
		OR EXISTS (SELECT 1 FROM leads l WHERE l.contact_id = c.id AND ` + visibleSQL(arg) + `))`
}

// Account is an account as the API shows it.
type Account struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Website   string    `json:"website"`
	Phone     string    `json:"phone"`
	Address   string    `json:"address"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// AccountDeal is one deal of an account.
type AccountDeal struct {
	ID       string           `json:"id"`
	Topic    string           `json:"topic"`
	Stage    workflows.Stage  `json:"stage"`
	Status   workflows.Status `json:"status"`
	Value    decimal.Decimal  `json:"value"`
	Currency string           `json:"currency"`
	Owner    string           `json:"owner"`
}

// AccountDetail is an account with its contacts and the deals the reader
// may see.
type AccountDetail struct {
	Account
	Contacts []Contact     `json:"contacts"`
	Deals    []AccountDeal `json:"deals"`
}

// Contact is a contact as the API shows it.
type Contact struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"accountId,omitempty"`
	AccountName string    `json:"accountName,omitempty"`
	FirstName   string    `json:"firstName"`
	LastName    string    `json:"lastName"`
	JobTitle    string    `json:"jobTitle"`
	Email       string    `json:"email"`
	Phone       string    `json:"phone"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// leadRules checks fields with the rules of a lead's fields (the workflow's,
// through LeadFields.Validate), so an account's phone or a contact's email
// is refused exactly as a lead's would be; rename maps a lead field to the
// name the caller knows it by.
func leadRules(f workflows.LeadFields, rename map[string]string) []workflows.FieldError {
	f.Topic = "x" // required of a lead, not asked of these
	var out []workflows.FieldError
	for _, e := range f.Validate() {
		if n, ok := rename[e.Field]; ok {
			e.Field = n
		}
		out = append(out, e)
	}
	return out
}

func trimPtr(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	return &t
}

// AccountPatch is the input of UpdateAccount: nil fields stay as they are.
type AccountPatch struct {
	Name    *string `json:"name"`
	Website *string `json:"website"`
	Phone   *string `json:"phone"`
	Address *string `json:"address"`
}

func (p AccountPatch) normalized() AccountPatch {
	p.Name, p.Website, p.Phone, p.Address = trimPtr(p.Name), trimPtr(p.Website), trimPtr(p.Phone), trimPtr(p.Address)
	return p
}

// Validate checks the fields the patch sets: the name not blank, the phone
// by the rules of a lead's phone.
func (p AccountPatch) Validate() []workflows.FieldError {
	p = p.normalized()
	var c fieldChecker
	if p.Name != nil {
		c.text("name", *p.Name, true, maxCatalogText)
	}
	if p.Website != nil {
		c.text("website", *p.Website, false, maxWebsite)
		if strings.ContainsAny(*p.Website, " \t\n") {
			c.add("website", "must not contain spaces")
		}
	}
	if p.Address != nil {
		c.text("address", *p.Address, false, maxAddress)
	}
	if p.Phone != nil {
		c.errs = append(c.errs, leadRules(workflows.LeadFields{Phone: *p.Phone}, nil)...)
	}
	return c.errs
}

// ContactPatch is the input of UpdateContact: nil fields stay as they are.
type ContactPatch struct {
	FirstName *string `json:"firstName"`
	LastName  *string `json:"lastName"`
	JobTitle  *string `json:"jobTitle"`
	Email     *string `json:"email"`
	Phone     *string `json:"phone"`
}

func (p ContactPatch) normalized() ContactPatch {
	p.FirstName, p.LastName, p.JobTitle = trimPtr(p.FirstName), trimPtr(p.LastName), trimPtr(p.JobTitle)
	p.Email, p.Phone = trimPtr(p.Email), trimPtr(p.Phone)
	return p
}

// Validate checks the fields the patch sets by the rules of a lead's
// fields of the same names.
func (p ContactPatch) Validate() []workflows.FieldError {
	p = p.normalized()
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	return leadRules(workflows.LeadFields{FirstName: deref(p.FirstName), LastName: deref(p.LastName),
		JobTitle: deref(p.JobTitle), Email: deref(p.Email), Phone: deref(p.Phone)}, nil)
}

const accountCols = `a.id, a.name, a.website, a.phone, a.address, a.created_at, a.updated_at`

func scanAccount(row pgx.Row, a *Account, extra ...any) error {
	return row.Scan(append([]any{&a.ID, &a.Name, &a.Website, &a.Phone, &a.Address, &a.CreatedAt, &a.UpdatedAt}, extra...)...)
}

const contactCols = `c.id, coalesce(c.account_id, ''), coalesce((SELECT name FROM accounts WHERE id = c.account_id), ''),
	c.first_name, c.last_name, c.job_title, c.email, c.phone, c.created_at, c.updated_at`

func scanContact(row pgx.Row, c *Contact) error {
	return row.Scan(&c.ID, &c.AccountID, &c.AccountName, &c.FirstName, &c.LastName, &c.JobTitle, &c.Email, &c.Phone,
		&c.CreatedAt, &c.UpdatedAt)
}

func noAccount(id string) error {
	return withKind(ErrAccountNotFound, fmt.Errorf("no account %s", id))
}

func noContact(id string) error {
	return withKind(ErrContactNotFound, fmt.Errorf("no contact %s", id))
}

// AccountFilter says which accounts ListAccounts returns, a page at a time
// in the order of their names. Validate names its faults by the GET
// /v1/accounts query parameters: name, cursor.
type AccountFilter struct {
	// Name is a text the account's name contains, whatever the case.
	Name string
	// Cursor is a NextCursor ListAccounts returned: the page after it.
	Cursor string
	// Limit is the page's size (50 when not positive).
	Limit int
}

// Validate checks the filter; the page size is the caller's to bound.
func (f AccountFilter) Validate() []workflows.FieldError {
	var c fieldChecker
	if len([]rune(strings.TrimSpace(f.Name))) > maxCatalogText {
		c.add("name", fmt.Sprintf("is longer than %d characters", maxCatalogText))
	}
	c.cursor(f.Cursor, "name")
	return c.errs
}

// AccountList is a page of accounts; NextCursor fetches the next page.
type AccountList struct {
	Items      []Account `json:"items"`
	NextCursor string    `json:"nextCursor,omitempty"`
}

// ListAccounts returns the page of the accounts u may see that f selects,
// ordered by name (case-insensitively), then id: an *InvalidError when f
// fails Validate.
func ListAccounts(ctx context.Context, pool *Pool, u User, f AccountFilter) (AccountList, error) {
	if errs := f.Validate(); len(errs) > 0 {
		return AccountList{}, &InvalidError{What: "account filter", Fields: errs}
	}
	var q pageQuery
	if !u.Manager() {
		q.where(accountVisibleSQL(q.arg(u.Email)))
	}
	if v := strings.TrimSpace(f.Name); v != "" {
		q.where("a.name ILIKE " + q.arg("%"+likeEscape(v)+"%"))
	}
	if cur, ok := decodeCursor(f.Cursor); ok {
		q.where("(lower(a.name), a.id) > (" + q.arg(cur.Value) + ", " + q.arg(cur.ID) + ")")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	sql := `SELECT ` + accountCols + `, lower(a.name) FROM accounts a`
	if len(q.conds) > 0 {
		sql += " WHERE " + strings.Join(q.conds, " AND ")
	}
	sql += " ORDER BY lower(a.name), a.id LIMIT " + q.arg(limit+1)
	rows, err := pool.Query(ctx, sql, q.args...)
	if err != nil {
		return AccountList{}, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	out := AccountList{Items: []Account{}}
	var sortKeys []string
	for rows.Next() {
		var a Account
		var key string
		if err := scanAccount(rows, &a, &key); err != nil {
			return AccountList{}, fmt.Errorf("list accounts: %w", err)
		}
		out.Items = append(out.Items, a)
		sortKeys = append(sortKeys, key)
	}
	if err := rows.Err(); err != nil {
		return AccountList{}, fmt.Errorf("list accounts: %w", err)
	}
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
		last := out.Items[limit-1]
		out.NextCursor = cursor{Sort: "name", Value: sortKeys[limit-1], ID: last.ID}.encode()
	}
	return out, nil
}

// getAccount reads one account u may see.
func getAccount(ctx context.Context, q querier, u User, id string) (Account, error) {
	sql := `SELECT ` + accountCols + ` FROM accounts a WHERE a.id = $1`
	args := []any{id}
	if !u.Manager() {
		sql += " AND " + accountVisibleSQL("$2")
		args = append(args, u.Email)
	}
	var a Account
	err := scanAccount(q.QueryRow(ctx, sql, args...), &a)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, noAccount(id)
	}
	if err != nil {
		return Account{}, fmt.Errorf("get account %s: %w", id, err)
	}
	return a, nil
}

// GetAccount reads an account with its contacts and the deals u may see of
// it (oldest first): ErrAccountNotFound when there is none u may see.
func GetAccount(ctx context.Context, pool *Pool, u User, id string) (AccountDetail, error) {
	a, err := getAccount(ctx, pool, u, id)
	if err != nil {
		return AccountDetail{}, err
	}
	out := AccountDetail{Account: a, Contacts: []Contact{}, Deals: []AccountDeal{}}
	rows, err := pool.Query(ctx, `SELECT `+contactCols+` FROM contacts c WHERE c.account_id = $1
		ORDER BY lower(c.last_name), lower(c.first_name), c.id`, id)
	if err != nil {
		return AccountDetail{}, fmt.Errorf("contacts of account %s: %w", id, err)
	}
	for rows.Next() {
		var c Contact
		if err := scanContact(rows, &c); err != nil {
			rows.Close()
			return AccountDetail{}, fmt.Errorf("contacts of account %s: %w", id, err)
		}
		out.Contacts = append(out.Contacts, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return AccountDetail{}, fmt.Errorf("contacts of account %s: %w", id, err)
	}

	sql := `SELECT l.id, l.topic, l.stage, l.status, l.value::text, l.currency, l.owner
		FROM leads l WHERE l.account_id = $1`
	args := []any{id}
	if !u.Manager() {
		sql += " AND " + visibleSQL("$2")
		args = append(args, u.Email)
	}
	rows, err = pool.Query(ctx, sql+" ORDER BY l.created_at, l.id", args...)
	if err != nil {
		return AccountDetail{}, fmt.Errorf("deals of account %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var d AccountDeal
		var value string
		if err := rows.Scan(&d.ID, &d.Topic, &d.Stage, &d.Status, &value, &d.Currency, &d.Owner); err != nil {
			return AccountDetail{}, fmt.Errorf("deals of account %s: %w", id, err)
		}
		if d.Value, err = decimal.NewFromString(value); err != nil {
			return AccountDetail{}, fmt.Errorf("deal %s: value %q: %w", d.ID, value, err)
		}
		out.Deals = append(out.Deals, d)
	}
	if err := rows.Err(); err != nil {
		return AccountDetail{}, fmt.Errorf("deals of account %s: %w", id, err)
	}
	return out, nil
}

// UpdateAccount sets the fields patch names on an account u may see: an
// *InvalidError when the patch fails Validate, ErrAccountNotFound when
// there is no such account u may see, ErrAccountExists when another
// account has the new name (whatever the case). A patch that changes
// nothing writes nothing.
func UpdateAccount(ctx context.Context, pool *Pool, u User, id string, patch AccountPatch) (Account, error) {
	if errs := patch.Validate(); len(errs) > 0 {
		return Account{}, &InvalidError{What: "account", Fields: errs}
	}
	patch = patch.normalized()
	var a Account
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		old, err := getAccount(ctx, tx, u, id)
		if err != nil {
			return err
		}
		n := old
		setVal(&n.Name, patch.Name)
		setVal(&n.Website, patch.Website)
		setVal(&n.Phone, patch.Phone)
		setVal(&n.Address, patch.Address)
		if n == old {
			a = old
			return nil
		}
		if !strings.EqualFold(n.Name, old.Name) {
			var other string
			err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE lower(name) = lower($1) AND id <> $2`, n.Name, id).Scan(&other)
			if err == nil {
				return withKind(ErrAccountExists, fmt.Errorf("account %s is named %q already", other, n.Name))
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		err = scanAccount(tx.QueryRow(ctx, `UPDATE accounts a SET name = $2, website = $3, phone = $4, address = $5,
				name_key = $6, phone_key = $7, updated_at = now()
			WHERE a.id = $1 RETURNING `+accountCols,
			id, n.Name, n.Website, n.Phone, n.Address, dedup.Company(n.Name), dedup.Phone(n.Phone)), &a)
		if uniqueViolation(err) { // renamed by another request meanwhile
			return withKind(ErrAccountExists, fmt.Errorf("an account named %q exists", n.Name))
		}
		return err
	})
	if err != nil {
		return Account{}, wrapCustomer("update account "+id, err)
	}
	return a, nil
}

// getContact reads one contact u may see.
func getContact(ctx context.Context, q querier, u User, id string) (Contact, error) {
	sql := `SELECT ` + contactCols + ` FROM contacts c WHERE c.id = $1`
	args := []any{id}
	if !u.Manager() {
		sql += " AND " + contactVisibleSQL("$2")
		args = append(args, u.Email)
	}
	var c Contact
	err := scanContact(q.QueryRow(ctx, sql, args...), &c)
	if errors.Is(err, pgx.ErrNoRows) {
		return Contact{}, noContact(id)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("get contact %s: %w", id, err)
	}
	return c, nil
}

// GetContact reads a contact: ErrContactNotFound when there is none u may
// see (a rep sees the contacts of the accounts they see, and those of their
// deals).
func GetContact(ctx context.Context, pool *Pool, u User, id string) (Contact, error) {
	return getContact(ctx, pool, u, id)
}

// UpdateContact sets the fields patch names on a contact u may see: an
// *InvalidError when the patch fails Validate, ErrContactNotFound when there
// is no such contact u may see, ErrContactExists when another contact has
// the new email address. A patch that changes nothing writes nothing.
func UpdateContact(ctx context.Context, pool *Pool, u User, id string, patch ContactPatch) (Contact, error) {
	if errs := patch.Validate(); len(errs) > 0 {
		return Contact{}, &InvalidError{What: "contact", Fields: errs}
	}
	patch = patch.normalized()
	var c Contact
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		old, err := getContact(ctx, tx, u, id)
		if err != nil {
			return err
		}
		n := old
		setVal(&n.FirstName, patch.FirstName)
		setVal(&n.LastName, patch.LastName)
		setVal(&n.JobTitle, patch.JobTitle)
		setVal(&n.Email, patch.Email)
		setVal(&n.Phone, patch.Phone)
		if n == old {
			c = old
			return nil
		}
		if n.Email != "" && !strings.EqualFold(n.Email, old.Email) {
			var other string
			err := tx.QueryRow(ctx, `SELECT id FROM contacts WHERE email <> '' AND lower(email) = lower($1) AND id <> $2`,
				n.Email, id).Scan(&other)
			if err == nil {
				return withKind(ErrContactExists, fmt.Errorf("contact %s has the email address %s already", other, n.Email))
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE contacts SET first_name = $2, last_name = $3, job_title = $4, email = $5,
				phone = $6, email_key = $7, phone_key = $8, updated_at = now()
			WHERE id = $1`,
			id, n.FirstName, n.LastName, n.JobTitle, n.Email, n.Phone, dedup.Email(n.Email), dedup.Phone(n.Phone))
		if uniqueViolation(err) {
			return withKind(ErrContactExists, fmt.Errorf("a contact with the email address %s exists", n.Email))
		}
		if err != nil {
			return err
		}
		c, err = getContact(ctx, tx, User{Role: workflows.RoleManager}, id)
		return err
	})
	if err != nil {
		return Contact{}, wrapCustomer("update contact "+id, err)
	}
	return c, nil
}

// wrapCustomer adds context to an error of PostgreSQL, and passes the
// errors whose text is for the user as they are.
func wrapCustomer(what string, err error) error {
	for _, kind := range []error{ErrAccountNotFound, ErrContactNotFound, ErrAccountExists, ErrContactExists} {
		if errors.Is(err, kind) {
			return err
		}
	}
	var inv *InvalidError
	if errors.As(err, &inv) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// AccountVisible and ContactVisible report whether u may see the record:
// what u's lead or qualification may link. A record u may not see is not
// linked (linking it would show it to u), and is not on file as far as u
// can tell.
func AccountVisible(ctx context.Context, pool *Pool, u User, id string) (bool, error) {
	_, err := getAccount(ctx, pool, u, id)
	if errors.Is(err, ErrAccountNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ContactVisible: see AccountVisible.
func ContactVisible(ctx context.Context, pool *Pool, u User, id string) (bool, error) {
	_, err := getContact(ctx, pool, u, id)
	if errors.Is(err, ErrContactNotFound) {
		return false, nil
	}
	return err == nil, err
}
