#!/usr/bin/env bash
# Fails if a floatip test, bench or demo left a namespace behind.
left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(fipt|fipdemo|fipbench)-' || true)
if [ -n "$left" ]; then
  echo "leaked network namespaces:" $left >&2
  exit 1
fi
echo "no leftover namespaces"
