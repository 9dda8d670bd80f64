"""The ingest path every front door shares: event schema, redaction, COPY writer, bulk loader."""
