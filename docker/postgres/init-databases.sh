#!/bin/sh
# One database per SQL service (auth, rbac, scheduler); run once, on the first start of the volume.
set -eu
for database in ${POSTGRES_SERVICE_DATABASES:-auth rbac scheduler}; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE \"$database\""
done
