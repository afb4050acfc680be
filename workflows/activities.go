package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Activity types: what a rep does with the customer, as Dynamics 365 logs it.
const (
	ActivityPhoneCall   = "phone_call"
	ActivityEmail       = "email"
	ActivityTask        = "task"
	ActivityAppointment = "appointment"
	ActivityNote        = "note"
)

// ActivityTypes lists the activity types.
var ActivityTypes = []string{ActivityPhoneCall, ActivityEmail, ActivityTask, ActivityAppointment, ActivityNote}

// Activity statuses.
const (
	ActivityOpen      = "open"
	ActivityCompleted = "completed"
	ActivityCanceled  = "canceled"
)

// The value lists of activities.
var (
	CallDirections     = []string{"incoming", "outgoing"}
	ActivityPriorities = []string{"low", "normal", "high"}
)

// Lead status reasons of an open lead (Lead.StatusReason).
const (
	LeadNew       = "New"
	LeadContacted = "Contacted"
)

// Activity is one call, email, task, appointment or note on the deal.
type Activity struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Subject     string `json:"subject,omitempty"`
	Description string `json:"description,omitempty"`
	// Owner is who does it and gets its reminders (default: the rep who
	// logged it).
	Owner  string `json:"owner"`
	Status string `json:"status"`
	// Phone call.
	Direction   string `json:"direction,omitempty"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
	// Email: To receives it when the rep asks to send it (Sent).
	To   string `json:"to,omitempty"`
	Sent bool   `json:"sent,omitempty"`
	// Task.
	DueAt    *time.Time `json:"dueAt,omitempty"`
	Priority string     `json:"priority,omitempty"`
	// Appointment.
	StartAt   *time.Time `json:"startAt,omitempty"`
	EndAt     *time.Time `json:"endAt,omitempty"`
	Location  string     `json:"location,omitempty"`
	Attendees []string   `json:"attendees,omitempty"`
	// Outcome is what came of it, said when it is completed.
	Outcome     string     `json:"outcome,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	CreatedBy   string     `json:"createdBy"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	CanceledAt  *time.Time `json:"canceledAt,omitempty"`
	// Reminded and OverdueSent: the reminder before it is due and the notice
	// once it is overdue went out (for its current due time: moving it
	// clears both).
	Reminded    bool `json:"reminded,omitempty"`
	OverdueSent bool `json:"overdueSent,omitempty"`
}

// Due is when an open task is due or an appointment starts; nil when the
// activity has no due time.
func (a *Activity) Due() *time.Time {
	switch a.Type {
	case ActivityTask:
		return a.DueAt
	case ActivityAppointment:
		return a.StartAt
	}
	return nil
}

// OverdueAt is when an open task or appointment becomes overdue: a task at
// its due time, an appointment at its end.
func (a *Activity) OverdueAt() *time.Time {
	if a.Type == ActivityAppointment {
		return a.EndAt
	}
	return a.DueAt
}

// contacts reports whether completing the activity means the customer was
// contacted (a call, an email or a meeting).
func (a *Activity) contacts() bool {
	return a.Type == ActivityPhoneCall || a.Type == ActivityEmail || a.Type == ActivityAppointment
}

// activity finds an activity by id.
func (d *Deal) activity(id string) *Activity {
	for i := range d.Activities {
		if d.Activities[i].ID == id {
			return &d.Activities[i]
		}
	}
	return nil
}

// ActivityFields are an activity's fields as a rep enters or edits them;
// only those present are set.
type ActivityFields struct {
	Subject     *string    `json:"subject,omitempty"`
	Description *string    `json:"description,omitempty"`
	Owner       *string    `json:"owner,omitempty"`
	Direction   *string    `json:"direction,omitempty"`
	PhoneNumber *string    `json:"phoneNumber,omitempty"`
	To          *string    `json:"to,omitempty"`
	DueAt       *time.Time `json:"dueAt,omitempty"`
	Priority    *string    `json:"priority,omitempty"`
	StartAt     *time.Time `json:"startAt,omitempty"`
	EndAt       *time.Time `json:"endAt,omitempty"`
	Location    *string    `json:"location,omitempty"`
	Attendees   *[]string  `json:"attendees,omitempty"`
}

// maxAttendees bounds an appointment's attendees.
const maxAttendees = 50

func (f ActivityFields) check(c *checker) {
	if f.Subject != nil {
		c.text("subject", *f.Subject, false, maxText)
	}
	if f.Description != nil {
		c.text("description", *f.Description, false, maxLongText)
	}
	if f.Owner != nil {
		c.text("owner", *f.Owner, true, maxText)
		c.email("owner", *f.Owner)
	}
	if f.Direction != nil {
		c.oneOf("direction", *f.Direction, CallDirections)
	}
	if f.PhoneNumber != nil {
		c.phone("phoneNumber", *f.PhoneNumber)
	}
	if f.To != nil {
		c.text("to", *f.To, true, maxText)
		c.email("to", *f.To)
	}
	if f.Priority != nil {
		c.oneOf("priority", *f.Priority, ActivityPriorities)
	}
	if f.Location != nil {
		c.text("location", *f.Location, false, maxText)
	}
	if f.Attendees != nil {
		if len(*f.Attendees) > maxAttendees {
			c.add("attendees", "must list at most %d people", maxAttendees)
		}
		for i, a := range *f.Attendees {
			c.text(fmt.Sprintf("attendees[%d]", i), a, true, maxText)
		}
	}
}

// set applies the fields present to a.
func (f ActivityFields) set(a *Activity) {
	setVal(&a.Subject, f.Subject)
	setVal(&a.Description, f.Description)
	setVal(&a.Owner, f.Owner)
	setVal(&a.Direction, f.Direction)
	setVal(&a.PhoneNumber, f.PhoneNumber)
	setVal(&a.To, f.To)
	setVal(&a.Priority, f.Priority)
	setVal(&a.Location, f.Location)
	if f.DueAt != nil {
		a.DueAt = f.DueAt
	}
	if f.StartAt != nil {
		a.StartAt = f.StartAt
	}
	if f.EndAt != nil {
		a.EndAt = f.EndAt
	}
	if f.Attendees != nil {
		a.Attendees = slices.Clone(*f.Attendees)
	}
}

// checkActivity checks an activity as it would be once created or edited:
// what its type needs, and no field of another type.
func checkActivity(a *Activity) []FieldError {
	var c checker
	needs := func(field string, ok bool) {
		if !ok {
			c.add(field, "is required for %s", strings.ReplaceAll(a.Type, "_", " "))
		}
	}
	only := func(field string, set bool, types ...string) {
		if set && !slices.Contains(types, a.Type) {
			c.add(field, "applies only to %s", JoinNames(types, " or "))
		}
	}
	if a.Type == ActivityNote {
		needs("description", strings.TrimSpace(a.Description) != "")
	} else {
		needs("subject", strings.TrimSpace(a.Subject) != "")
	}
	switch a.Type {
	case ActivityEmail:
		needs("to", a.To != "")
	case ActivityAppointment:
		needs("startAt", a.StartAt != nil)
		needs("endAt", a.EndAt != nil)
		if a.StartAt != nil && a.EndAt != nil && a.EndAt.Before(*a.StartAt) {
			c.add("endAt", "must not be before startAt")
		}
	}
	only("direction", a.Direction != "", ActivityPhoneCall)
	only("phoneNumber", a.PhoneNumber != "", ActivityPhoneCall)
	only("to", a.To != "", ActivityEmail)
	only("dueAt", a.DueAt != nil, ActivityTask)
	only("priority", a.Priority != "", ActivityTask)
	only("startAt", a.StartAt != nil, ActivityAppointment)
	only("endAt", a.EndAt != nil, ActivityAppointment)
	only("location", a.Location != "", ActivityAppointment)
	only("attendees", len(a.Attendees) > 0, ActivityAppointment)
	return c.errs
}

// AddActivity logs an activity on the deal: open, or already Completed
// (a call that took place); an email with Send is sent to its recipient and
// completed.
type AddActivity struct {
	Actor
	Type string `json:"type"`
	ActivityFields
	Completed bool   `json:"completed,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
	Send      bool   `json:"send,omitempty"`
}

func (AddActivity) Action() Action { return ActAddActivity }
func (a AddActivity) Validate() []FieldError {
	var c checker
	c.text("type", a.Type, true, maxText)
	c.oneOf("type", a.Type, ActivityTypes)
	a.ActivityFields.check(&c)
	c.text("outcome", a.Outcome, false, maxLongText)
	if a.Send && a.Type != ActivityEmail {
		c.add("send", "applies only to an email")
	}
	if a.Outcome != "" && !a.Completed && !a.Send {
		c.add("outcome", "applies only to an activity logged as completed")
	}
	return c.errs
}

// EditActivity changes an open activity; only the fields present change.
type EditActivity struct {
	Actor
	ID string `json:"id"`
	ActivityFields
}

// SetItemID names the activity (the API takes it from the path).
func (e *EditActivity) SetItemID(id string) { e.ID = id }

func (EditActivity) Action() Action { return ActEditActivity }
func (e EditActivity) Validate() []FieldError {
	var c checker
	c.text("id", e.ID, true, maxText)
	e.ActivityFields.check(&c)
	return c.errs
}

// CompleteActivity marks an open activity done, with what came of it.
type CompleteActivity struct {
	Actor
	ID      string `json:"id"`
	Outcome string `json:"outcome,omitempty"`
}

// SetItemID names the activity (the API takes it from the path).
func (e *CompleteActivity) SetItemID(id string) { e.ID = id }

func (CompleteActivity) Action() Action { return ActCompleteActivity }
func (e CompleteActivity) Validate() []FieldError {
	var c checker
	c.text("id", e.ID, true, maxText)
	c.text("outcome", e.Outcome, false, maxLongText)
	return c.errs
}

// CancelActivity cancels an open activity, and its reminders with it.
type CancelActivity struct {
	Actor
	ID string `json:"id"`
}

// SetItemID names the activity (the API takes it from the path).
func (e *CancelActivity) SetItemID(id string) { e.ID = id }

func (CancelActivity) Action() Action { return ActCancelActivity }
func (e CancelActivity) Validate() []FieldError {
	var c checker
	c.text("id", e.ID, true, maxText)
	return c.errs
}

func (d *Deal) addActivity(c *AddActivity, now time.Time) (effect, error) {
	a := Activity{ID: fmt.Sprintf("activity-%d", d.NextItem+1), Type: c.Type, Owner: c.By(), Status: ActivityOpen,
		CreatedAt: now, CreatedBy: c.By()}
	c.ActivityFields.set(&a)
	if a.Type == ActivityTask && a.Priority == "" {
		a.Priority = "normal"
	}
	if fields := checkActivity(&a); len(fields) > 0 {
		return nil, d.reject(RejectInvalid, ActAddActivity, nil, fields, "invalid add_activity input: %s", Describe(fields))
	}
	return func() (Change, Result) {
		a.ID = d.itemID("activity")
		var ch Change
		if c.Send {
			m := Message{Key: d.ID + "/activity/" + a.ID + "/email", Kind: KindActivityEmail, Recipient: a.To,
				Subject: a.Subject, Body: a.Description, At: now}
			d.Messages = append(d.Messages, m)
			ch.Messages = []Message{m}
			a.Sent = true
		}
		msg := fmt.Sprintf("%s %s logged: %s", strings.ReplaceAll(a.Type, "_", " "), a.ID, a.title())
		// A note is a record, not a to-do: it is complete as written.
		if c.Completed || c.Send || a.Type == ActivityNote {
			msg += d.complete(&a, c.Outcome, now)
		}
		d.Activities = append(d.Activities, a)
		ch.Activities = []Activity{a}
		return ch, Result{ID: a.ID, Message: msg}
	}, nil
}

// openActivity finds an open activity by id for act.
func (d *Deal) openActivity(act Action, id string) (*Activity, error) {
	a := d.activity(id)
	if a == nil {
		return nil, d.reject(RejectNotFound, act, nil, nil, "no activity %s on this deal", id)
	}
	if a.Status != ActivityOpen {
		return nil, d.reject(RejectGate, act, nil, nil, "activity %s is %s", id, a.Status)
	}
	return a, nil
}

func (d *Deal) editActivity(c *EditActivity, now time.Time) (effect, error) {
	a, err := d.openActivity(ActEditActivity, c.ID)
	if err != nil {
		return nil, err
	}
	edited := *a
	edited.Attendees = slices.Clone(a.Attendees)
	c.ActivityFields.set(&edited)
	if fields := checkActivity(&edited); len(fields) > 0 {
		return nil, d.reject(RejectInvalid, ActEditActivity, nil, fields, "invalid edit_activity input: %s", Describe(fields))
	}
	return func() (Change, Result) {
		if !timeEqual(edited.Due(), a.Due()) || !timeEqual(edited.OverdueAt(), a.OverdueAt()) {
			edited.Reminded, edited.OverdueSent = false, false // a new due time, new reminders
		}
		*a = edited
		return Change{Activities: []Activity{*a}}, Result{ID: a.ID, Message: "activity " + a.ID + " edited"}
	}, nil
}

func (d *Deal) completeActivity(c *CompleteActivity, now time.Time) (effect, error) {
	a, err := d.openActivity(ActCompleteActivity, c.ID)
	if err != nil {
		return nil, err
	}
	return func() (Change, Result) {
		msg := "activity " + a.ID + " completed" + d.complete(a, c.Outcome, now)
		return Change{Activities: []Activity{*a}}, Result{ID: a.ID, Message: msg}
	}, nil
}

// complete marks a done; a completed call, email or meeting marks an open
// lead Contacted. It returns what to add to the action's message.
func (d *Deal) complete(a *Activity, outcome string, now time.Time) string {
	a.Status, a.CompletedAt = ActivityCompleted, &now
	if outcome != "" {
		a.Outcome = outcome
	}
	if a.contacts() && d.Lead.Status == "Open" && d.Lead.StatusReason != LeadContacted {
		d.Lead.StatusReason = LeadContacted
		return "; lead contacted"
	}
	return ""
}

func (d *Deal) cancelActivity(c *CancelActivity, now time.Time) (effect, error) {
	a, err := d.openActivity(ActCancelActivity, c.ID)
	if err != nil {
		return nil, err
	}
	return func() (Change, Result) {
		a.Status, a.CanceledAt = ActivityCanceled, &now
		return Change{Activities: []Activity{*a}}, Result{ID: a.ID, Message: "activity " + a.ID + " canceled"}
	}, nil
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// contacted reports whether a call, email or meeting with the customer was
// completed on the deal.
func (d *Deal) contacted() bool {
	return slices.ContainsFunc(d.Activities, func(a Activity) bool { return a.contacts() && a.Status == ActivityCompleted })
}

// EndActivities cancels the activities still open when the deal's workflow
// ends (paid, or past its retention window), so that no to-do list keeps
// them: nothing could complete them afterwards. ok is false when none is
// open.
func (d *Deal) EndActivities(now time.Time) (ch Change, ok bool) {
	var ended []Activity
	for i := range d.Activities {
		if a := &d.Activities[i]; a.Status == ActivityOpen {
			a.Status, a.CanceledAt = ActivityCanceled, &now
			ended = append(ended, *a)
		}
	}
	if len(ended) == 0 {
		return Change{}, false
	}
	ch = d.change(d.record(now, "system", "end_activities", true, fmt.Sprintf("the deal ended: %d open activities canceled", len(ended))))
	ch.Activities = ended
	return ch, true
}

// isActivityAction reports whether act is one of the activity actions.
func isActivityAction(act Action) bool {
	switch act {
	case ActAddActivity, ActEditActivity, ActCompleteActivity, ActCancelActivity:
		return true
	}
	return false
}

// title names the activity in the timeline: its subject, or the start of a
// note's text.
func (a *Activity) title() string {
	if a.Subject != "" {
		return a.Subject
	}
	if r := []rune(a.Description); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return a.Description
}
