-- Test data for the development profile, loaded once, at the database's first start.
INSERT INTO items (id, payload, written_by)
SELECT format('seed-%s', lpad(n::text, 3, '0')),
       jsonb_build_object('name', format('sample item %s', n), 'price_cents', n * 125),
       'seed'
FROM generate_series(1, 25) AS n
ON CONFLICT (id) DO NOTHING;
