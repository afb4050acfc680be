package httpapi

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// Roles of API users (the workflow checks them too, see workflows.Actor).
const (
	RoleRep     = workflows.RoleRep
	RoleManager = workflows.RoleManager
)

// User is an API user as the store keeps them; the authenticated one acts.
type User = store.User

// randomID returns prefix + 16 lowercase base32 characters (80 bits).
func randomID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// createUser: POST /v1/users (managers). The token is shown this once.
func (s *Server) createUser(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	if !u.Manager() {
		return forbidden("creating users is for managers")
	}
	body, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var req store.NewUser
	if err := decodeObject(body, &req, false); err != nil {
		return err
	}
	nu, err := store.CreateUser(ctx, s.cfg.Pool, req)
	if errors.Is(err, store.ErrUserExists) {
		return conflict("user-exists", "User exists", "a user with email "+req.Email+" exists already")
	}
	if err != nil {
		return pgErr(ctx, err)
	}
	tok, err := store.IssueToken(ctx, s.cfg.Pool, nu.ID, "created by "+u.Email)
	if err != nil {
		return pgErr(ctx, err)
	}
	s.log.Info("user created", "userID", nu.ID, "email", nu.Email, "role", nu.Role, "by", u.Email)
	c.JSON(http.StatusCreated, struct {
		User
		Token string `json:"token"`
	}{nu, tok})
	return nil
}
