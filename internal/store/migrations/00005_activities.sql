-- Activities on a deal (issue 15): the calls, emails, tasks, appointments
-- and notes its workflow holds (workflows.Activity), one row each, keyed by
-- the deal and the activity's id and written as snapshots like every other
-- record. Fields of another type than the row's stay empty ('' or NULL): a
-- task has due_at and priority, an appointment start_at, end_at, location
-- and attendees, a call direction and phone_number, an email "to" and sent.
-- Whether its reminders went out is the workflow's business (the messages
-- say it), not a column.
--
-- The to-do list (GET /v1/activities) asks for one owner's activities of
-- one status by due time: a task's due_at, an appointment's start_at (the
-- two are never both set), the others last ('infinity').
--
-- Beside them: the lead's status reason as the workflow has it (New, then
-- Contacted; '' once qualified, and for leads from before activities) and
-- the opportunity's actual close date (the day the rep says it was won or
-- lost; NULL while open and for deals closed before).

-- +goose Up
CREATE TABLE activities (
    lead_id      text NOT NULL REFERENCES leads (id),
    id           text NOT NULL,
    type         text NOT NULL CHECK (type IN ('phone_call', 'email', 'task', 'appointment', 'note')),
    subject      text NOT NULL DEFAULT '',
    description  text NOT NULL DEFAULT '',
    owner        text NOT NULL,
    status       text NOT NULL CHECK (status IN ('open', 'completed', 'canceled')),
    direction    text NOT NULL DEFAULT '',
    phone_number text NOT NULL DEFAULT '',
    "to"         text NOT NULL DEFAULT '',
    sent         boolean NOT NULL DEFAULT false,
    due_at       timestamptz,
    priority     text NOT NULL DEFAULT '',
    start_at     timestamptz,
    end_at       timestamptz,
    location     text NOT NULL DEFAULT '',
    attendees    text[] NOT NULL DEFAULT '{}',
    outcome      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    created_by   text NOT NULL DEFAULT '',
    completed_at timestamptz,
    canceled_at  timestamptz,
    PRIMARY KEY (lead_id, id)
);
-- The to-do list: one owner, one status, by due time (then the deal and the
-- activity, the page's cursor).
CREATE INDEX activities_todo_idx ON activities
    (lower(owner), status, (COALESCE(due_at, start_at, 'infinity'::timestamptz)), lead_id, id);
-- A deal's activities, newest first.
CREATE INDEX activities_lead_created_idx ON activities (lead_id, created_at DESC, id DESC);

ALTER TABLE leads ADD COLUMN status_reason text NOT NULL DEFAULT '';
ALTER TABLE opportunities ADD COLUMN actual_close_date timestamptz;

-- +goose Down
ALTER TABLE opportunities DROP COLUMN actual_close_date;
ALTER TABLE leads DROP COLUMN status_reason;
DROP TABLE activities;
