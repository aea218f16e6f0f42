#!/usr/bin/python3
"""cnnlab against PyTorch from Python, side by side on this machine (bench/run calls this).

Throughput: the study's MNIST and CIFAR-10 models at batch 64 and 128, fp32 and bf16. cnnlab's
training loop (build/bench/train_bench) and the equivalent PyTorch script (bench/torch_peer.py:
same layers, optimizer, batch and threads, images already in memory) run alternately, each in a
process of its own, for several rounds; the table gives medians over rounds, their ratio, cnnlab's
achieved GFLOP/s against the measured matrix-multiply peak, and each process's peak memory.
Then the defaults (cnnlab's `precision = "auto"` against PyTorch's fp32 as installed), and the
effect of preparing batches ahead on a run with augmentation.

Time to accuracy (--time-to-accuracy): trains configs on the real datasets and reports the
training time at which test accuracy first reached each target.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "bench", "torch_peer.py")
MODELS = {"mnist": "configs/mnist.toml", "cifar10": "configs/cifar10.toml"}


def run(command):
    """Runs a command and returns the JSON object it printed last."""
    process = subprocess.run(command, capture_output=True, text=True)
    if process.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed:\n{process.stderr}")
    return json.loads(process.stdout.strip().splitlines()[-1])


class CommandFailed(Exception):
    """A benchmark command that failed or ran past its time limit."""


def measure(command, progress=False, timeout=None):
    """Runs a command and returns the JSON object it printed last, adding the process's peak
    resident memory in MiB (peak_mib). With `progress`, what the command prints on stderr goes to
    the terminal as it comes. Raises CommandFailed when it fails, or when it runs past `timeout`
    seconds (it is then killed)."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=None if progress else err,
                                   text=True)
        limit = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG if limit else 0)
            if pid:
                break
            if time.monotonic() > limit:
                process.kill()
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                raise CommandFailed(f"{' '.join(command)} ran past {timeout:.0f} s and was "
                                    "stopped")
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            raise CommandFailed(f"{' '.join(command)} failed:\n{err.read()}")
        out.seek(0)
        lines = out.read().strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise CommandFailed(f"{' '.join(command)} printed no JSON result last") from None
    result["peak_mib"] = usage.ru_maxrss / 1024
    return result


def run_measured(command, progress=False):
    """As measure(), ending the benchmark with the command's error when it fails."""
    try:
        return measure(command, progress)
    except CommandFailed as e:
        sys.exit(f"bench: {e}")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def throughput(args, describe_files):
    bench = os.path.join(args.build_dir, "bench", "train_bench")
    cases = [(m, b, p) for m in MODELS for b in args.batches for p in ("fp32", "bf16")]
    samples = {}

    def cnnlab(model, batch, precision, extra=()):
        command = [bench, "--config", os.path.join(ROOT, MODELS[model]), "--batch", str(batch),
                   "--threads", str(args.threads), "--seconds", str(args.seconds), *extra]
        if precision:
            command += ["--precision", precision]
        return run_measured(command)

    def peer(model, batch, precision, threads):
        command = [sys.executable, PEER, "--model", describe_files[model], "--batch", str(batch),
                   "--precision", precision, "--seconds", str(args.seconds)]
        if threads:
            command += ["--threads", str(threads)]
        return run_measured(command)

    def record(key, result):
        samples.setdefault(key, []).append(result)

    for round_number in range(args.rounds):
        print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr, flush=True)
        for model, batch, precision in cases:
            order = ["cnnlab", "pytorch"] if round_number % 2 == 0 else ["pytorch", "cnnlab"]
            for tool in order:
                if tool == "cnnlab":
                    record((tool, model, batch, precision), cnnlab(model, batch, precision))
                else:
                    record((tool, model, batch, precision),
                           peer(model, batch, precision, args.threads))
        for model in MODELS:
            # Out of the box: cnnlab's config as shipped, PyTorch with its own thread count.
            record(("cnnlab-default", model), cnnlab(model, 64, None))
            record(("pytorch-default", model), peer(model, 64, "fp32", 0))
        for prefetch in ("true", "false"):
            record(("prefetch", prefetch),
                   cnnlab("cifar10", 64, None, ["--augment", "--set", f"train.prefetch={prefetch}"]))
    return samples


def summarise(samples, key):
    results = samples[key]
    return {
        "images_per_s": statistics.median(r["images_per_s"] for r in results),
        "images_per_s_rounds": [round(r["images_per_s"], 1) for r in results],
        "step_ms_median": statistics.median(r["step_ms_median"] for r in results),
        "peak_mib": max(r["peak_mib"] for r in results),
        "threads": results[0]["threads"],
        "precision": results[0]["precision"],
        "achieved_gflops": statistics.median(r.get("achieved_gflops", 0) for r in results),
    }


def report_throughput(args, samples, peak):
    rows = []
    print()
    print(f"{'model':<9}{'batch':>6}{'prec':>6}{'cnnlab img/s':>14}{'PyTorch img/s':>15}"
          f"{'ratio':>7}{'GFLOP/s':>9}{'of peak':>8}{'MiB c/p':>12}")
    for model in MODELS:
        for batch in args.batches:
            for precision in ("fp32", "bf16"):
                ours = summarise(samples, ("cnnlab", model, batch, precision))
                theirs = summarise(samples, ("pytorch", model, batch, precision))
                peak_gflops = peak["fp32_gflops" if precision == "fp32" else "bf16_gflops"]
                row = {"model": model, "batch": batch, "precision": precision,
                       "cnnlab": ours, "pytorch": theirs,
                       "ratio": ours["images_per_s"] / theirs["images_per_s"],
                       "share_of_matmul_peak": ours["achieved_gflops"] / peak_gflops}
                rows.append(row)
                print(f"{model:<9}{batch:>6}{precision:>6}{ours['images_per_s']:>14.0f}"
                      f"{theirs['images_per_s']:>15.0f}{row['ratio']:>7.2f}"
                      f"{ours['achieved_gflops']:>9.0f}{100 * row['share_of_matmul_peak']:>7.0f}%"
                      f"{ours['peak_mib']:>6.0f}/{theirs['peak_mib']:<5.0f}")
    defaults = []
    print()
    print("Out of the box (batch 64): cnnlab's config as shipped against PyTorch fp32 with its "
          "own thread count")
    for model in MODELS:
        ours = summarise(samples, ("cnnlab-default", model))
        theirs = summarise(samples, ("pytorch-default", model))
        same_threads = summarise(samples, ("pytorch", model, 64, "fp32"))
        row = {"model": model, "cnnlab": ours, "pytorch": theirs,
               "pytorch_same_threads": same_threads,
               "ratio": ours["images_per_s"] / theirs["images_per_s"],
               "ratio_same_threads": ours["images_per_s"] / same_threads["images_per_s"]}
        defaults.append(row)
        print(f"  {model:<9} cnnlab ({ours['precision']}, {ours['threads']} threads) "
              f"{ours['images_per_s']:.0f} img/s; PyTorch fp32 {theirs['threads']} thread(s) "
              f"{theirs['images_per_s']:.0f} ({row['ratio']:.2f}x), {same_threads['threads']} "
              f"threads {same_threads['images_per_s']:.0f} ({row['ratio_same_threads']:.2f}x)")
    on = summarise(samples, ("prefetch", "true"))
    off = summarise(samples, ("prefetch", "false"))
    prefetch = {"on": on, "off": off, "gain": on["images_per_s"] / off["images_per_s"] - 1}
    print()
    print(f"CIFAR-10 with augmentation, batch 64, {on['precision']}: batches prepared ahead "
          f"{on['images_per_s']:.0f} img/s, in the step {off['images_per_s']:.0f} img/s "
          f"({100 * prefetch['gain']:+.1f}%)")
    return {"rows": rows, "defaults": defaults, "prefetch": prefetch}


def time_to_accuracy(args):
    bench = os.path.join(args.build_dir, "bench", "train_bench")
    runs = [("configs/mnist.toml", [0.992]), ("configs/mnist-fast.toml", [0.992]),
            ("configs/cifar10-fast.toml", [0.8361, 0.90])]
    if args.study_cifar10:
        runs.append(("configs/cifar10.toml", [0.8361]))
    results = []
    for config, targets in runs:
        print(f"time to accuracy: {config}", file=sys.stderr, flush=True)
        command = [bench, "--config", os.path.join(ROOT, config), "--threads", str(args.threads)]
        for target in targets:
            command += ["--target", str(target)]
        start = time.monotonic()
        result = run_measured(command, progress=True)
        result["wall_seconds"] = time.monotonic() - start
        result["config"] = config
        results.append(result)
    print()
    for result in results:
        for target in result["targets"]:
            reached = (f"{target['seconds']:.1f} s (epoch {target['epoch']})" if target["reached"]
                       else "not reached")
            print(f"{result['config']:<28} {result['precision']}: test accuracy ≥ "
                  f"{target['target']:.4f} after {reached}; final "
                  f"{result['final_test_accuracy']:.4f} after {result['train_seconds']:.1f} s")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per run")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true",
                        help="one round of one second each: checks the harness, not the speed")
    parser.add_argument("--time-to-accuracy", action="store_true",
                        help="train the fast presets to their targets instead")
    parser.add_argument("--study-cifar10", action="store_true",
                        help="with --time-to-accuracy, also the study's 30-epoch CIFAR-10 config")
    parser.add_argument("--out", help="JSON results file (default: bench/results/<mode>.json)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 1.0
    machine = {"cpu": cpu_model(), "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    if args.time_to_accuracy:
        output = {"machine": machine, "runs": time_to_accuracy(args)}
        default_out = "time-to-accuracy.json"
    else:
        bench = os.path.join(args.build_dir, "bench", "train_bench")
        with tempfile.TemporaryDirectory() as folder:
            describe_files = {}
            for model, config in MODELS.items():
                description = run([bench, "--config", os.path.join(ROOT, config), "--describe"])
                describe_files[model] = os.path.join(folder, f"{model}.json")
                with open(describe_files[model], "w") as f:
                    json.dump(description, f)
            peak = run([bench, "--matmul-peak", "--threads", str(args.threads)])
            print(f"matrix multiply peak ({args.threads} threads): fp32 "
                  f"{peak['fp32_gflops']:.0f} GFLOP/s, bf16 {peak['bf16_gflops']:.0f} GFLOP/s",
                  file=sys.stderr)
            samples = throughput(args, describe_files)
        output = {"machine": machine, "rounds": args.rounds, "seconds": args.seconds,
                  "matmul_peak": peak, **report_throughput(args, samples, peak)}
        default_out = "throughput-quick.json" if args.quick else "throughput.json"
    out = args.out or os.path.join(ROOT, "bench", "results", default_out)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".part", "w") as f:
        json.dump(output, f, indent=2)
    os.replace(out + ".part", out)
    print(f"\nresults written to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
