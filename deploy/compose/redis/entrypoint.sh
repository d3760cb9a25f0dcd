#!/bin/sh
# As the public image's entrypoint: a redis-server started without a configuration file answers
# clients on other hosts (the compose network), where Redis' protected mode would refuse them.
set -e
if [ "$1" = "redis-server" ]; then
  case "$2" in
    "" | -*) set -- "$@" --protected-mode no ;;
  esac
fi
exec "$@"
