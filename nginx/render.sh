#!/usr/bin/env bash
# Renders nginx/nginx.conf.template for the native stack or for compose.
#
#   nginx/render.sh native  OUT_FILE   # 127.0.0.1 addresses, logs under the -p prefix
#   nginx/render.sh compose OUT_FILE   # compose service names, logs to stdout/stderr
#
# Any of the variables below can be overridden from the environment. Only these names are
# substituted, so nginx's own $variables survive. For the native stack, create the prefix's
# logs/ directory and start nginx with the prefix, e.g.:
#   mkdir -p .stack/nginx/logs && nginx/render.sh native .stack/nginx/nginx.conf
#   nginx -p "$PWD/.stack/nginx/" -c "$PWD/.stack/nginx/nginx.conf" -g 'daemon off;'
# Compose does not use this script: the nginx image renders the same template itself.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
variant="${1:-}"
out="${2:-}"
if [[ -z "$variant" || -z "$out" ]]; then
    echo "usage: $0 native|compose OUT_FILE" >&2
    exit 2
fi
command -v envsubst >/dev/null || { echo "envsubst is missing: apt-get install gettext-base" >&2; exit 1; }

case "$variant" in
    native)
        : "${BIBLIO_WEB_ADDR:=127.0.0.1:8081}"
        : "${BIBLIO_API_ADDR_1:=127.0.0.1:8082}"
        : "${BIBLIO_API_ADDR_2:=127.0.0.1:8083}"
        : "${NGINX_STATUS_LISTEN:=127.0.0.1:8001}"
        : "${NGINX_ACCESS_LOG:=logs/access.log}"
        : "${NGINX_ERROR_LOG:=logs/error.log}"
        ;;
    compose)
        # Must match the environment of the nginx service in docker-compose.yml.
        : "${BIBLIO_WEB_ADDR:=biblio-web:8081}"
        : "${BIBLIO_API_ADDR_1:=biblio-api-1:8082}"
        : "${BIBLIO_API_ADDR_2:=biblio-api-2:8083}"
        : "${NGINX_STATUS_LISTEN:=8001}"
        : "${NGINX_ACCESS_LOG:=/dev/stdout}"
        : "${NGINX_ERROR_LOG:=stderr}"
        ;;
    *)
        echo "unknown variant '$variant' (native or compose)" >&2
        exit 2
        ;;
esac
export BIBLIO_WEB_ADDR BIBLIO_API_ADDR_1 BIBLIO_API_ADDR_2 NGINX_STATUS_LISTEN NGINX_ACCESS_LOG NGINX_ERROR_LOG

mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2016  # the list of names to substitute is literal on purpose
envsubst '${BIBLIO_WEB_ADDR} ${BIBLIO_API_ADDR_1} ${BIBLIO_API_ADDR_2} ${NGINX_STATUS_LISTEN} ${NGINX_ACCESS_LOG} ${NGINX_ERROR_LOG}' \
    < "$here/nginx.conf.template" > "$out"

# A placeholder left over means a variable was added to the template but not here.
if grep -nE '\$\{[A-Z_]+\}' "$out" >&2; then
    echo "unsubstituted placeholder in $out" >&2
    exit 1
fi
