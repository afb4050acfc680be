package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"dealflow/workflows"
)

// Safe concurrent edits. A deal's ETag is its version (workflows.Deal.Version,
// the number of its latest timeline event): it changes with every step, and
// every API instance reads the same from the deal's workflow. GET, create,
// PATCH and every action answer it; PATCH and every action take If-Match
// and answer 412 when the deal has moved on. The comparison is the
// workflow's (workflows/ifmatch.go), made atomically with the step: checking
// here and then sending the Update would let another rep's action land in
// between. Without If-Match an action is taken whatever the version, as
// before.

// etag is the strong entity tag of a deal's version: "7" with the quotes.
func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// setETag sends the deal's version as the ETag header; 0 (a result recorded
// before results named versions) sends none.
func setETag(c *gin.Context, version int) {
	if version > 0 {
		c.Header("ETag", etag(version))
	}
}

// ifMatch reads the If-Match header into the version an action expects: 0
// without one, or for "*" (any version: the deal exists, or the action fails
// anyway); -1 for a tag that names no version this API gave (a weak tag,
// which never matches under If-Match's strong comparison, or another
// server's), so that the workflow refuses it with the current version. A
// list of tags, or a value that is no entity tag, is a 400.
func ifMatch(c *gin.Context) (int, error) {
	vals := c.Request.Header.Values("If-Match")
	h := strings.TrimSpace(strings.Join(vals, ","))
	if h == "" || h == "*" {
		return 0, nil
	}
	if strings.Contains(h, ",") {
		return 0, malformed(`If-Match takes the one ETag GET /v1/leads/{id} answered, such as "7" (with the quotes)`)
	}
	tag, weak := strings.CutPrefix(h, "W/")
	if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' || strings.ContainsAny(tag[1:len(tag)-1], "\" ") {
		return 0, malformed(fmt.Sprintf(`If-Match %q is not an entity tag: send the ETag GET /v1/leads/{id} answered, such as "7" (with the quotes)`, h))
	}
	n, err := strconv.Atoi(tag[1 : len(tag)-1])
	if weak || err != nil || n < 1 {
		return -1, nil
	}
	return n, nil
}

// expect has the command carry the version it was decided on (0: any).
func expect(cmd workflows.Command, version int) error {
	c, ok := cmd.(interface{ SetIfMatch(int) })
	if !ok {
		return internal(fmt.Errorf("command %s takes no If-Match", cmd.Action()))
	}
	c.SetIfMatch(version)
	return nil
}

// dealChanged is the 412 of an action sent for a version of the deal that is
// no longer its current one.
func dealChanged(id string, current int) *Problem {
	p := newProblem(http.StatusPreconditionFailed, "deal-changed", "The deal has changed",
		fmt.Sprintf("lead %s has changed since the version your If-Match names (another change was taken first); "+
			"nothing was done: its current ETag is %s; GET it, and send the action again with that ETag if it still applies", id, etag(current)))
	p.ETag = etag(current)
	return p
}
