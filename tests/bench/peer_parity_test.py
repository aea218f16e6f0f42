#!/usr/bin/python3
"""The benchmark's PyTorch peer computes the same training step as cnnlab.

For the study's MNIST and CIFAR-10 models, train_bench --parity writes cnnlab's initial weights,
one batch and four losses (eval and train mode, before and after one optimizer step of the
config's optimizer); torch_peer.py --parity loads the same weights and batch into its own model
and must reproduce every loss. Same thread count on both sides, so the arithmetic is the same.

  peer_parity_test.py BUILD_DIR SOURCE_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

TOLERANCE = 1e-5  # relative


def main():
    build_dir, source_dir, work_dir = sys.argv[1:4]
    os.makedirs(work_dir, exist_ok=True)
    bench = os.path.join(build_dir, "bench", "train_bench")
    peer = os.path.join(source_dir, "bench", "torch_peer.py")
    check = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    if check.returncode != 0:
        sys.exit("PyTorch for Python is missing (Debian package python3-torch; "
                 "scripts/setup.sh installs it)")
    failures = []
    cases = [("mnist", []), ("cifar10", []),
             ("mnist-l2-sgd", ["--set", "train.l2=0.01", "--set", "train.optimizer=sgd",
                               "--set", "train.momentum=0.9", "--set", "train.lr=0.05",
                               "--set", "train.label_smoothing=0.1"])]
    for name, extra in cases:
        config = os.path.join(source_dir, "configs", name.split("-")[0] + ".toml")
        weights = os.path.join(work_dir, f"{name}.pt")
        description = os.path.join(work_dir, f"{name}.json")
        ours = subprocess.run([bench, "--config", config, "--parity", weights, "--batch", "16",
                               "--threads", "2", *extra], capture_output=True, text=True)
        if ours.returncode != 0:
            sys.exit(f"{name}: train_bench failed: {ours.stderr}")
        with open(description, "w") as f:
            f.write(ours.stdout)
        expected = json.loads(ours.stdout)["losses"]
        theirs = subprocess.run([sys.executable, peer, "--model", description, "--parity",
                                 weights, "--threads", "2"], capture_output=True, text=True)
        if theirs.returncode != 0:
            sys.exit(f"{name}: torch_peer.py failed: {theirs.stderr}")
        found = json.loads(theirs.stdout)["losses"]
        for key, value in expected.items():
            difference = abs(found[key] - value) / max(abs(value), 1e-12)
            status = "ok" if difference <= TOLERANCE else "DIFFERENT"
            print(f"{name:<14}{key:<14} cnnlab {value:.7f}  PyTorch {found[key]:.7f}  {status}")
            if difference > TOLERANCE:
                failures.append(f"{name} {key}")
        if len(expected) != 4 or expected["train_after"] == expected["train_before"]:
            failures.append(f"{name}: the step changed nothing")
    if failures:
        sys.exit("losses differ: " + ", ".join(failures))


if __name__ == "__main__":
    main()
