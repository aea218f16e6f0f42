#!/usr/bin/python3
"""Summarises a Chrome trace written by `train_bench --profile` (LibTorch's profiler), or by
`torch_peer.py --profile` or `speedrun_peer.py --time-steps N --profile` (PyTorch's): the
operators that took the most time, by self time (time not spent in operators they called).

  bench/profile_summary.py trace.json [--top 25]
"""
import argparse
import collections
import json


def self_times(events):
    """Self time and call count per operator name, from nested complete ("X") events."""
    totals = collections.defaultdict(lambda: [0.0, 0])
    by_thread = collections.defaultdict(list)
    for event in events:
        if event.get("ph") == "X":
            by_thread[event.get("tid")].append(event)
    for thread_events in by_thread.values():
        thread_events.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [end, name, child time]
        for event in thread_events:
            while stack and event["ts"] >= stack[-1][0]:
                close(stack, totals)
            stack.append([event["ts"] + event["dur"], event["name"], 0.0, event["dur"]])
        while stack:
            close(stack, totals)
    return totals


def close(stack, totals):
    end, name, child, duration = stack.pop()
    totals[name][0] += duration - child
    totals[name][1] += 1
    if stack:
        stack[-1][2] += duration


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with open(args.trace) as f:
        events = json.load(f)
    if isinstance(events, dict):  # PyTorch 2's traces: the events under "traceEvents"
        events = events.get("traceEvents", [])
    # PyTorch 2 wraps the whole recording in one event of its own, not an operator.
    events = [e for e in events
              if isinstance(e, dict) and not e.get("name", "").startswith("PyTorch Profiler")]
    totals = self_times(events)
    everything = sum(t for t, _ in totals.values())
    print(f"{'operator':<45}{'self ms':>10}{'share':>8}{'calls':>8}")
    for name, (time_us, calls) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:args.top]:
        print(f"{name:<45}{time_us / 1000:>10.1f}{100 * time_us / everything:>7.1f}%{calls:>8}")


if __name__ == "__main__":
    main()
