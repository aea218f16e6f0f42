"""Half of the Keras export's round trip (check_export.sh runs both halves).

  check_export.py pytorch EXPORT_DIR DATASET_DIR OUT.npy
      (Debian's python3 with python3-torch) the class probabilities of the test set computed by
      `cnnlab export --format pytorch`'s model, which computes cnnlab's own logits (the peer
      test ExportTest pins that), saved to OUT.npy;
  check_export.py keras EXPORT_DIR DATASET_DIR REFERENCE.npy
      (the Keras environment) the probabilities of `cnnlab export --format keras`'s model in
      Keras 2, compared with REFERENCE.npy: the same predicted class for every image, and the
      largest difference of a probability. Exits 1 when they differ.
"""
import gzip
import importlib.util
import os
import sys

import numpy as np


def read_file(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(path, "rb") as f:
                return f.read()
    sys.exit(f"{folder}: expected {name} or {name}.gz, found neither")


def test_set(folder):
    """(images [N, H, W, C] float32 in [0, 1], labels [N]) of MNIST-style IDX or CIFAR-10."""
    if any(os.path.exists(os.path.join(folder, "test_batch.bin" + e)) for e in ("", ".gz")):
        records = np.frombuffer(read_file(folder, "test_batch.bin"), np.uint8).reshape(-1, 3073)
        images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = records[:, 0]
    else:
        raw = read_file(folder, "t10k-images-idx3-ubyte")
        rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
        images = np.frombuffer(raw[16:], np.uint8).reshape(-1, rows, cols, 1)
        labels = np.frombuffer(read_file(folder, "t10k-labels-idx1-ubyte")[8:], np.uint8)
    return (images.astype(np.float32) / np.float32(255)), labels.astype(np.int64)


def load_module(export_dir):
    spec = importlib.util.spec_from_file_location("exported", os.path.join(export_dir, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("pytorch", "keras"):
        sys.exit(__doc__)
    mode, export_dir, dataset_dir, reference = sys.argv[1:]
    images, labels = test_set(dataset_dir)
    if mode == "pytorch":
        import torch

        net = load_module(export_dir).load()
        with torch.no_grad():
            x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
            probabilities = torch.cat(
                [torch.softmax(net(x[i:i + 1000]), 1) for i in range(0, len(x), 1000)])
        np.save(reference, probabilities.numpy())
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    net = load_module(export_dir).load()
    keras_probabilities = net.predict(images, batch_size=1000, verbose=0)
    cnnlab_probabilities = np.load(reference)
    keras_class = keras_probabilities.argmax(1)
    cnnlab_class = cnnlab_probabilities.argmax(1)
    disagree = int((keras_class != cnnlab_class).sum())
    difference = float(np.abs(keras_probabilities - cnnlab_probabilities).max())
    print(f"{len(labels)} test images: Keras' accuracy {(keras_class == labels).mean():.4f}, "
          f"cnnlab's {(cnnlab_class == labels).mean():.4f}; "
          f"{disagree} predictions differ; largest probability difference {difference:.2e}")
    if disagree > 0 or difference > 1e-4:
        sys.exit("the Keras export does not predict what cnnlab predicts")


if __name__ == "__main__":
    main()
