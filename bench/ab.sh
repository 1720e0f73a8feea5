#!/usr/bin/env bash
# Two seqc builds on the same workloads, in alternating order, to compare a
# change with its parent on a host whose speed drifts: each round runs
# `seqc bench Y --threads 2 --json` of both binaries (the order swapped every
# round), and the result per workload is the median of the runs' medians and
# the ratio new/old (< 1: the new build is faster).
#
#   bash bench/ab.sh OLD_SEQC NEW_SEQC ROUNDS bench/gru_b1.yaml bench/lstm_b1.yaml ...
set -uo pipefail
if [ $# -lt 4 ]; then
  echo "usage: bench/ab.sh OLD_SEQC NEW_SEQC ROUNDS MODEL.yaml..." >&2
  exit 2
fi
old=$1 new=$2 rounds=$3
shift 3
declare -A res
for ((r = 0; r < rounds; r++)); do
  for y in "$@"; do
    order="old new"
    ((r % 2)) && order="new old"
    for who in $order; do
      bin=$old
      [ "$who" = new ] && bin=$new
      m=$("$bin" bench "$y" --threads 2 --json 2>/dev/null | grep '^{' | tail -n 1 |
        sed -E 's/.*"median_ms": ([0-9.]+).*/\1/')
      res[$who,$y]="${res[$who,$y]:-} ${m:-nan}"
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for y in "$@"; do
  o=$(echo "${res[old,$y]}" | median)
  n=$(echo "${res[new,$y]}" | median)
  printf '%s: old %s ms, new %s ms, new/old %s\n' "$(basename "$y" .yaml)" "$o" "$n" \
    "$(awk -v a="$n" -v b="$o" 'BEGIN {printf "%.3f", a / b}')"
done
