#!/bin/sh
# Creates the cluster on first start (user, password and database from the
# environment, as the official postgres image does), then runs PostgreSQL in
# the foreground as user postgres, listening on every address.
set -eu
pg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
data=/var/lib/postgresql/data
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$data" /run/postgresql
chown postgres:postgres "$data" /run/postgresql
if [ ! -s "$data/PG_VERSION" ]; then
    printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >/run/postgresql/pw
    chown postgres /run/postgresql/pw
    as_postgres "$pg/initdb" -D "$data" -U "$user" --pwfile=/run/postgresql/pw \
        --auth-host=scram-sha-256 --auth-local=trust >/dev/null
    rm -f /run/postgresql/pw
    echo "host all all all scram-sha-256" >>"$data/pg_hba.conf"
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \"$db\" OWNER \"$user\"" | as_postgres "$pg/postgres" --single -D "$data" postgres >/dev/null
    fi
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$pg/postgres" -D "$data" -c listen_addresses='*'
