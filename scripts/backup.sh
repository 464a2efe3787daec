#!/usr/bin/env bash
# Backs up a Cariosan Postgres database into one file (pg_dump's custom format: compressed,
# restorable table by table, readable by pg_restore of the same or a newer major version).
#
#   CARIOS_DATABASE_URL=postgres://user:pass@host:5432/cariosan scripts/backup.sh [directory]
#   npm run backup -- [directory]
#
# Prints the path of the dump. Safe while the server runs (one consistent snapshot). The file is
# written under a temporary name and renamed once pg_restore can read it back, so a directory of
# backups never holds a half-written one. Needs pg_dump and pg_restore (postgresql-client) of at
# least the server's major version. The bucket (attachments) is backed up separately: see
# docs/operations.md.
set -euo pipefail

# shellcheck source=scripts/pg-url.sh
. "$(dirname "$0")/pg-url.sh"
url=$(pg_url_split "${CARIOS_DATABASE_URL:?set CARIOS_DATABASE_URL to the database to back up}")
dir=${1:-./backups}
mkdir -p "$dir"
out="$dir/cariosan-$(date -u +%Y%m%dT%H%M%SZ).dump"
trap 'rm -f "$out.partial"' EXIT

pg_dump --format=custom --no-owner --no-privileges --file="$out.partial" --dbname="$url"
pg_restore --list "$out.partial" >/dev/null
mv "$out.partial" "$out"
echo "$out"
