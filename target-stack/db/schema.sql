-- The app's schema; applied on every start, so it must stay idempotent.
CREATE TABLE IF NOT EXISTS items (
    id         text PRIMARY KEY,
    payload    jsonb,
    written_by text,
    created_at timestamptz NOT NULL DEFAULT now()
);
