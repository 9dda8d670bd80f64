-- A user id an MCP server sends that matches no row of `users` (its users are not ours, or
-- not yet) no longer costs the event: the writer stores the row with user_id null and the id
-- it carried in unmatched_user_id, and counts it (docs/ingest.md, "Unknown user ids"). The
-- foreign key stays: user_id, when set, is always a real user.
alter table tool_usage_logs add column unmatched_user_id integer;
alter table mcp_request_logs add column unmatched_user_id integer;
alter table error_logs add column unmatched_user_id integer;

comment on column tool_usage_logs.unmatched_user_id is
'The user_id the event carried when no users row had it (user_id is then null).';
comment on column mcp_request_logs.unmatched_user_id is
'The user_id the event carried when no users row had it (user_id is then null).';
comment on column error_logs.unmatched_user_id is
'The user_id the event carried when no users row had it (user_id is then null).';

-- Which of the given ids are users: the writer checks ids before COPY against a cache that
-- this refreshes, instead of finding refused rows one round trip at a time. It answers only
-- what an insert with a foreign key would, so the ingest role still reads nothing of users.
create function ingest_known_user_ids(candidates integer [])
returns setof integer
language sql
stable
security definer
set search_path = pg_catalog, public
as $$
    select u.id
    from public.users as u
    where u.id = any(candidates)
$$;

revoke all on function ingest_known_user_ids(integer []) from public;
grant execute on function ingest_known_user_ids(integer []) to mcp_ingest, mcp_admin;
