#!/usr/bin/env bash
# Deletes network namespaces left by earlier, interrupted runs of floatip's
# tests, benches or demo: only names with our prefixes, and only those whose
# creating process (the pid in `<prefix>-<pid>-...`) is gone, so a run that
# is still going is never touched.
set -u
for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  case "$ns" in
    fipt-*|fipdemo-*|fipbench-*)
      pid=$(echo "$ns" | cut -d- -f2)
      case "$pid" in ''|*[!0-9]*) continue ;; esac
      if [ ! -d "/proc/$pid" ]; then
        ip netns del "$ns" 2>/dev/null && echo "swept leftover netns $ns"
      fi
      ;;
  esac
done
exit 0
