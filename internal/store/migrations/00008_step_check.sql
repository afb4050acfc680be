-- A step's writes in one round trip (issue 18). ApplyChange sends a step that
-- reads nothing back as one pipelined batch, which PostgreSQL runs as one
-- implicit transaction; the batch's first statement is this function, which
-- takes the lock the transaction path takes (the deal's lead row) and stops
-- the batch when the deal's timeline already reaches the step's seq: the
-- step was written before (a retry after its commit, or a workflow task that
-- failed after its write), and ApplyChange then rewrites every record of the
-- deal in a transaction instead (store/change.go, rewritesStep).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION dealflow_step_is_new(lead text, step integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    last integer;
BEGIN
    SELECT (SELECT max(seq) FROM deal_events WHERE lead_id = lead)
      INTO last FROM leads WHERE id = lead FOR UPDATE;
    IF last >= step THEN
        RAISE EXCEPTION 'deal % already has step %', lead, last
            USING ERRCODE = 'DF001';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION dealflow_step_is_new(text, integer);
