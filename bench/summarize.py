"""Summarize bench/run.sh results as Markdown tables.

Reads the JSON lines that bench/run.sh writes. For each rate scenario and
repetition, "added" is the hello-ship percentile minus the direct-to-upstream
percentile of the same repetition; the tables show medians over repetitions.
"""

import json
import statistics
import sys
from collections import defaultdict


def ms(micros):
    return f"{micros / 1000:.2f}"


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    runs = defaultdict(dict)
    order = []
    for row in rows:
        if row.get("mode") != "rate":
            continue
        key = row["scenario"]
        if key not in order:
            order.append(key)
        runs[key].setdefault(row["rep"], {})[row["target"]] = row

    print("| Scenario | Metric | Direct p50 / p99 / p99.9 ms | hello-ship p50 / p99 / p99.9 ms "
          "| Added p50 / p99 / p99.9 ms | hello-ship req/s | Errors | hello-ship CPU ms per 1,000 |")
    print("|---|---|---|---|---|---|---|---|")
    for scenario in order:
        pairs = [pair for pair in runs[scenario].values() if {"direct", "gateway"} <= pair.keys()]
        metrics = ["latency_us"]
        if pairs and pairs[0]["gateway"].get("ttft_us"):
            metrics.append("ttft_us")
        for metric in metrics:
            cells = {}
            for target in ("direct", "gateway"):
                cells[target] = [
                    statistics.median(p[target][metric][q] for p in pairs if p[target][metric])
                    for q in ("p50", "p99", "p999")
                ]
            added = [
                statistics.median(
                    p["gateway"][metric][q] - p["direct"][metric][q]
                    for p in pairs
                    if p["gateway"][metric] and p["direct"][metric]
                )
                for q in ("p50", "p99", "p999")
            ]
            throughput = statistics.median(p["gateway"]["throughput_rps"] for p in pairs)
            errors = sum(p[t]["errors"] for p in pairs for t in ("direct", "gateway"))
            cpu = [p["gateway"].get("cpu_ms_per_1000") for p in pairs]
            cpu = statistics.median(c for c in cpu if c is not None) if any(
                c is not None for c in cpu
            ) else None
            label = "latency" if metric == "latency_us" else "time to first token"
            print(
                f"| {scenario} | {label} | {' / '.join(ms(v) for v in cells['direct'])} "
                f"| {' / '.join(ms(v) for v in cells['gateway'])} "
                f"| {' / '.join(ms(v) for v in added)} | {throughput:.0f} | {errors} "
                f"| {'' if cpu is None else f'{cpu:.0f}'} |"
            )
    print()
    for row in rows:
        if row.get("mode") == "idle":
            print(f"- idle VmRSS: {row['rss_kib'] / 1024:.1f} MiB")
    hwm = [row["hwm_kib"] for row in rows if row.get("hwm_kib")]
    if hwm:
        print(f"- peak VmHWM: {max(hwm) / 1024:.1f} MiB")
    for row in rows:
        if row.get("mode") in ("hold", "slow"):
            per_stream = row.get("bytes_per_stream")
            per_stream = "n/a" if per_stream is None else f"{per_stream / 1024:.1f} KiB"
            print(
                f"- {row['scenario']}: {row['streams_open']} of {row['streams_requested']} open, "
                f"{row['errors']} errors, VmRSS {row['rss_before_kib'] / 1024:.1f} MiB before, "
                f"{row['rss_open_kib'] / 1024:.1f} MiB open, {row['rss_end_kib'] / 1024:.1f} MiB "
                f"after {row['secs']} s, {row['rss_closed_kib'] / 1024:.1f} MiB closed; "
                f"{per_stream} per stream"
            )


if __name__ == "__main__":
    main(sys.argv[1])
