-- What a binding's state needs beyond status and error: why it waits (a
-- pipeline busy with a deployment) and which executions its write stopped.
-- JSON: {"note": "…", "interrupted": ["…"]}; '' when there is none.
ALTER TABLE run_bindings ADD COLUMN detail TEXT NOT NULL DEFAULT '';
