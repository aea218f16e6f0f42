"""Writes golden.json: what Keras 2 (tf-keras) computes, for cnnlab's tests to be pinned to;
and, beside it, tiny.h5: the tiny model's initial weights as Keras' save_weights writes them.

Run through make_golden.sh, which makes the pinned virtual environment. Everything here is
deterministic: fixed weights, fixed images, fixed transform parameters; Keras runs on the CPU in
float32 with oneDNN's reordering turned off.

  python3 make_golden.py OUT.json [OUT.h5]
"""

import json
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import io
import contextlib

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tf_keras import layers, regularizers
from tf_keras.preprocessing.image import ImageDataGenerator


def pattern(shape, phase, scale):
    """Deterministic values that are neither symmetric nor repeating: scale·sin(phase + 0.7·k)."""
    count = int(np.prod(shape))
    values = scale * np.sin(phase + 0.7 * np.arange(count, dtype=np.float64))
    return values.reshape(shape).astype(np.float32)


def tensor(array):
    array = np.asarray(array, dtype=np.float64)
    return {"shape": list(array.shape), "values": [float(v) for v in array.reshape(-1)]}


# The tiny model: every kind of layer whose arithmetic or layout cnnlab must share with Keras
# (a valid 3x3 convolution on a non-square image, a max pool, a channels-last Flatten, two dense
# layers, softmax), with an L2 kernel regularizer on every kernel.
TINY_INPUT = (6, 7, 2)  # height, width, channels
TINY_L2 = 0.01
TINY_CLASSES = 4


def tiny_model():
    l2 = regularizers.l2(TINY_L2)
    model = keras.Sequential(
        [
            keras.Input(shape=TINY_INPUT),
            layers.Conv2D(3, (3, 3), activation="relu", kernel_regularizer=l2, name="Conv1"),
            layers.MaxPooling2D((2, 2), name="Pool1"),
            layers.Flatten(name="Flatten"),
            layers.Dense(5, activation="relu", kernel_regularizer=l2, name="Dense"),
            layers.Dense(TINY_CLASSES, activation="softmax", kernel_regularizer=l2, name="Output"),
        ],
        name="tiny",
    )
    phase = 0.0
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kernel = pattern(weights[0].shape, phase, 0.5)
        bias = pattern(weights[1].shape, phase + 0.3, 0.1)
        layer.set_weights([kernel, bias])
        phase += 1.0
    return model


def weights_of(model):
    """Kernels and biases in Keras' own layout (conv HWIO, dense (in, out))."""
    out = {}
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            out[layer.name + ".kernel"] = tensor(weights[0])
            out[layer.name + ".bias"] = tensor(weights[1])
    return out


def tiny_section():
    # Whole multiples of 1/255, as 8-bit images read into [0, 1].
    pixels = np.round(255 * (0.5 + 0.5 * pattern((5,) + TINY_INPUT, 2.0, 1.0).astype(np.float64)))
    images = (pixels / 255).astype(np.float32)
    labels = np.array([0, 3, 1, 2, 3], dtype=np.int64)
    model = tiny_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    initial = weights_of(model)
    probabilities = model.predict(images, batch_size=5, verbose=0)
    loss = model.evaluate(images, labels, batch_size=5, verbose=0)
    l2 = float(sum(float(term) for term in model.losses))
    section = {
        "input_hwc": list(TINY_INPUT),
        "classes": TINY_CLASSES,
        "l2": TINY_L2,
        "images_nhwc": tensor(images),
        "labels": labels.tolist(),
        "weights": initial,
        "probabilities": tensor(probabilities),
        "loss": float(loss),
        "l2_penalty": l2,
        "adam": [],
    }
    # Adam from the same start: Keras' default epsilon, and a large one that shows where it goes
    # (added to √v before bias correction; PyTorch's place differs by 1e-3 here).
    for epsilon in (1e-7, 0.1):
        model = tiny_model()
        optimizer = keras.optimizers.Adam(learning_rate=0.01, epsilon=epsilon)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        losses = [float(model.train_on_batch(images, labels)) for _ in range(3)]
        section["adam"].append(
            {
                "lr": 0.01,
                "beta1": 0.9,
                "beta2": 0.999,
                "epsilon": epsilon,
                "steps": 3,
                "losses": losses,
                "weights": weights_of(model),
            }
        )
    return section


def study_mnist():
    """configs/study/mnist.toml as Keras writes it, with cnnlab's layer names."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu", name="Conv1"),
            layers.MaxPooling2D((2, 2), name="Pool1"),
            layers.Conv2D(64, (3, 3), activation="relu", name="Conv2"),
            layers.MaxPooling2D((2, 2), name="Pool2"),
            layers.Flatten(name="Flatten"),
            layers.Dense(128, activation="relu", name="Dense"),
            layers.Dense(10, activation="softmax", name="Output"),
        ],
        name="study-mnist",
    )


def tuned_mnist():
    """configs/mnist.toml (batch norm and dropout: non-trainable parameters) in Keras."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu", name="Conv1"),
            layers.BatchNormalization(name="BatchNorm1"),
            layers.MaxPooling2D((2, 2), name="Pool1"),
            layers.Conv2D(64, (3, 3), activation="relu", name="Conv2"),
            layers.BatchNormalization(name="BatchNorm2"),
            layers.MaxPooling2D((2, 2), name="Pool2"),
            layers.Flatten(name="Flatten"),
            layers.Dropout(0.25, name="Dropout1"),
            layers.Dense(128, activation="relu", name="Dense"),
            layers.Dropout(0.5, name="Dropout2"),
            layers.Dense(10, activation="softmax", name="Output"),
        ],
        name="mnist",
    )


def summary_text(model):
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        model.summary()
    return text.getvalue()


def augment_section():
    """ImageDataGenerator.apply_transform on a fixed non-square image, one parameter at a time
    and all together, with the study's fill_mode 'nearest'."""
    # Values without a pattern, so that a move along either axis shows (NumPy's legacy
    # generator draws the same numbers in every version).
    image = np.random.RandomState(7).uniform(size=(7, 9, 2)).astype(np.float32)
    generator = ImageDataGenerator(fill_mode="nearest")
    draws = [
        {"theta": 15.0},
        {"theta": -40.0},
        {"tx": 1.5},
        {"ty": -2.25},
        {"shear": 20.0},
        {"zx": 0.8},
        {"zy": 1.25},
        {"flip_horizontal": True},
        {"theta": 12.0, "tx": -1.0, "ty": 0.75, "shear": -15.0, "zx": 1.1, "zy": 0.9,
         "flip_horizontal": True},
    ]
    cases = []
    for draw in draws:
        out = generator.apply_transform(image.astype(np.float64), dict(draw))
        cases.append({"parameters": draw, "output_hwc": tensor(out)})
    return {"image_hwc": tensor(image), "fill_mode": "nearest", "cases": cases}


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    tf.random.set_seed(0)
    golden = {
        "generator": f"tf-keras {keras.__version__} on TensorFlow {tf.__version__}, "
        f"NumPy {np.__version__}",
        "tiny": tiny_section(),
        "summaries": {
            "configs/study/mnist.toml": summary_text(study_mnist()),
            "configs/mnist.toml": summary_text(tuned_mnist()),
        },
        "augment": augment_section(),
    }
    if len(sys.argv) == 3:
        tiny_model().save_weights(sys.argv[2], save_format="h5")
    with open(sys.argv[1], "w") as out:
        json.dump(golden, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
