#!/usr/bin/env python3
"""cnnlab against PyTorch from Python on a CUDA GPU, side by side (bench/gpu.sh calls this).

Throughput: the study's MNIST and CIFAR-10 models on random images of their shapes, at batch 64
and 512, fp32 and bf16. cnnlab's training loop (train_bench --device cuda: data on the GPU, fused
optimizer, the step replayed from a CUDA graph) and the PyTorch peer (torch_peer.py --device
cuda: eager, PyTorch's default optimizer, data on the GPU, cuDNN autotuning, the loss read every
50 steps) run alternately, each in a process of its own, for several rounds; the table gives
medians over rounds and their ratio. After the first round, the study's MNIST model trained on the
real MNIST until its test accuracy reaches 0.995 (configs/mnist-gpu.toml), then the other rounds.

With --deadline, what would not finish by then is left out (and listed in the JSON; the first
round keeps time for the time-to-accuracy run), every command has a time limit, and a command
that fails is recorded with its error rather than ending the benchmark; the JSON file is
rewritten after every measurement.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import MODELS, ROOT, CommandFailed, measure, run  # noqa: E402

PEER = os.path.join(ROOT, "bench", "torch_peer.py")
# The longest one throughput measurement may take (start-up, warm-up, timed seconds).
MEASURE_LIMIT = 150
# Kept for the time-to-accuracy run during the first round: a missing table cell costs less than
# a missing time to accuracy.
TTA_RESERVE = 75


def table(samples, cases):
    """Medians over rounds per case and tool, and their ratio, from the measurements so far."""
    rows = []
    for model, batch, precision in cases:
        ours = [r for r in samples.get(("cnnlab", model, batch, precision), []) if "error" not in r]
        theirs = [r for r in samples.get(("pytorch", model, batch, precision), [])
                  if "error" not in r]
        a = statistics.median(r["images_per_s"] for r in ours) if ours else None
        b = statistics.median(r["images_per_s"] for r in theirs) if theirs else None
        errors = [r["error"] for tool in ("cnnlab", "pytorch")
                  for r in samples.get((tool, model, batch, precision), []) if "error" in r]
        rows.append({"model": model, "batch": batch, "precision": precision,
                     "cnnlab_images_per_s": a, "pytorch_images_per_s": b,
                     "ratio": a / b if a and b else None,
                     "cnnlab_rounds": [round(r["images_per_s"]) for r in ours],
                     "pytorch_rounds": [round(r["images_per_s"]) for r in theirs],
                     "cnnlab_step_mode": ours[0].get("step_mode") if ours else None,
                     "cnnlab_peak_mib": max((r["peak_mib"] for r in ours), default=None),
                     "pytorch_peak_mib": max((r["peak_mib"] for r in theirs), default=None),
                     "errors": errors})
    return rows


def number(value, width, digits=0):
    return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build-gpu"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=1.5, help="timed seconds per run")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--target", type=float, default=0.995,
                        help="MNIST test accuracy to time (0: skip)")
    parser.add_argument("--deadline", type=float, default=0,
                        help="Unix time by which to be done (0: none)")
    parser.add_argument("--quick", action="store_true", help="one round of 1 s runs")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "gpu.json"))
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 1.0
    bench = os.path.join(args.build_dir, "bench", "train_bench")

    def left():
        return args.deadline - time.time() if args.deadline else float("inf")

    describe = {}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    models_dir = tempfile.mkdtemp(prefix="cnnlab-gpu-models-")
    for model, config in MODELS.items():
        path = os.path.join(models_dir, f"{model}.json")
        with open(path, "w") as f:
            json.dump(run([bench, "--config", os.path.join(ROOT, config), "--describe"]), f)
        describe[model] = path

    commands = {
        "cnnlab": lambda model, batch, precision: [
            bench, "--config", os.path.join(ROOT, MODELS[model]), "--batch", str(batch),
            "--precision", precision, "--device", args.device, "--seconds", str(args.seconds),
            "--warmup", "60"],
        "pytorch": lambda model, batch, precision: [
            sys.executable, PEER, "--model", describe[model], "--batch", str(batch),
            "--precision", precision, "--device", args.device, "--seconds", str(args.seconds),
            "--warmup", "60"],
    }
    cases = [(m, b, p) for m in MODELS for b in args.batches for p in ("fp32", "bf16")]
    samples, left_out = {}, []
    result = {"gpu": None, "torch": None, "rounds": 0, "seconds": args.seconds,
              "throughput": [], "left_out": left_out}

    def save():
        result["throughput"] = table(samples, cases)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")

    def one_round(round_number, reserve=0):
        for case in cases:
            tools = ["cnnlab", "pytorch"]
            if round_number % 2:
                tools.reverse()
            for tool in tools:
                what = f"round {round_number + 1} {tool:8} {case[0]:8} batch {case[1]:4} {case[2]}"
                if left() < 20 + reserve:
                    left_out.append(what)
                    continue
                try:
                    sample = measure(commands[tool](*case),
                                     timeout=min(MEASURE_LIMIT, left() - reserve))
                    note = f"{sample['images_per_s']:9.0f} images/s"
                    if tool == "pytorch" and result["gpu"] is None:
                        result["gpu"], result["torch"] = sample.get("gpu"), sample.get("torch")
                except CommandFailed as e:
                    sample = {"error": str(e)[-2000:]}
                    note = f"failed: {sample['error']}"
                samples.setdefault((tool,) + case, []).append(sample)
                print(f"{what}: {note}", file=sys.stderr, flush=True)
                save()
        result["rounds"] = round_number + 1

    started = time.monotonic()
    one_round(0, reserve=TTA_RESERVE if args.target > 0 else 0)
    round_seconds = time.monotonic() - started

    if args.target > 0:
        command = [bench, "--config", os.path.join(ROOT, "configs", "mnist-gpu.toml"), "--device",
                   args.device, "--target", str(args.target), "--stop-at-target"]
        if left() < 30:
            left_out.append("MNIST time to accuracy")
        else:
            try:
                tta = measure(command, progress=True, timeout=min(600, left() - 5))
            except CommandFailed as e:
                tta = {"error": str(e)[-2000:]}
            result["mnist_time_to_accuracy"] = tta
            save()

    for round_number in range(1, args.rounds):
        if left() < round_seconds + 10:
            left_out.append(f"rounds {round_number + 1} to {args.rounds}")
            break
        one_round(round_number)
    save()

    rows = result["throughput"]
    print(f"\n{result['gpu']}, PyTorch {result['torch']}; medians of {result['rounds']} "
          f"round(s) of {args.seconds:g} s, images/s")
    print(f"{'model':8} {'batch':>5} {'prec':4} {'cnnlab':>10} {'PyTorch':>10} {'ratio':>6}  mode")
    for r in rows:
        print(f"{r['model']:8} {r['batch']:5} {r['precision']:4} "
              f"{number(r['cnnlab_images_per_s'], 10)} {number(r['pytorch_images_per_s'], 10)} "
              f"{number(r['ratio'], 6, 2)}  {r['cnnlab_step_mode']}"
              + (f"  ({len(r['errors'])} failed)" if r["errors"] else ""))
    tta = result.get("mnist_time_to_accuracy")
    if tta and "error" in tta:
        print(f"\nMNIST to {args.target} on {args.device} failed: {tta['error']}")
    elif tta:
        reached = tta["targets"][0]
        print(f"\nMNIST to {args.target} test accuracy on {tta['device']} ({tta['precision']}, "
              f"{tta['step_mode']}): "
              + (f"{reached['seconds']:.1f} s of training (epoch {reached['epoch']})"
                 if reached["reached"] else
                 f"not reached (final {tta['final_test_accuracy']:.4f})"))
    if left_out:
        print(f"left out for time: {'; '.join(left_out)}")


if __name__ == "__main__":
    main()
