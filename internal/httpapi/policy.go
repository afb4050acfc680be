package httpapi

import (
	"time"

	"dealflow/workflows"
)

// policyInput is a deal's follow-up policy as the API takes it: durations as
// Go duration strings ("72h", "90s"), every field optional (the default
// policy fills the rest). Demos and tests shorten the timers with it. The
// API shows a deal's policy the same way (policyView), every field set.
type policyInput struct {
	LeadReminderAfter     *string `json:"leadReminderAfter"`
	LeadReminders         *int    `json:"leadReminders"`
	StageNudgeAfter       *string `json:"stageNudgeAfter"`
	StageNudges           *int    `json:"stageNudges"`
	QuoteValidity         *string `json:"quoteValidity"`
	QuoteReminderBefore   *string `json:"quoteReminderBefore"`
	InvoiceReminderBefore *string `json:"invoiceReminderBefore"`
	OverdueEvery          *string `json:"overdueEvery"`
	OverdueNotices        *int    `json:"overdueNotices"`
	ReengageAfter         *string `json:"reengageAfter"`
	ThankYouAfter         *string `json:"thankYouAfter"`
	Retention             *string `json:"retention"`
	Day                   *string `json:"day"`
	// Activities: reminders of open appointments and tasks.
	ActivityReminderBefore *string `json:"activityReminderBefore"`
	TaskReminderAt         *string `json:"taskReminderAt"`
}

// policyView is p as the API shows it: as it takes it, not in the
// nanoseconds the workflow keeps.
func policyView(p workflows.Policy) policyInput {
	return policyInput{
		LeadReminderAfter: new(p.LeadReminderAfter.String()), LeadReminders: new(p.LeadReminders),
		StageNudgeAfter: new(p.StageNudgeAfter.String()), StageNudges: new(p.StageNudges),
		QuoteValidity: new(p.QuoteValidity.String()), QuoteReminderBefore: new(p.QuoteReminderBefore.String()),
		InvoiceReminderBefore: new(p.InvoiceReminderBefore.String()), OverdueEvery: new(p.OverdueEvery.String()),
		OverdueNotices: new(p.OverdueNotices), ReengageAfter: new(p.ReengageAfter.String()),
		ThankYouAfter: new(p.ThankYouAfter.String()), Retention: new(p.Retention.String()), Day: new(p.Day.String()),
		ActivityReminderBefore: new(p.ActivityReminderBefore.String()), TaskReminderAt: new(p.TaskReminderAt.String()),
	}
}

// policy applies the input over the default policy.
func (in policyInput) policy() (workflows.Policy, []workflows.FieldError) {
	p := workflows.DefaultPolicy()
	var errs []workflows.FieldError
	dur := func(name string, src *string, dst *time.Duration) {
		if src == nil {
			return
		}
		d, err := time.ParseDuration(*src)
		if err != nil || d < 0 {
			errs = append(errs, workflows.FieldError{Field: "policy." + name, Reason: "must be a non-negative duration such as 72h or 90s"})
			return
		}
		*dst = d
	}
	count := func(name string, src *int, dst *int) {
		if src == nil {
			return
		}
		if *src < 0 || *src > 100 {
			errs = append(errs, workflows.FieldError{Field: "policy." + name, Reason: "must be between 0 and 100"})
			return
		}
		*dst = *src
	}
	dur("leadReminderAfter", in.LeadReminderAfter, &p.LeadReminderAfter)
	count("leadReminders", in.LeadReminders, &p.LeadReminders)
	dur("stageNudgeAfter", in.StageNudgeAfter, &p.StageNudgeAfter)
	count("stageNudges", in.StageNudges, &p.StageNudges)
	dur("quoteValidity", in.QuoteValidity, &p.QuoteValidity)
	dur("quoteReminderBefore", in.QuoteReminderBefore, &p.QuoteReminderBefore)
	dur("invoiceReminderBefore", in.InvoiceReminderBefore, &p.InvoiceReminderBefore)
	dur("overdueEvery", in.OverdueEvery, &p.OverdueEvery)
	count("overdueNotices", in.OverdueNotices, &p.OverdueNotices)
	dur("reengageAfter", in.ReengageAfter, &p.ReengageAfter)
	dur("thankYouAfter", in.ThankYouAfter, &p.ThankYouAfter)
	dur("retention", in.Retention, &p.Retention)
	dur("day", in.Day, &p.Day)
	dur("activityReminderBefore", in.ActivityReminderBefore, &p.ActivityReminderBefore)
	dur("taskReminderAt", in.TaskReminderAt, &p.TaskReminderAt)
	if len(errs) == 0 {
		if err := p.Validate(); err != nil {
			errs = append(errs, workflows.FieldError{Field: "policy", Reason: err.Error()})
		}
	}
	return p, errs
}
