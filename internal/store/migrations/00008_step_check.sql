-- A step's writes in one round trip (issue 18). ApplyChange sends a step that
-- reads nothing back as one pipelined batch, which PostgreSQL runs as one
-- implicit transaction; the batch's first statement is this function, which
-- takes the lock the transaction path takes (the deal's lead row) and stops
-- the batch when the deal's timeline already reaches the step's seq: the
-- step was written before (a retry after its commit, or a workflow task that
-- failed after its write), and ApplyChange then rewrites every record of the
-- deal in a transaction instead (store/change.go, rewritesStep).
--
-- The timeline is read by a statement after the lock's: under READ
-- COMMITTED each statement of a (volatile) function takes its own snapshot,
-- so an attempt that waited for the lock sees the step the holder committed.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION dealflow_step_is_new(p_lead text, p_step integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_last integer;
BEGIN
    PERFORM FROM leads WHERE id = p_lead FOR UPDATE;
    SELECT max(seq) INTO v_last FROM deal_events WHERE lead_id = p_lead;
    IF v_last >= p_step THEN
        RAISE EXCEPTION 'deal % already has step %', p_lead, v_last
            USING ERRCODE = 'DF001';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION dealflow_step_is_new(text, integer);
