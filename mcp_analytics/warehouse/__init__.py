"""The PostgreSQL warehouse: connections, embedded server, bootstrap, tables, retention, archive."""
