-- Which query computed a summary: 'default' or the METRICS_QUERY_FILE path,
-- so that an operator can tell figures of a POS switch-over apart.
ALTER TABLE branch_agent.day_summaries ADD COLUMN IF NOT EXISTS query_source text NOT NULL DEFAULT 'default';
