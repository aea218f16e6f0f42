#!/usr/bin/python3
"""cnnlab against Keras 2 on the study's MNIST model (bench/keras.sh runs it).

Each round trains configs/study/mnist.toml once in Keras (bench/keras_peer.py, in the Keras
environment) and once with `cnnlab train`, alternately, so that both see the same machine. For
each it records the seconds of training (Keras' fit(), cnnlab's epochs: both with validation), the
seconds of the whole command, and the test accuracy; it prints the medians and the ratios, Keras
over cnnlab, and writes every round to --out-dir/keras-peer-<precision>.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from compare import cpu_model  # bench/compare.py, beside this file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def keras_round(args, data):
    out = subprocess.run([args.keras_python, os.path.join(ROOT, "bench", "keras_peer.py"),
                          os.path.join(data, "mnist"), "--epochs", str(args.epochs),
                          "--precision", args.precision],
                         check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return {"train_seconds": result["fit_seconds"], "seconds": result["seconds"],
            "test_accuracy": result["test_accuracy"], "version": result["peer"]}


def cnnlab_round(args):
    with tempfile.TemporaryDirectory() as work:
        run = os.path.join(work, "run")
        start = time.perf_counter()
        subprocess.run([args.cnnlab, "train", "--config",
                        os.path.join(ROOT, "configs", "study", "mnist.toml"), "--out", run,
                        "--no-report", "--set", f"train.epochs={args.epochs}",
                        "--set", f"train.precision={args.precision}"],
                       check=True, capture_output=True)
        seconds = time.perf_counter() - start
        with open(os.path.join(run, "metrics.json")) as f:
            metrics = json.load(f)
    return {"train_seconds": metrics["train_seconds"], "seconds": seconds,
            "test_accuracy": metrics["test_accuracy"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cnnlab", required=True)
    parser.add_argument("--keras-python", required=True)
    parser.add_argument("--out-dir", required=True, help="writes keras-peer-<precision>.json")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="both sides: float32, or bfloat16 compute (Keras' mixed_bfloat16)")
    args = parser.parse_args()
    data = os.environ.get("CNNLAB_DATA", os.path.join(ROOT, "data"))
    rounds = []
    for r in range(args.rounds):
        keras = keras_round(args, data)
        cnnlab = cnnlab_round(args)
        rounds.append({"keras": keras, "cnnlab": cnnlab})
        print(f"round {r + 1}: Keras {keras['train_seconds']:.1f} s training "
              f"({keras['test_accuracy']:.4f}), cnnlab {cnnlab['train_seconds']:.1f} s "
              f"({cnnlab['test_accuracy']:.4f})", flush=True)

    def median(side, key):
        return statistics.median(r[side][key] for r in rounds)

    summary = {
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "model": "configs/study/mnist.toml (225,034 parameters), batch 64, "
                 f"{args.epochs} epochs",
        "precision": args.precision,
        "keras": rounds[0]["keras"]["version"],
        "rounds": rounds,
        "median": {side: {key: median(side, key) for key in
                          ("train_seconds", "seconds", "test_accuracy")}
                   for side in ("keras", "cnnlab")},
    }
    m = summary["median"]
    summary["ratio_train"] = m["keras"]["train_seconds"] / m["cnnlab"]["train_seconds"]
    summary["ratio_command"] = m["keras"]["seconds"] / m["cnnlab"]["seconds"]
    out = os.path.join(args.out_dir, f"keras-peer-{args.precision}.json")
    with open(out, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"\nmedians of {args.rounds} rounds ({summary['keras']} against cnnlab, "
          f"{args.precision}):")
    print(f"  test accuracy   Keras {m['keras']['test_accuracy']:.4f}   "
          f"cnnlab {m['cnnlab']['test_accuracy']:.4f}")
    print(f"  training        Keras {m['keras']['train_seconds']:.1f} s   "
          f"cnnlab {m['cnnlab']['train_seconds']:.1f} s   "
          f"cnnlab {summary['ratio_train']:.2f}x faster")
    print(f"  whole command   Keras {m['keras']['seconds']:.1f} s   "
          f"cnnlab {m['cnnlab']['seconds']:.1f} s   cnnlab {summary['ratio_command']:.2f}x faster")
    print(f"Written: {out}")


if __name__ == "__main__":
    sys.exit(main())
