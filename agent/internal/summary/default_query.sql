-- The default metrics query over the reference schema (spec/branch-schema.sql),
-- following spec/metrics-v1.md figure by figure. It obeys the same contract
-- as a METRICS_QUERY_FILE:
--   $1 start of the business day, $2 start of the next day (timestamptz, computed
--   in the branch's zone by the agent), $3 the business date.
-- Every timestamp is compared with $1 and $2, never converted with the
-- session's TimeZone, so the server's time zone changes nothing. Void bills
-- count nowhere: neither their items, nor payments or refunds against them.
--
-- Speed (a day must take milliseconds on a database of millions of bills):
-- each table is read through an index range (bills_billed_at,
-- refunds_refunded_at, payments_paid_at, expenses_spent_on); the day's
-- items are one range of bill_items_bill_id between the lowest and highest
-- bill id of the day, hash-joined to the day's bills (bill ids grow with
-- time in a POS, so the range is the day's; were they scattered, the
-- range would widen and the result stay the same); a payment is matched to
-- the day's bills by hash, and only a payment of another day's (or a void)
-- bill looks its bill up.
WITH day_bills AS MATERIALIZED (
    SELECT id, subtotal, discount, cgst, sgst, tip
    FROM bills
    WHERE billed_at >= $1 AND billed_at < $2 AND status = 'paid'
),
bill_figures AS (
    SELECT count(*)                   AS total_bills,
           coalesce(sum(subtotal), 0) AS gross_revenue,
           coalesce(sum(discount), 0) AS discount_amount,
           coalesce(sum(cgst), 0)     AS cgst,
           coalesce(sum(sgst), 0)     AS sgst,
           coalesce(sum(tip), 0)      AS total_tips
    FROM day_bills
),
cogs AS (
    SELECT coalesce(sum(i.quantity::bigint * i.unit_cost) FILTER (WHERE i.kind = 'service'), 0) AS service,
           coalesce(sum(i.quantity::bigint * i.unit_cost) FILTER (WHERE i.kind = 'product'), 0) AS product
    FROM bill_items i
    JOIN day_bills b ON b.id = i.bill_id
    WHERE i.bill_id BETWEEN (SELECT min(id) FROM day_bills) AND (SELECT max(id) FROM day_bills)
),
day_refunds AS (
    SELECT count(*)                                                                        AS refund_count,
           coalesce(sum(r.amount), 0)                                                      AS amount,
           coalesce(sum(r.cgst), 0)                                                        AS cgst,
           coalesce(sum(r.sgst), 0)                                                        AS sgst,
           coalesce(sum(r.amount + r.cgst + r.sgst) FILTER (WHERE r.method = 'cash'), 0)  AS cash,
           coalesce(sum(r.amount + r.cgst + r.sgst) FILTER (WHERE r.method <> 'cash'), 0) AS digital
    FROM refunds r
    JOIN bills b ON b.id = r.bill_id AND b.status = 'paid'
    WHERE r.refunded_at >= $1 AND r.refunded_at < $2
),
day_payments AS (
    SELECT coalesce(sum(p.amount) FILTER (WHERE p.method = 'cash'), 0)  AS cash,
           coalesce(sum(p.amount) FILTER (WHERE p.method <> 'cash'), 0) AS digital
    FROM payments p
    LEFT JOIN day_bills d ON d.id = p.bill_id
    WHERE p.paid_at >= $1 AND p.paid_at < $2
      AND (d.id IS NOT NULL OR (SELECT b.status FROM bills b WHERE b.id = p.bill_id) = 'paid')
),
day_expenses AS (
    SELECT coalesce(sum(amount), 0) AS total
    FROM expenses
    WHERE spent_on = $3::date
)
SELECT bf.total_bills::bigint                  AS total_bills,
       r.refund_count::bigint                  AS refund_count,
       bf.gross_revenue::bigint                AS gross_revenue,
       bf.discount_amount::bigint              AS discount_amount,
       r.amount::bigint                        AS refund_amount,
       (bf.cgst - r.cgst)::bigint              AS cgst_collected,
       (bf.sgst - r.sgst)::bigint              AS sgst_collected,
       (p.cash - r.cash)::bigint               AS cash_collected,
       (p.digital - r.digital)::bigint         AS digital_collected,
       c.service::bigint                       AS actual_service_cogs,
       c.product::bigint                       AS actual_product_cogs,
       e.total::bigint                         AS total_expenses,
       bf.total_tips::bigint                   AS total_tips
FROM bill_figures bf, cogs c, day_refunds r, day_payments p, day_expenses e;
