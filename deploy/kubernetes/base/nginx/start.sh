#!/bin/sh
# Runs the repository's nginx/nginx.conf.template on Kubernetes, in the nginx:1.27.3 image.
#
#   start.sh                 render, then exec nginx in the foreground
#   start.sh --render-only   render and stop (scripts/check-kubernetes.py uses it)
#
# The template is the one the native stack and compose use; the upstream addresses and log
# targets come from the container's environment, as with compose. Kubernetes needs three edits
# of the template, each checked below so that a template change that defeats one stops nginx
# instead of running it half-configured:
#
#   1. `zone NAME 1m;` in every upstream block, and
#   2. `resolver <the pod's nameserver> valid=5s;` in the http block: together they let the
#      upstream servers carry `resolve` (nginx >= 1.27.3), so nginx re-reads the headless
#      Services' pod addresses every 5 s instead of once at start. Pods come and go (rollouts,
#      the autoscaler); least_conn, max_fails and retries still work per pod, as on compose.
#   3. `worker_processes` from NGINX_WORKER_PROCESSES (the container's CPU limit) instead of
#      `auto`, which counts the node's CPUs, not the container's share.
#
# nginx's resolver does not use the search list, so short Service names in the addresses are
# qualified with the pod's first search domain (<namespace>.svc.<cluster domain>).
set -eu

template="${NGINX_TEMPLATE:-/etc/biblio/nginx/nginx.conf.template}"
prefix="${NGINX_PREFIX:-/var/cache/nginx/}"
resolv_conf="${NGINX_RESOLV_CONF:-/etc/resolv.conf}"
conf="${prefix}nginx.conf"

fail() {
    echo "start.sh: $*" >&2
    exit 1
}

nameserver=$(sed -n 's/^nameserver[[:space:]]\{1,\}\([^[:space:]]\{1,\}\).*/\1/p' "$resolv_conf" | head -n 1)
search=$(sed -n 's/^search[[:space:]]\{1,\}\([^[:space:]]\{1,\}\).*/\1/p' "$resolv_conf" | head -n 1)
[ -n "$nameserver" ] || fail "no nameserver in $resolv_conf"
case "$nameserver" in *:*) nameserver="[$nameserver]" ;; esac

# "name:port params" -> "name.<search domain>:port params" when name has no dot.
qualify() {
    first=${1%% *}
    rest=${1#"$first"}
    host=${first%:*}
    port=${first##*:}
    case "$host" in
        *.*) ;;
        *) [ -z "$search" ] || host="$host.$search" ;;
    esac
    echo "$host:$port$rest"
}

: "${BIBLIO_WEB_ADDR:?}" "${BIBLIO_API_ADDR_1:?}" "${BIBLIO_API_ADDR_2:?}"
: "${NGINX_STATUS_LISTEN:?}" "${NGINX_ACCESS_LOG:?}" "${NGINX_ERROR_LOG:?}"
BIBLIO_WEB_ADDR=$(qualify "$BIBLIO_WEB_ADDR")
BIBLIO_API_ADDR_1=$(qualify "$BIBLIO_API_ADDR_1")
BIBLIO_API_ADDR_2=$(qualify "$BIBLIO_API_ADDR_2")
export BIBLIO_WEB_ADDR BIBLIO_API_ADDR_1 BIBLIO_API_ADDR_2 NGINX_STATUS_LISTEN NGINX_ACCESS_LOG NGINX_ERROR_LOG

workers="${NGINX_WORKER_PROCESSES:-auto}"
edited="${prefix}nginx.conf.k8s-template"
mkdir -p "$prefix"
sed -e "s/^worker_processes auto;\$/worker_processes $workers;/" \
    -e "s/^http {\$/&\n    resolver $nameserver valid=5s;/" \
    -e "s/^\([[:space:]]*\)upstream \([A-Za-z0-9_]\{1,\}\) {\$/&\n\1    zone \2 1m;/" \
    "$template" >"$edited"

upstreams=$(grep -c '^[[:space:]]*upstream [A-Za-z0-9_]* {$' "$edited" || true)
zones=$(grep -c '^[[:space:]]*zone [A-Za-z0-9_]* 1m;$' "$edited" || true)
[ "$upstreams" -gt 0 ] && [ "$zones" -eq "$upstreams" ] || fail "template changed: $zones zones for $upstreams upstream blocks"
grep -q "^    resolver $nameserver valid=5s;\$" "$edited" || fail "template changed: no 'http {' line for the resolver"
grep -q "^worker_processes $workers;\$" "$edited" || fail "template changed: no 'worker_processes auto;' line"

# The same variable list as nginx/render.sh and the compose image's envsubst filter.
# shellcheck disable=SC2016  # the names are literal on purpose
envsubst '${BIBLIO_WEB_ADDR} ${BIBLIO_API_ADDR_1} ${BIBLIO_API_ADDR_2} ${NGINX_STATUS_LISTEN} ${NGINX_ACCESS_LOG} ${NGINX_ERROR_LOG}' \
    <"$edited" >"$conf"
if grep -nE '\$\{[A-Z_]+\}' "$conf" >&2; then
    fail "unsubstituted placeholder in $conf"
fi

if [ "${1:-}" = "--render-only" ]; then
    echo "$conf"
    exit 0
fi
exec nginx -p "$prefix" -c "$conf" -e stderr -g 'daemon off;'
