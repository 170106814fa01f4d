-- The products a table held that a catalog written whole lacks (DuckDB). Views `held_products`
-- and `catalog_products` hold the product_id of each; the removed ids come out, sorted.
SELECT product_id FROM held_products
EXCEPT
SELECT product_id FROM catalog_products
ORDER BY product_id
