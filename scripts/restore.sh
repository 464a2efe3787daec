#!/usr/bin/env bash
# Restores a dump made by scripts/backup.sh into an EMPTY database (create it first, e.g.
# `createdb cariosan_restored`), in one transaction: it either all arrives or nothing does.
#
#   scripts/restore.sh <dump file> <target database URL>
#   npm run restore -- <dump file> <target database URL>
#
# Then point CARIOS_DATABASE_URL at the target and start the server: it finds the schema up to
# date (the migrations table comes with the dump) and serves the history as it was.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <dump file> <target database URL>" >&2
  exit 64
fi
# shellcheck source=scripts/pg-url.sh
. "$(dirname "$0")/pg-url.sh"
dump=$1
target=$(pg_url_split "$2")
[ -r "$dump" ] || { echo "cannot read $dump" >&2; exit 66; }

objects=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$target" -c "
  SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public')
       + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public')")
if [ "$objects" != "0" ]; then
  echo "refusing to restore: the target database is not empty ($objects object(s) in schema public); restore into a new one" >&2
  exit 1
fi

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$target" "$dump"
migrations=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$target" -c "SELECT count(*) FROM migrations")
echo "restored $dump: $migrations migration(s) recorded"
