-- What the ingest role (020/021) needs on the objects of 030: append rejects, read the
-- collector's settings through ingest_settings(). Nothing to read back.
grant insert on ingest_rejects to mcp_ingest;
grant usage on sequence ingest_rejects_id_seq to mcp_ingest;
grant execute on function ingest_settings() to mcp_ingest;
