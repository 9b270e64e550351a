"""Django's PostgreSQL backend with a health check that costs no round trip while the
connection is sound (``base.DatabaseWrapper.is_usable``). Settings name it as the ENGINE for
every ``postgres://`` DATABASE_URL."""
