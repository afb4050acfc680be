package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// Accounts and contacts, read and edited in PostgreSQL (the store): a
// qualification links or creates them; no workflow holds them. And the
// possible-duplicate check of a new lead and of a qualification.

// customerErr turns an error of the store's accounts and contacts into its
// problem.
func customerErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, store.ErrAccountNotFound), errors.Is(err, store.ErrContactNotFound):
		return notFound(err.Error())
	case errors.Is(err, store.ErrAccountExists):
		return conflict("account-exists", "Account exists", err.Error())
	case errors.Is(err, store.ErrContactExists):
		return conflict("contact-exists", "Contact exists", err.Error())
	}
	return pgErr(ctx, err) // an *store.InvalidError is a 422
}

// listAccounts: GET /v1/accounts?name=&cursor=&limit=.
func (s *Server) listAccounts(c *gin.Context) error {
	ctx := c.Request.Context()
	q := c.Request.URL.Query()
	errs := checkParams(q, "name", "cursor", "limit")
	f := store.AccountFilter{Name: q.Get("name"), Cursor: q.Get("cursor")}
	errs = append(errs, f.Validate()...)
	f.Limit = limitParam(q, 50, &errs)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	list, err := store.ListAccounts(ctx, s.cfg.Pool, userOf(c), f)
	if err != nil {
		return customerErr(ctx, err)
	}
	c.JSON(http.StatusOK, list)
	return nil
}

// getAccount: GET /v1/accounts/:id, with its contacts and deals.
func (s *Server) getAccount(c *gin.Context) error {
	ctx := c.Request.Context()
	a, err := store.GetAccount(ctx, s.cfg.Pool, userOf(c), c.Param("id"))
	if err != nil {
		return customerErr(ctx, err)
	}
	c.JSON(http.StatusOK, a)
	return nil
}

// editAccount: PATCH /v1/accounts/:id; answers the account as GET does.
func (s *Server) editAccount(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	var req store.AccountPatch
	if err := decodeBody(c, &req, true); err != nil {
		return err
	}
	a, err := store.UpdateAccount(ctx, s.cfg.Pool, u, c.Param("id"), req)
	if err != nil {
		return customerErr(ctx, err)
	}
	s.log.Info("account edited", "accountID", a.ID, "by", u.Email)
	return s.getAccount(c)
}

// getContact: GET /v1/contacts/:id.
func (s *Server) getContact(c *gin.Context) error {
	ctx := c.Request.Context()
	ct, err := store.GetContact(ctx, s.cfg.Pool, userOf(c), c.Param("id"))
	if err != nil {
		return customerErr(ctx, err)
	}
	c.JSON(http.StatusOK, ct)
	return nil
}

// editContact: PATCH /v1/contacts/:id.
func (s *Server) editContact(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	var req store.ContactPatch
	if err := decodeBody(c, &req, true); err != nil {
		return err
	}
	ct, err := store.UpdateContact(ctx, s.cfg.Pool, u, c.Param("id"), req)
	if err != nil {
		return customerErr(ctx, err)
	}
	s.log.Info("contact edited", "contactID", ct.ID, "by", u.Email)
	c.JSON(http.StatusOK, ct)
	return nil
}

// possibleDuplicate is the 409 of a lead or qualification that may
// duplicate records on file.
func possibleDuplicate(what string, matches []store.DuplicateMatch) *Problem {
	var list []string
	for _, m := range matches {
		list = append(list, m.String())
	}
	p := conflict("possible-duplicate", "Possible duplicate",
		fmt.Sprintf("%s may duplicate %d record(s) on file: %s. Link the record on file with existingAccountId or "+
			"existingContactId, or send allowDuplicate: true to go ahead", what, len(matches), strings.Join(list, "; ")))
	p.Matches = matches
	return p
}

// linkedRecords checks that the account and contact a lead, its edit or a
// qualification names are on file and u may see them (a 422 naming the
// field otherwise: another rep's records are not u's to link), and reports
// whether it names any.
func (s *Server) linkedRecords(ctx context.Context, u User, accountID, contactID string) (bool, error) {
	var errs []workflows.FieldError
	for _, l := range []struct {
		field, id string
		visible   func(context.Context, *store.Pool, store.User, string) (bool, error)
		what      string
	}{
		{"existingAccountId", accountID, store.AccountVisible, "an account"},
		{"existingContactId", contactID, store.ContactVisible, "a contact"},
	} {
		if l.id == "" {
			continue
		}
		ok, err := l.visible(ctx, s.cfg.Pool, u, l.id)
		if err != nil {
			return false, pgErr(ctx, err)
		}
		if !ok {
			errs = append(errs, workflows.FieldError{Field: l.field, Reason: "is not " + l.what + " on file"})
		}
	}
	if len(errs) > 0 {
		return false, invalid(errs...)
	}
	return accountID != "" || contactID != "", nil
}

// checkNewLead refuses a new lead that may duplicate a lead, contact or
// account on file (409 possible-duplicate), unless it links records on
// file (which must exist) or allows duplicates. The lead's own id is left
// out: a repeated create is not its own duplicate.
func (s *Server) checkNewLead(ctx context.Context, u User, in workflows.NewLead) error {
	linked, err := s.linkedRecords(ctx, u, in.Lead.ExistingAccountID, in.Lead.ExistingContactID)
	if err != nil || linked || in.AllowDuplicate {
		return err
	}
	matches, err := store.FindDuplicates(ctx, s.cfg.Pool, store.DuplicateQuery{
		Email: in.Lead.Email, Phone: in.Lead.Phone, Company: in.Lead.Company,
		ExcludeLeadID: in.ID, Viewer: &u})
	if err != nil {
		return pgErr(ctx, err)
	}
	if len(matches) > 0 {
		return possibleDuplicate("the lead", matches)
	}
	return nil
}

// checkQualify refuses a qualification whose contact may duplicate a
// contact on file, or whose company an account (409 possible-duplicate),
// unless the command links records on file (which must exist) or allows
// duplicates. The lead's fields come from the read model; a lead not
// there, or not open in Qualify, is left to the workflow to refuse.
func (s *Server) checkQualify(ctx context.Context, u User, id string, cmd workflows.Command) error {
	q, ok := cmd.(*workflows.Qualify)
	if !ok {
		return nil
	}
	linked, err := s.linkedRecords(ctx, u, q.ExistingAccountID, q.ExistingContactID)
	if err != nil || linked || q.AllowDuplicate {
		return err
	}
	dq, ok, err := store.LeadDuplicateQuery(ctx, s.cfg.Pool, u, id)
	if err != nil {
		return pgErr(ctx, err)
	}
	if !ok {
		return nil
	}
	matches, err := store.FindDuplicates(ctx, s.cfg.Pool, dq)
	if err != nil {
		return pgErr(ctx, err)
	}
	if len(matches) > 0 {
		return possibleDuplicate("qualifying lead "+id, matches)
	}
	return nil
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
