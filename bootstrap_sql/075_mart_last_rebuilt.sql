-- Exactness whose cost follows new data (docs/dbt.md, "Exactness, and how it is tested"): the
-- buckets each mart's last run rebuilt. A mart's post-hook (mart_release_dirty) replaces its
-- rows here in the model's transaction: the buckets it recomputed (its whole history on a full
-- build; nothing when the ledger had nothing for it). The dbt exactness tests of every build
-- compare exactly these buckets (plus a small seeded sample of the others) with the raw rows;
-- the daily maintenance job compares the whole history.

create table mart_last_rebuilt (
    mart text not null,
    -- start of a rebuilt bucket (UTC hour, or day for the daily marts)
    bucket timestamp with time zone not null,
    -- dbt's invocation_id of the run that rebuilt it
    run_id text not null,
    rebuilt_at timestamp with time zone not null default now(),
    primary key (mart, bucket)
);

comment on table mart_last_rebuilt is
'Buckets each dbt mart''s last run rebuilt (replaced by the mart''s post-hook): what the '
'exactness tests of a build compare with the raw rows.';

-- Like the ledger: dbt (mcp_admin) writes it; no other role reads it.
revoke all on mart_last_rebuilt from public;
grant select, insert, update, delete on mart_last_rebuilt to mcp_admin;
