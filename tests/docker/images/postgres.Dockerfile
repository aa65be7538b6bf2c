# make test-docker's stand-in for postgres:16: Debian's PostgreSQL from the
# cached services root, honouring POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB like the official image, so examples/compose.yaml runs as written.
FROM hp-test/services
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENTRYPOINT ["/bin/sh", "/usr/local/bin/postgres-entrypoint.sh"]
