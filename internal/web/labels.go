package web

import (
	"strings"

	"github.com/shopspring/decimal"

	"dealflow/internal/money"
	"dealflow/workflows"
)

// labels are the words the pages show for the workflow's kinds, actions and
// activity types where plain capitalization would read wrong; any other
// snake_case name reads as its words (Label).
var labels = map[string]string{
	workflows.KindThankYou:         "Thank-you",
	workflows.KindReengage:         "Re-engage",
	workflows.KindActivityEmail:    "Activity email",
	workflows.ActivityPhoneCall:    "Phone call",
	workflows.KindActivityOverdue:  "Activity overdue",
	workflows.KindActivityReminder: "Activity reminder",
	"end_activities":               "Open activities ended",
	"edit_opportunity":             "Edit opportunity",
}

// followupPrefix marks a follow-up's event in the timeline ("followup:" and
// the reminder's kind, workflows.Deal.sendFollowUp).
const followupPrefix = "followup:"

// Label is a kind, action, activity type or status in words:
// "lead_reminder" is "Lead reminder", "thank_you" "Thank-you",
// "followup:thank_you" "Follow-up: Thank-you". The one function every page
// uses for them.
func Label(s string) string {
	if rest, ok := strings.CutPrefix(s, followupPrefix); ok {
		return "Follow-up: " + Label(rest)
	}
	if l, ok := labels[s]; ok {
		return l
	}
	w := strings.ReplaceAll(s, "_", " ")
	if w == "" {
		return ""
	}
	return strings.ToUpper(w[:1]) + w[1:]
}

// paidStep is the next step of a Paid deal, in place of the workflow's "none".
const paidStep = "Paid — nothing left to do"

// NextStep is the next step a page shows for a deal in stage whose workflow
// says next: a Paid deal has nothing left to do.
func NextStep(stage workflows.Stage, next string) string {
	if stage == workflows.StagePaid {
		return paidStep
	}
	return next
}

// Amount is an amount with its currency, or "" when it is zero: an unset
// budget or estimated value shows blank, not "0.00 USD".
func Amount(v decimal.Decimal, cur string) string {
	if v.IsZero() {
		return ""
	}
	return money.Format(v, cur) + " " + cur
}
