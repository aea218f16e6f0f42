#!/usr/bin/python3
"""Test accuracy of a model exported by `cnnlab export`, computed by PyTorch from Python.

The exported model.py is imported and its weights loaded; the test images of MNIST, Fashion-MNIST
(IDX files, raw or .gz) or CIFAR-10 (the binary version) are scaled to [0, 1] and classified in
batches. The accuracy should be the one `cnnlab evaluate` prints for the same checkpoint.

  exported_accuracy.py EXPORT_DIR DATASET_DIR [--limit N] [--threads N]

DATASET_DIR is the dataset's own folder (e.g. data/mnist or data/cifar-10-batches-bin).
"""
import argparse
import gzip
import importlib.util
import os
import sys

import torch


def read_file(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(path, "rb") as f:
                return f.read()
    sys.exit(f"{folder}: expected {name} or {name}.gz, found neither")


def test_set(folder):
    """(images [N, C, H, W] uint8, labels [N] int64) of the dataset in `folder`."""
    if any(os.path.exists(os.path.join(folder, "test_batch.bin" + ext)) for ext in ("", ".gz")):
        raw = torch.frombuffer(bytearray(read_file(folder, "test_batch.bin")), dtype=torch.uint8)
        records = raw.reshape(-1, 1 + 3 * 32 * 32)
        return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].long()
    images = read_file(folder, "t10k-images-idx3-ubyte")
    labels = read_file(folder, "t10k-labels-idx1-ubyte")
    rows, cols = int.from_bytes(images[8:12], "big"), int.from_bytes(images[12:16], "big")
    x = torch.frombuffer(bytearray(images[16:]), dtype=torch.uint8).reshape(-1, 1, rows, cols)
    y = torch.frombuffer(bytearray(labels[8:]), dtype=torch.uint8).long()
    return x, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("dataset_dir")
    parser.add_argument("--limit", type=int, default=0, help="only the first N test images")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: its default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    spec = importlib.util.spec_from_file_location("exported", os.path.join(args.export_dir,
                                                                         "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.load()
    x, y = test_set(args.dataset_dir)
    if args.limit > 0:
        x, y = x[:args.limit], y[:args.limit]
    if tuple(x.shape[1:]) != tuple(module.INPUT_SHAPE):
        sys.exit(f"{args.dataset_dir}: images of shape {tuple(x.shape[1:])}, "
                 f"but the model takes {tuple(module.INPUT_SHAPE)}")
    correct = 0
    with torch.no_grad():
        for begin in range(0, len(y), 1000):
            batch = x[begin:begin + 1000].float() / 255
            correct += (net(batch).argmax(1) == y[begin:begin + 1000]).sum().item()
    print(f"{module.NAME}: {len(y)} test images")
    print(f"Test accuracy: {correct / len(y):.4f}")


if __name__ == "__main__":
    main()
