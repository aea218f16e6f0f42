#!/usr/bin/python3
"""Time to 94% on CIFAR-10: cnnlab's configs/cifar10-speedrun.toml against the same recipe written
in PyTorch for Python (bench/speedrun_peer.py), run with Debian's python3-torch and with the
current PyTorch release from PyPI (bench/speedrun.sh makes its environment and calls this).

Each round runs every side once, one after the other, in an order that rotates from round to
round; each run is a process of its own, timed from start to exit: for cnnlab the whole
`cnnlab train --no-report` command (data loading, the whitening's statistics, training, the test
with test-time augmentation), for PyTorch the whole script (its import included). The recipe has
a fixed length, so a run's time to the target is its time when its test accuracy reaches the
target, and "not reached" otherwise. Every run is appended to the results file, so rounds from
several sittings add up; the table covers the whole file.

  speedrun.py --pypi-python PY [--rounds N] [--seed S] [--sides cnnlab,debian,pypi]
              [--epochs E] [--train-limit N] [--set KEY=VALUE ...] [--target 0.94] [--out FILE]
              [--step-times N] [--env KEY=VALUE ...]

--set passes an override to cnnlab only, --config another config (the ten-minute variant:
--sides cnnlab --config configs/cifar10-speedrun-10min.toml --target 0.90 --out
bench/results/speedrun-10min.json).

--step-times N times the step alone instead, in minutes rather than half-hours: each round runs
every side for N steps of the recipe at its batch of 1,024 on random images, no data or
augmentation (cnnlab's build/bench/train_bench, speedrun_peer.py --time-steps), and prints the
median step of each side and cnnlab's ratio to the faster PyTorch; the rounds go to
bench/results/speedrun-steps.json. --env KEY=VALUE sets a variable for every side (for example
ATEN_CPU_CAPABILITY=avx2, which makes LibTorch run its AVX2 kernels).
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from compare import cpu_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "bench", "speedrun_peer.py")
CONFIG = os.path.join(ROOT, "configs", "cifar10-speedrun.toml")


def timed(command, env=None):
    """Runs a command (its stderr to the terminal; `env`: variables added to this process's
    environment) and returns (seconds, stdout); exits the benchmark with the command's error
    when it fails."""
    start = time.monotonic()
    process = subprocess.run(command, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, **(env or {})))
    seconds = time.monotonic() - start
    if process.returncode != 0:
        sys.exit(f"speedrun: {' '.join(command)} failed with exit status {process.returncode}")
    return seconds, process.stdout


def run_cnnlab(args, seed):
    with tempfile.TemporaryDirectory() as out:
        command = [os.path.join(args.build_dir, "cnnlab"), "train", "--config", args.config,
                   "--out", os.path.join(out, "run"), "--no-report", "--set", f"train.seed={seed}"]
        if args.epochs:
            command += ["--set", f"train.epochs={args.epochs}"]
        if args.train_limit:
            command += ["--set", f"data.train_limit={args.train_limit}"]
        for override in args.set:
            command += ["--set", override]
        seconds, _ = timed(command)
        with open(os.path.join(out, "run", "metrics.json")) as f:
            metrics = json.load(f)
    return {"seconds": seconds, "test_accuracy": metrics["test_accuracy"],
            "precision": metrics.get("precision"), "version": "cnnlab"}


def run_peer(args, python, seed):
    command = [python, PEER, "--data-dir", args.data_dir, "--seed", str(seed)]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    if args.train_limit:
        command += ["--train-limit", str(args.train_limit)]
    seconds, stdout = timed(command)
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"seconds": seconds, "test_accuracy": result["test_accuracy"],
            "precision": result["precision"], "version": "torch " + result["torch"]}


def step_cnnlab(args, env):
    """The median step of cnnlab's recipe, in seconds, and the CPU kernels LibTorch ran."""
    seconds_per_step = 2.5  # about, on two cores: train_bench runs for a time, not a count
    command = [os.path.join(args.build_dir, "bench", "train_bench"), "--config", args.config,
               "--batch", "1024", "--warmup", "2",
               "--seconds", str(max(1.0, args.step_times * seconds_per_step))]
    for override in args.set:
        command += ["--set", override]
    _, stdout = timed(command, env)
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"step_seconds": result["step_ms_median"] / 1000, "steps": result["steps"],
            "version": "cnnlab", "cpu_kernels": result.get("cpu_kernels")}


def step_peer(args, python, env):
    command = [python, PEER, "--data-dir", args.data_dir, "--time-steps", str(args.step_times)]
    _, stdout = timed(command, env)
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"step_seconds": result["step_ms_median"] / 1000, "steps": result["steps"],
            "version": "torch " + result["torch"]}


def step_table(runs):
    """Per side and environment: the median of the rounds' median steps; then cnnlab's ratio to
    the faster PyTorch in the same environment."""
    groups = {}
    for run in runs:
        key = (run["side"], " ".join(run.get("env", [])))
        groups.setdefault(key, []).append(run)
    lines = [f"{'side':<8} {'version':<14} {'environment':<28} {'rounds':>6} {'median step':>12}"]
    medians = {}
    for (side, env), side_runs in groups.items():
        medians[(side, env)] = statistics.median(r["step_seconds"] for r in side_runs)
        lines.append(f"{side:<8} {side_runs[-1]['version']:<14} {env or '-':<28} "
                     f"{len(side_runs):>6} {medians[(side, env)]:>10.3f} s")
    for (side, env), median in medians.items():
        peers = [medians[(s, env)] for s in ("debian", "pypi") if (s, env) in medians]
        if side == "cnnlab" and peers:
            lines.append(f"cnnlab's step / the faster PyTorch's ({env or 'no environment'}): "
                         f"{median / min(peers):.2f}")
    return "\n".join(lines)


def table(runs, target):
    """Per side: runs, median seconds, accuracies, median time to the target; then the ratio of
    cnnlab's time to the faster PyTorch's."""
    by_side = {}
    for run in runs:
        by_side.setdefault(run["side"], []).append(run)
    lines = [f"{'side':<8} {'version':<14} {'runs':>4} {'median s':>9} {'accuracies':<24} "
             f"time to {target}"]
    reached = {}
    for side, side_runs in by_side.items():
        accuracies = " ".join(f"{r['test_accuracy']:.4f}" for r in side_runs)
        times = [r["seconds"] for r in side_runs if r["test_accuracy"] >= target]
        reached[side] = statistics.median(times) if times else None
        to_target = f"{reached[side]:.0f} s" if times else "not reached"
        lines.append(f"{side:<8} {side_runs[-1]['version']:<14} {len(side_runs):>4} "
                     f"{statistics.median(r['seconds'] for r in side_runs):>9.0f} "
                     f"{accuracies:<24} {to_target}")
    peers = [reached[s] for s in ("debian", "pypi") if reached.get(s)]
    if reached.get("cnnlab") and peers:
        lines.append(f"cnnlab's time to {target} / the faster PyTorch's: "
                     f"{reached['cnnlab'] / min(peers):.2f}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pypi-python", help="the python of the PyPI PyTorch environment")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--data-dir", default=os.environ.get("CNNLAB_DATA",
                                                             os.path.join(ROOT, "data")))
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="the first round's seed (+1 a round)")
    parser.add_argument("--sides", default="cnnlab,debian,pypi")
    parser.add_argument("--epochs", type=int, default=0, help="override the recipe's epochs")
    parser.add_argument("--train-limit", type=int, default=0, help="train on N images (a check)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for cnnlab's config (repeatable)")
    parser.add_argument("--target", type=float, default=0.94)
    parser.add_argument("--out", help="the results file (default: bench/results/speedrun.json, "
                        "with --step-times speedrun-steps.json)")
    parser.add_argument("--step-times", type=int, default=0, metavar="N",
                        help="time N steps of each side instead of whole runs")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a variable set for every side (repeatable)")
    args = parser.parse_args()
    env = {}
    for item in args.env:
        key, equals, value = item.partition("=")
        if not equals or not key:
            sys.exit(f"speedrun: --env: expected KEY=VALUE, got '{item}'")
        env[key] = value
    if not args.out:
        args.out = os.path.join(ROOT, "bench", "results",
                                "speedrun-steps.json" if args.step_times else "speedrun.json")
    sides = args.sides.split(",")
    for side in sides:
        if side not in ("cnnlab", "debian", "pypi"):
            sys.exit(f"speedrun: --sides: unknown side '{side}': expected cnnlab, debian, pypi")
    if "pypi" in sides and not args.pypi_python:
        sys.exit("speedrun: --pypi-python is needed for the pypi side (bench/speedrun.sh gives it)")
    results = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "runs": []}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    for round_number in range(args.rounds):
        seed = args.seed + round_number
        order = sides[round_number % len(sides):] + sides[:round_number % len(sides)]
        for side in order:
            print(f"speedrun: round {round_number + 1}/{args.rounds}, seed {seed}: {side}",
                  file=sys.stderr, flush=True)
            python = "/usr/bin/python3" if side == "debian" else args.pypi_python
            if args.step_times:
                run = step_cnnlab(args, env) if side == "cnnlab" else step_peer(args, python, env)
                run.update(side=side, env=args.env, date=datetime.date.today().isoformat())
                print(f"speedrun: {side}: {run['step_seconds']:.3f} s a step",
                      file=sys.stderr, flush=True)
            else:
                run = run_cnnlab(args, seed) if side == "cnnlab" else run_peer(args, python, seed)
                run.update(side=side, seed=seed, date=datetime.date.today().isoformat(),
                           epochs=args.epochs or None, train_limit=args.train_limit or None)
                print(f"speedrun: {side}: {run['test_accuracy']:.4f} in {run['seconds']:.0f} s",
                      file=sys.stderr, flush=True)
            if side == "cnnlab" and args.set:
                run["set"] = args.set
            results["runs"].append(run)
            with open(args.out + ".tmp", "w") as f:
                json.dump(results, f, indent=2)
            os.replace(args.out + ".tmp", args.out)
    if args.step_times:
        print(step_table(results["runs"]))
        return
    full = [r for r in results["runs"] if not r.get("epochs") and not r.get("train_limit")]
    print(table(full or results["runs"], args.target))


if __name__ == "__main__":
    main()
