#!/usr/bin/env bash
# Deletes network namespaces left by earlier, interrupted runs of floatip's
# tests, benches or demo: only names with our prefixes, never anything else.
set -u
for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  case "$ns" in
    fipt-*|fipdemo-*|fipbench-*) ip netns del "$ns" 2>/dev/null && echo "swept leftover netns $ns" ;;
  esac
done
exit 0
