package workflows

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// answer is one Update's outcome in the If-Match tests.
type answer struct {
	res Result
	rej *Rejection
	err error
}

// sendAt sends an Update at the given time of the run and records its
// answer in *out.
func (s *scenario) sendAt(at time.Duration, act Action, id string, cmd any, out *answer) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(string(act), id, &testsuite.TestUpdateCallback{
			OnReject: func(err error) { out.rej, out.err = rejectionOf(err), err },
			OnComplete: func(r any, err error) {
				if err != nil {
					out.rej, out.err = rejectionOf(err), err
					return
				}
				res, ok := r.(Result)
				if !ok {
					out.err = fmt.Errorf("result of type %T", r)
				}
				out.res = res
			},
		}, cmd)
	}, at)
}

func rejectionOf(err error) *Rejection {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != RejectionErrorType {
		return nil
	}
	var rej *Rejection
	if app.Details(&rej) != nil {
		return nil
	}
	return rej
}

func actor(ifMatch int) Actor {
	return Actor{Actor: "alice@example.com", ActorRole: RoleRep, IfMatch: ifMatch}
}

// An action naming the deal's current version is taken, and its result
// names the new one; an action naming an earlier version is refused by the
// validator (nothing written, the version unchanged) with the current one.
// An action naming none is taken whatever the version (today's behaviour).
func TestIfMatchRefusesAStaleAction(t *testing.T) {
	s := newScenario(t)
	var qualify, stale, fresh, none, retried answer
	s.sendAt(minute, ActQualify, "q", Qualify{Actor: actor(1)}, &qualify) // the lead's creation is version 1
	s.sendAt(2*minute, ActEditOpportunity, "e1", EditOpportunity{Actor: actor(1), CustomerNeed: sptr("stale need")}, &stale)
	s.sendAt(3*minute, ActEditOpportunity, "e2", EditOpportunity{Actor: actor(2), CustomerNeed: sptr("fresh need")}, &fresh)
	s.sendAt(4*minute, ActAddCompetitor, "c", AddCompetitor{Actor: actor(0), Name: "Fabrikam"}, &none)
	// The qualification again, with its Update ID: answered as the first
	// time (the version it names is long gone), never refused.
	s.sendAt(5*minute, ActQualify, "q", Qualify{Actor: actor(1)}, &retried)
	var writes int
	s.check(6*minute, func(t *testing.T, v DealView) {
		writes = len(s.rec.changes)
		if v.Version() != 4 || v.Opportunity.CustomerNeed != "fresh need" || len(v.Opportunity.Competitors) != 1 {
			t.Errorf("version %d, need %q, competitors %v", v.Version(), v.Opportunity.CustomerNeed, v.Opportunity.Competitors)
		}
	})
	s.run(fastLead("im1"))

	if qualify.err != nil || qualify.res.Version != 2 {
		t.Errorf("qualify at version 1: %+v %v", qualify.res, qualify.err)
	}
	if stale.rej == nil || stale.rej.Code != RejectStale || stale.rej.Version != 2 || !strings.Contains(stale.rej.Message, "version 2") {
		t.Errorf("edit at version 1 of a deal at 2: %+v %v", stale.rej, stale.err)
	}
	if fresh.err != nil || fresh.res.Version != 3 {
		t.Errorf("edit at version 2: %+v %v", fresh.res, fresh.err)
	}
	if none.err != nil || none.res.Version != 4 {
		t.Errorf("without If-Match: %+v %v", none.res, none.err)
	}
	if retried.err != nil || retried.res.Version != 2 {
		t.Errorf("retried qualify: %+v %v", retried.res, retried.err)
	}
	// create, qualify, edit, competitor: the stale edit wrote nothing.
	if writes != 4 {
		t.Errorf("%d writes, want 4", writes)
	}
}

// Two reps act on the same version at the same moment: both pass the
// validator (neither has been taken yet), and the handler's check under the
// lock refuses the second once the first is taken, writing nothing (as the
// validator would have): the version its refusal names stays the current
// one. An action sent as a Signal (no validator) is checked there too, and
// its refusal recorded, as every refused Signal's.
func TestIfMatchIsCheckedUnderTheLock(t *testing.T) {
	s := newScenario(t)
	var first, second answer
	s.do(minute, ActQualify, Qualify{}) // version 2, at minute 1; the signal at minute 3
	s.sendAt(2*minute, ActEditOpportunity, "a", EditOpportunity{Actor: actor(2), CustomerNeed: sptr("Alice's need")}, &first)
	s.sendAt(2*minute, ActEditOpportunity, "b", EditOpportunity{Actor: actor(2), CustomerNeed: sptr("Bob's need")}, &second)
	s.signal(2*minute, ActAddCompetitor, AddCompetitor{Actor: actor(2), Name: "Fabrikam"})
	v := s.run(fastLead("im2"))

	if first.err != nil || first.res.Version != 3 {
		t.Fatalf("first edit: %+v %v", first.res, first.err)
	}
	if second.rej == nil || second.rej.Code != RejectStale || second.rej.Version != 3 {
		t.Fatalf("second edit: %+v %v", second.rej, second.err)
	}
	if v.Opportunity.CustomerNeed != "Alice's need" || len(v.Opportunity.Competitors) != 0 {
		t.Errorf("need %q, competitors %v", v.Opportunity.CustomerNeed, v.Opportunity.Competitors)
	}
	// Only the Signal's refusal is on the timeline.
	var refused []string
	for _, e := range v.Timeline {
		if !e.Accepted {
			refused = append(refused, e.Action)
		}
	}
	if strings.Join(refused, ",") != "add_competitor" {
		t.Errorf("refusals on the timeline: %v\n%+v", refused, v.Timeline)
	}
}

// Deal.stale on its own: a command without a version, or with the deal's,
// passes; another, or a negative one (an If-Match this API never gave),
// is refused with the deal's version.
func TestStale(t *testing.T) {
	d := NewDeal(readyLead("st1"), t0)
	d.Created("alice@example.com", t0)
	for _, tc := range []struct {
		ifMatch int
		stale   bool
	}{{0, false}, {1, false}, {2, true}, {-1, true}} {
		cmd := &Qualify{}
		cmd.SetActor(actor(0))
		cmd.SetIfMatch(tc.ifMatch)
		rej := d.stale(cmd)
		if (rej != nil) != tc.stale || rej != nil && (rej.Code != RejectStale || rej.Version != 1 || rej.Action != ActQualify) {
			t.Errorf("If-Match %d on version %d: %+v", tc.ifMatch, d.Version(), rej)
		}
	}
}
