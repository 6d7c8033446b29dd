#!/bin/bash
# apt through the room cache, as files:
#   apt-setup.sh conf SCRIPT REQUIRED   the apt.conf.d snippet: Proxy-Auto-Detect SCRIPT, or with
#                                       REQUIRED=true a fixed Acquire::http::Proxy (no fallback)
#   apt-setup.sh script                 the Proxy-Auto-Detect script: the cache's URL while its
#                                       port answers, else DIRECT (apt then fetches upstream)
# Env: CACHE_ADDRESS, APT_PORT.
set -eu
host=$CACHE_ADDRESS; case $host in *:*) host="[$host]" ;; esac
case $1 in
  conf)
    echo "// Written by fleet (playbooks/cache-client.yaml): apt through the room cache at $CACHE_ADDRESS."
    echo "// https:// sources are not proxied: apt-cacher-ng cannot cache TLS, so apt fetches them directly."
    if [ "$3" = true ]; then echo "Acquire::http::Proxy \"http://$host:$APT_PORT/\";"
    else echo "Acquire::http::Proxy-Auto-Detect \"$2\";"; fi ;;
  script)
    cat <<SCRIPT
#!/bin/bash
# Written by fleet (playbooks/cache-client.yaml): apt's Proxy-Auto-Detect. The room cache while
# it answers, else DIRECT, so apt falls back to upstream by itself.
if timeout 2 bash -c 'exec 3<>/dev/tcp/$CACHE_ADDRESS/$APT_PORT' 2>/dev/null; then echo http://$host:$APT_PORT/
else echo "fleet: the room cache $CACHE_ADDRESS:$APT_PORT does not answer; apt goes upstream" >&2; echo DIRECT; fi
SCRIPT
    ;;
esac
