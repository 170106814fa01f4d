-- What changed between two catalog snapshots (DuckDB). Views `current_snapshot` and
-- `previous_snapshot` hold the canonical columns; one row of counts and shares comes out.
WITH
cur_categories AS (SELECT category, count(*) AS n FROM current_snapshot GROUP BY category),
prev_categories AS (SELECT category, count(*) AS n FROM previous_snapshot GROUP BY category),
matched AS (
    SELECT c.title IS DISTINCT FROM p.title AS retitled, c.category IS DISTINCT FROM p.category AS recategorised
    FROM current_snapshot c JOIN previous_snapshot p USING (product_id)
)
SELECT
    (SELECT count(*) FROM current_snapshot) AS current_rows,
    (SELECT count(*) FROM previous_snapshot) AS previous_rows,
    (SELECT count(*) FROM current_snapshot WHERE product_id NOT IN (SELECT product_id FROM previous_snapshot)) AS added,
    (SELECT count(*) FROM previous_snapshot WHERE product_id NOT IN (SELECT product_id FROM current_snapshot)) AS removed,
    (SELECT count(*) FILTER (WHERE retitled) FROM matched) AS retitled,
    (SELECT count(*) FILTER (WHERE recategorised) FROM matched) AS recategorised,
    (SELECT count(*) FROM cur_categories WHERE category NOT IN (SELECT category FROM prev_categories)) AS new_categories,
    (SELECT count(*) FROM prev_categories WHERE category NOT IN (SELECT category FROM cur_categories)) AS vanished_categories,
    coalesce((SELECT sum(n) FROM cur_categories WHERE category NOT IN (SELECT category FROM prev_categories)), 0)
        / greatest((SELECT count(*) FROM current_snapshot), 1) AS share_in_new_categories,
    coalesce((SELECT sum(n) FROM prev_categories WHERE category NOT IN (SELECT category FROM cur_categories)), 0)
        / greatest((SELECT count(*) FROM previous_snapshot), 1) AS share_in_vanished_categories
