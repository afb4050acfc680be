// Package workflows holds the lead-to-order sales process. The domain, plain
// Go without Temporal: the deal and its records (model.go), the rep actions'
// commands and their input rules (commands.go), one row and one method per
// action (actions.go), the stage machine that applies them with its gates
// (machine.go), the timed follow-ups (followups.go) and what a step writes
// (change.go). The durable Temporal workflow around them is workflow.go. It
// does no I/O: every side effect is an activity called by name.
package workflows

import "go.temporal.io/sdk/temporal"

// TaskQueue is the task queue the deal workflow and its activities run on.
const TaskQueue = "dealflow"

// WorkflowID is the ID of the one workflow that carries a lead from its
// creation to the paid invoice.
func WorkflowID(leadID string) string { return "lead/" + leadID }

// WorkflowName is the registered name of the deal workflow.
const WorkflowName = "Deal"

// QueryState returns the whole deal view (DealView), timeline included.
const QueryState = "state"

// UpdateCreated answers the new deal's view (DealView) once its lead is
// recorded. It is the Update sent with the workflow's start (Update-with-
// Start), so that a creation is one round trip: the start, the lead written
// and the answer, instead of a start followed by a query.
const UpdateCreated = "created"

// Activity names, registered by the worker and called by the workflow.
const (
	// ActivityApplyChange writes one step of a deal (its records, its timeline
	// entry and any follow-up messages) in a single transaction, then delivers
	// the messages. It is the workflow's only side effect.
	ActivityApplyChange = "ApplyChange"
)

// ErrorTypeUnknownAccount is the ApplicationError type ApplyChange fails with
// when a qualification names an account that is not on file: retrying cannot
// help, so the workflow does not retry it.
const ErrorTypeUnknownAccount = "UnknownAccount"

// Typed search attributes the Web UI filters deals by. They must be registered
// on the namespace before the worker starts (see SearchAttributes).
var (
	SASalesStage        = temporal.NewSearchAttributeKeyKeyword("SalesStage")
	SASalesOwner        = temporal.NewSearchAttributeKeyKeyword("SalesOwner")
	SADealStatus        = temporal.NewSearchAttributeKeyKeyword("DealStatus")
	SACustomer          = temporal.NewSearchAttributeKeyKeyword("Customer")
	SALeadSource        = temporal.NewSearchAttributeKeyKeyword("LeadSource")
	SAEstimatedRevenue  = temporal.NewSearchAttributeKeyFloat64("EstimatedRevenue")
	SAExpectedCloseDate = temporal.NewSearchAttributeKeyTime("ExpectedCloseDate")
)

// SearchAttributes lists every custom search attribute with its Temporal type
// name, as the dev server's --search-attribute flag and the operator API take it.
var SearchAttributes = []struct{ Name, Type string }{
	{SASalesStage.GetName(), "Keyword"},
	{SASalesOwner.GetName(), "Keyword"},
	{SADealStatus.GetName(), "Keyword"},
	{SACustomer.GetName(), "Keyword"},
	{SALeadSource.GetName(), "Keyword"},
	{SAEstimatedRevenue.GetName(), "Double"},
	{SAExpectedCloseDate.GetName(), "Datetime"},
}
