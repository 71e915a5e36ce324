#!/bin/sh
# Container start: migrations and static files (one replica at a time, see deploy/prestart.py),
# then the command (Daphne). MIGRATE_ON_START=0 skips the first step, e.g. for a one-off shell.
set -eu
if [ "${MIGRATE_ON_START:-1}" = "1" ]; then
    python /app/deploy/prestart.py --collectstatic
fi
exec "$@"
