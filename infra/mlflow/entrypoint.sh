#!/bin/sh
# basic-auth reads its settings from an ini file: write it from the environment (nothing secret is
# committed). The admin password comes from MLFLOW_AUTH_ADMIN_PASSWORD, read by MLflow on first start.
set -eu
umask 077
cat > /tmp/basic_auth.ini <<INI
[mlflow]
default_permission = READ
database_uri = ${MLFLOW_AUTH_DATABASE_URI}
admin_username = ${MLFLOW_ADMIN_USERNAME}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH=/tmp/basic_auth.ini
exec "$@"
