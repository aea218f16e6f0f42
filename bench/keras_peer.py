"""The Keras peer of the study's MNIST model: configs/study/mnist.toml as a Keras 2 user writes it.

The study's script, with the data read from the IDX files cnnlab reads (no download): pixels
scaled to [0, 1], one-hot labels, Adam at Keras' defaults, batch 64, the last 10% held out, 5
epochs, float32, then evaluate() on the test set. Prints one JSON line: the seconds fit() took,
the seconds of the whole script, and the test accuracy.

  keras_peer.py MNIST_DIR [--epochs N] [--seed S] [--precision fp32|bf16]

--precision bf16 is Keras' mixed precision ("mixed_bfloat16": bfloat16 compute, float32
weights, the softmax in float32), the counterpart of cnnlab's bf16.

Run it in the Keras environment (scripts/keras-venv.sh); bench/keras.sh does.
"""
import argparse
import gzip
import json
import os
import time

START = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras import layers  # noqa: E402


def idx(folder, name):
    path = os.path.join(folder, name)
    opener = gzip.open if not os.path.exists(path) else open
    with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data[4 + 4 * dims:], np.uint8).reshape(shape)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mnist_dir")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    if args.precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x_train = idx(args.mnist_dir, "train-images-idx3-ubyte").reshape(-1, 28, 28, 1) / 255.0
    y_train = keras.utils.to_categorical(idx(args.mnist_dir, "train-labels-idx1-ubyte"), 10)
    x_test = idx(args.mnist_dir, "t10k-images-idx3-ubyte").reshape(-1, 28, 28, 1) / 255.0
    y_test = keras.utils.to_categorical(idx(args.mnist_dir, "t10k-labels-idx1-ubyte"), 10)
    x_train, x_test = x_train.astype("float32"), x_test.astype("float32")

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax", dtype="float32"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    fit_start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, validation_split=0.1,
              verbose=2)
    fit_seconds = time.perf_counter() - fit_start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(json.dumps({"peer": f"tf-keras {keras.__version__}", "params": model.count_params(),
                      "precision": args.precision,
                      "fit_seconds": fit_seconds, "test_accuracy": accuracy,
                      "seconds": time.perf_counter() - START}))


if __name__ == "__main__":
    main()
