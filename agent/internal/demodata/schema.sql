-- The reference branch point-of-sale schema (spec/branch-schema.sql), with
-- IF NOT EXISTS so that creating it is idempotent: demo-data creates the
-- tables that are absent and leaves existing ones alone.
--
-- Money is bigint paise (1/100 INR). Timestamps are timestamptz; the business
-- date of a row is its timestamp converted to the branch's time zone.

CREATE TABLE IF NOT EXISTS bills (
    id          bigserial   PRIMARY KEY,
    bill_number text        NOT NULL UNIQUE,
    billed_at   timestamptz NOT NULL,
    status      text        NOT NULL CHECK (status IN ('paid', 'void')),
    subtotal    bigint      NOT NULL CHECK (subtotal >= 0),
    discount    bigint      NOT NULL DEFAULT 0 CHECK (discount >= 0),
    cgst        bigint      NOT NULL DEFAULT 0 CHECK (cgst >= 0),
    sgst        bigint      NOT NULL DEFAULT 0 CHECK (sgst >= 0),
    tip         bigint      NOT NULL DEFAULT 0 CHECK (tip >= 0)
);
CREATE INDEX IF NOT EXISTS bills_billed_at ON bills (billed_at);

CREATE TABLE IF NOT EXISTS bill_items (
    id         bigserial PRIMARY KEY,
    bill_id    bigint    NOT NULL REFERENCES bills (id),
    kind       text      NOT NULL CHECK (kind IN ('service', 'product')),
    name       text      NOT NULL,
    quantity   integer   NOT NULL CHECK (quantity > 0),
    unit_price bigint    NOT NULL CHECK (unit_price >= 0),
    unit_cost  bigint    NOT NULL CHECK (unit_cost >= 0)
);
CREATE INDEX IF NOT EXISTS bill_items_bill_id ON bill_items (bill_id);

CREATE TABLE IF NOT EXISTS payments (
    id      bigserial   PRIMARY KEY,
    bill_id bigint      NOT NULL REFERENCES bills (id),
    method  text        NOT NULL CHECK (method IN ('cash', 'upi', 'card', 'wallet')),
    amount  bigint      NOT NULL CHECK (amount >= 0),
    paid_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_paid_at ON payments (paid_at);

CREATE TABLE IF NOT EXISTS refunds (
    id          bigserial   PRIMARY KEY,
    bill_id     bigint      NOT NULL REFERENCES bills (id),
    refunded_at timestamptz NOT NULL,
    method      text        NOT NULL CHECK (method IN ('cash', 'upi', 'card', 'wallet')),
    amount      bigint      NOT NULL CHECK (amount >= 0),
    cgst        bigint      NOT NULL DEFAULT 0 CHECK (cgst >= 0),
    sgst        bigint      NOT NULL DEFAULT 0 CHECK (sgst >= 0)
);
CREATE INDEX IF NOT EXISTS refunds_refunded_at ON refunds (refunded_at);

CREATE TABLE IF NOT EXISTS expenses (
    id       bigserial PRIMARY KEY,
    spent_on date      NOT NULL,
    category text      NOT NULL,
    amount   bigint    NOT NULL CHECK (amount >= 0)
);
CREATE INDEX IF NOT EXISTS expenses_spent_on ON expenses (spent_on);
