#!/bin/bash
# Does the room cache answer? Its apt port takes a TCP connection and its nginx its health URL,
# each within a few seconds. Env: CACHE_ADDRESS, APT_PORT, HTTP_PORT.
host=$CACHE_ADDRESS; case $host in *:*) host="[$host]" ;; esac
timeout 5 bash -c "exec 3<>/dev/tcp/$CACHE_ADDRESS/$APT_PORT" 2>/dev/null || exit 1
curl -fsS -o /dev/null --max-time 5 "http://$host:$HTTP_PORT/fleet-cache-ok" 2>/dev/null
