"""Storage: the declarative base, engines and sessions, the embedded PostgreSQL cluster, migrations."""
