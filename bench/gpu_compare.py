#!/usr/bin/env python3
"""cnnlab against PyTorch from Python on a CUDA GPU, side by side (bench/gpu.sh calls this).

Throughput: the study's MNIST and CIFAR-10 models on random images of their shapes, at batch 64
and 512, fp32 and bf16. cnnlab's training loop (train_bench --device cuda: data on the GPU, fused
optimizer, the step replayed from a CUDA graph) and the PyTorch peer (torch_peer.py --device
cuda: eager, PyTorch's default optimizer, data on the GPU, cuDNN autotuning, the loss read every
50 steps) run alternately, each in a process of its own, for several rounds; the table gives
medians over rounds and their ratio. Then the study's MNIST model trained on the real MNIST until
its test accuracy reaches 0.995 (configs/mnist-gpu.toml).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import MODELS, ROOT, run, run_measured  # noqa: E402

PEER = os.path.join(ROOT, "bench", "torch_peer.py")


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
    parser.add_argument("--quick", action="store_true", help="one round of 1 s runs")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "gpu.json"))
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 1.0
    bench = os.path.join(args.build_dir, "bench", "train_bench")

    describe = {}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    models_dir = tempfile.mkdtemp(prefix="cnnlab-gpu-models-")
    for model, config in MODELS.items():
        path = os.path.join(models_dir, f"{model}.json")
        with open(path, "w") as f:
            json.dump(run([bench, "--config", os.path.join(ROOT, config), "--describe"]), f)
        describe[model] = path

    def cnnlab(model, batch, precision):
        return run_measured([bench, "--config", os.path.join(ROOT, MODELS[model]), "--batch",
                             str(batch), "--precision", precision, "--device", args.device,
                             "--seconds", str(args.seconds), "--warmup", "60"])

    def peer(model, batch, precision):
        return run_measured([sys.executable, PEER, "--model", describe[model], "--batch",
                             str(batch), "--precision", precision, "--device", args.device,
                             "--seconds", str(args.seconds), "--warmup", "60"])

    samples = {}
    cases = [(m, b, p) for m in MODELS for b in args.batches for p in ("fp32", "bf16")]
    for round_number in range(args.rounds):
        for model, batch, precision in cases:
            tools = [("cnnlab", cnnlab), ("pytorch", peer)]
            if round_number % 2:
                tools.reverse()
            for tool, measure in tools:
                result = measure(model, batch, precision)
                samples.setdefault((tool, model, batch, precision), []).append(result)
                print(f"round {round_number + 1} {tool:8} {model:8} batch {batch:4} {precision}: "
                      f"{result['images_per_s']:9.0f} images/s", file=sys.stderr, flush=True)

    rows = []
    for model, batch, precision in cases:
        ours = samples[("cnnlab", model, batch, precision)]
        theirs = samples[("pytorch", model, batch, precision)]
        a = statistics.median(r["images_per_s"] for r in ours)
        b = statistics.median(r["images_per_s"] for r in theirs)
        rows.append({"model": model, "batch": batch, "precision": precision,
                     "cnnlab_images_per_s": a, "pytorch_images_per_s": b, "ratio": a / b,
                     "cnnlab_rounds": [round(r["images_per_s"]) for r in ours],
                     "pytorch_rounds": [round(r["images_per_s"]) for r in theirs],
                     "cnnlab_step_mode": ours[0].get("step_mode"),
                     "cnnlab_peak_mib": max(r["peak_mib"] for r in ours),
                     "pytorch_peak_mib": max(r["peak_mib"] for r in theirs)})
    first = samples[("pytorch",) + cases[0]][0]
    result = {"gpu": first.get("gpu"), "torch": first.get("torch"), "rounds": args.rounds,
              "seconds": args.seconds, "throughput": rows}

    print(f"\n{result['gpu']}, PyTorch {result['torch']}; medians of {args.rounds} rounds "
          f"of {args.seconds:g} s, images/s")
    print(f"{'model':8} {'batch':>5} {'prec':4} {'cnnlab':>10} {'PyTorch':>10} {'ratio':>6}  mode")
    for r in rows:
        print(f"{r['model']:8} {r['batch']:5} {r['precision']:4} {r['cnnlab_images_per_s']:10.0f} "
              f"{r['pytorch_images_per_s']:10.0f} {r['ratio']:6.2f}  {r['cnnlab_step_mode']}")

    if args.target > 0:
        tta = run_measured([bench, "--config", os.path.join(ROOT, "configs", "mnist-gpu.toml"),
                            "--device", args.device, "--target", str(args.target)],
                           progress=True)
        result["mnist_time_to_accuracy"] = tta
        reached = tta["targets"][0]
        print(f"\nMNIST to {args.target} test accuracy on the GPU: "
              + (f"{reached['seconds']:.1f} s of training (epoch {reached['epoch']})"
                 if reached["reached"] else
                 f"not reached (final {tta['final_test_accuracy']:.4f})"))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
