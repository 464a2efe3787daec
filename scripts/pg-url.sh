# Sourced by backup.sh and restore.sh. `pg_url_split URL` prints the URL without its password and
# exports the password as PGPASSWORD, so it never appears on a command line (visible to `ps`).
pg_url_split() {
  local url=$1
  if [[ $url =~ ^(postgres(ql)?://[^:/@]*):([^@]*)@(.*)$ ]]; then
    local pass=${BASH_REMATCH[3]}
    # Percent-decoding: a password with @ : / in a URL is written %40 %3A %2F.
    PGPASSWORD=$(printf '%b' "${pass//%/\\x}")
    export PGPASSWORD
    printf '%s@%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[4]}"
  else
    printf '%s\n' "$url"
  fi
}
