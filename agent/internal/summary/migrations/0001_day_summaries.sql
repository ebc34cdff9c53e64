-- The agent's own schema: one summary per business date. Written so that
-- running it twice is harmless, although the migrator runs it only once.
CREATE SCHEMA IF NOT EXISTS branch_agent;

CREATE TABLE IF NOT EXISTS branch_agent.day_summaries (
    summary_date        date        PRIMARY KEY,
    total_bills         bigint      NOT NULL CHECK (total_bills >= 0),
    refund_count        bigint      NOT NULL CHECK (refund_count >= 0),
    gross_revenue       bigint      NOT NULL,
    discount_amount     bigint      NOT NULL,
    refund_amount       bigint      NOT NULL,
    net_revenue         bigint      NOT NULL,
    cgst_collected      bigint      NOT NULL,
    sgst_collected      bigint      NOT NULL,
    total_tax           bigint      NOT NULL,
    cash_collected      bigint      NOT NULL,
    digital_collected   bigint      NOT NULL,
    actual_service_cogs bigint      NOT NULL,
    actual_product_cogs bigint      NOT NULL,
    total_cogs          bigint      NOT NULL,
    total_expenses      bigint      NOT NULL,
    gross_profit        bigint      NOT NULL,
    net_profit          bigint      NOT NULL,
    total_tips          bigint      NOT NULL,
    is_final            boolean     NOT NULL,
    generated_at        timestamptz NOT NULL,
    -- When the document of this computation reached the bucket (or the
    -- local metrics directory); NULL until then, and again after a
    -- recomputation.
    pushed_at           timestamptz,
    CONSTRAINT day_summaries_net_revenue  CHECK (net_revenue = gross_revenue - discount_amount - refund_amount),
    CONSTRAINT day_summaries_total_tax    CHECK (total_tax = cgst_collected + sgst_collected),
    CONSTRAINT day_summaries_total_cogs   CHECK (total_cogs = actual_service_cogs + actual_product_cogs),
    CONSTRAINT day_summaries_gross_profit CHECK (gross_profit = net_revenue - total_cogs),
    CONSTRAINT day_summaries_net_profit   CHECK (net_profit = gross_profit - total_expenses)
);
