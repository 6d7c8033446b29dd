#!/bin/bash
# nginx's `resolver` line for the room cache: the host's name servers from /etc/resolv.conf
# (IPv6 ones in brackets), answers kept 5 minutes. systemd-resolved's stub (127.0.0.53) is a
# name server like any other. None listed: the local one, as the C library would use.
servers=$(awk '$1 == "nameserver" { s = $2; if (s ~ /:/) s = "[" s "]"; printf "%s ", s }' /etc/resolv.conf 2>/dev/null)
echo "# Written by fleet (playbooks/cache.yaml, step http-resolver) from /etc/resolv.conf."
echo "resolver ${servers:-127.0.0.1 }valid=300s;"
echo "resolver_timeout 10s;"
