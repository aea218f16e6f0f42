"""The study's CIFAR-10 model in Keras 2 itself: configs/study/cifar10.toml (and, with --l2,
cifar10-l2.toml) as the Keras user of the study writes it, to compare cnnlab's curve with Keras'.

Six 3x3 "same" convolutions (32, 32, 64, 64, 128, 128) with a max pool after each pair, Flatten,
Dense 128, the 10-way softmax; Adam at Keras' defaults, batch 64, the study's ImageDataGenerator
augmentation, validation on the test set; float32. --l2 F puts keras.regularizers.l2(F) on every
kernel (Keras' own default factor is 0.01). The data are read from the CIFAR-10 binaries cnnlab
reads (no download). Prints each epoch as Keras does, then one JSON line: each epoch's test
accuracy and seconds.

  keras_study_cifar10.py DATA_DIR [--epochs N] [--l2 F] [--seed S]

Run it in the Keras environment (scripts/keras-venv.sh prints its python).
"""
import argparse
import gzip
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras import layers  # noqa: E402
from tf_keras.preprocessing.image import ImageDataGenerator  # noqa: E402


def read_cifar10(folder):
    """(x_train, y_train, x_test, y_test): float32 NHWC images in [0, 1] and one-hot labels."""
    def read(names):
        raw = b""
        for name in names:
            path = os.path.join(folder, name)
            opener = open if os.path.exists(path) else gzip.open
            with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
                raw += f.read()
        rows = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
        images = rows[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images.astype("float32") / 255.0, keras.utils.to_categorical(rows[:, 0], 10)

    return read([f"data_batch_{i}.bin" for i in range(1, 6)]) + read(["test_batch.bin"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", help="the folder holding cifar-10-batches-bin")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--l2", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_test, y_test = read_cifar10(
        os.path.join(args.data_dir, "cifar-10-batches-bin"))
    regularizer = keras.regularizers.l2(args.l2) if args.l2 > 0 else None
    model = keras.Sequential([keras.Input(shape=(32, 32, 3))])
    for i, filters in enumerate((32, 32, 64, 64, 128, 128)):
        model.add(layers.Conv2D(filters, (3, 3), padding="same", activation="relu",
                                kernel_regularizer=regularizer))
        if i % 2 == 1:
            model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(128, activation="relu", kernel_regularizer=regularizer))
    model.add(layers.Dense(10, activation="softmax", kernel_regularizer=regularizer))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    datagen = ImageDataGenerator(rotation_range=15, width_shift_range=0.1,
                                 height_shift_range=0.1, shear_range=0.2, zoom_range=0.2,
                                 horizontal_flip=True, fill_mode="nearest")
    epochs = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epochs.append({"epoch": epoch + 1, "seconds": time.perf_counter() - self.start,
                           "accuracy": logs["accuracy"], "val_accuracy": logs["val_accuracy"]})

    model.fit(datagen.flow(x_train, y_train, batch_size=64, seed=args.seed), epochs=args.epochs,
              validation_data=(x_test, y_test), callbacks=[Record()], verbose=2)
    print(json.dumps({"peer": f"tf-keras {keras.__version__}", "l2": args.l2,
                      "params": model.count_params(), "epochs": epochs}))


if __name__ == "__main__":
    main()
