package workflows

// Safe concurrent edits: an action may name the version of the deal it was
// decided on (Actor.IfMatch, which the API sets from the If-Match header),
// and is then refused when the deal has taken another step since. The
// version is the deal's NextSeq, the number of its latest timeline event:
// every step (an action taken or refused, a follow-up) records one, and it
// is part of the state, so every API instance reads the same.
//
// The comparison is made by the workflow, in the Update's validator and
// again in the handler under the deal's lock (dealWorkflow.act), so it is
// atomic with the step: no other action can land between the check and the
// write, as it could were the API to compare first and send the Update after.
//
// Replay: the check changes nothing for a command without IfMatch, which is
// every command of the histories recorded before it (the field did not
// exist, and strict decoding refused a payload naming it), so those replay
// as before; and a history with IfMatch commands replays the same check on
// the same state. Hence no workflow.GetVersion: nothing old takes a new path.

// RejectStale: the action names a version of the deal (If-Match) that is no
// longer the current one; Rejection.Version is the current one (the API's 412).
const RejectStale = "stale"

// IfMatchVersion is the version of the deal the command was decided on; 0:
// any version.
func (a Actor) IfMatchVersion() int { return a.IfMatch }

// SetIfMatch sets the version of the deal the command was decided on (0:
// any; a negative one never matches). Call it after SetActor, which sets the
// whole Actor.
func (a *Actor) SetIfMatch(version int) { a.IfMatch = version }

// Version is the deal's version: it changes with every step (see above).
func (d *Deal) Version() int { return d.NextSeq }

// stale refuses cmd when it names a version of the deal other than the
// current one; nil when it names none, or the current one.
func (d *Deal) stale(cmd Command) *Rejection {
	v, ok := cmd.(interface{ IfMatchVersion() int })
	if !ok || v.IfMatchVersion() == 0 || v.IfMatchVersion() == d.Version() {
		return nil
	}
	rej := d.reject(RejectStale, cmd.Action(), nil, nil,
		"the deal has changed since the version this %s was sent for: it is at version %d now", cmd.Action(), d.Version())
	rej.Version = d.Version()
	return rej
}
