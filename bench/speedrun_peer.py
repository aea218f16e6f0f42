#!/usr/bin/python3
"""configs/cifar10-speedrun.toml's recipe written in PyTorch for Python: the peer of cnnlab's
time-to-accuracy benchmark (bench/speedrun.py runs it).

What a careful PyTorch user writes for the same training, step for step, with the same numbers:
the CIFAR-10 binaries read into memory as uint8, per-channel normalisation by the training set's
statistics, a 2x2 first convolution whose fixed kernel whitens the patches of the first 5,000
training images (its bias trained for 3 epochs), three blocks of Dirac-initialised 3x3
convolutions, max pooling, batch norm without scale (momentum 0.6 in Keras' form, PyTorch's 0.4)
and GELU, logits scaled by 1/9; SGD with Nesterov momentum, batch-norm learning rates x64, weight
decay independent of the rate, label smoothing 0.2, a linear one-cycle schedule, Lookahead every 5
steps; random translation by up to 2 pixels with the border mirrored (Keras' "reflect"), a flip
per image that alternates every epoch; bfloat16 through torch.autocast, channels-last memory; the
test set scored with flip and translate test-time augmentation. The whole process is what the
benchmark times, as it times the whole `cnnlab train` command.

  speedrun_peer.py --data-dir DIR [--seed S] [--epochs E] [--precision bf16|fp32]
                   [--train-limit N] [--threads T] [--time-steps N [--profile FILE]]

Prints progress on stderr and one JSON object last on stdout: the test accuracy, the seconds
from start to the end of training and to the end of the test, and each epoch's wall time. With
--time-steps N it only times N steps on random images (after the data and the whitening, as in a
run) and prints their median.
"""
import argparse
import gzip
import json
import os
import sys
import time

START = time.monotonic()

import torch  # noqa: E402  (imported after the clock starts: the import is part of the run)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

WIDTHS = (64, 256, 256)
BATCH = 1024
LR = 1.5  # per image-mean loss
MOMENTUM = 0.85
WEIGHT_DECAY = 0.0019958  # removed from every weight each step, whatever the rate
NORM_LR_MULTIPLIER = 64.0
LABEL_SMOOTHING = 0.2
PCT_START, START_RATIO, FINAL_RATIO = 0.23, 0.2, 0.07
LOOKAHEAD_EVERY, LOOKAHEAD_DECAY = 5, 0.95**5
WHITEN_BIAS_EPOCHS = 3
TRANSLATE = 2
EVAL_BATCH = 2000


def read_cifar10(folder):
    """(train images, train labels, test images, test labels): uint8 [N, 3, 32, 32] and int64,
    from the binary files, raw or gzipped."""
    def read_file(name):
        path = os.path.join(folder, name)
        if not os.path.exists(path) and os.path.exists(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()

    def read(names):
        raw = b"".join(read_file(n) for n in names)
        rows = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, 3073)
        return rows[:, 1:].reshape(-1, 3, 32, 32).clone(), rows[:, 0].long()

    train = read([f"data_batch_{i}.bin" for i in range(1, 6)])
    test = read(["test_batch.bin"])
    return train + test


def whitening_kernel(images, filters, eps=5e-4):
    """The 2x2 kernel that whitens the patches of `images`: the patch covariance's eigenvectors,
    largest eigenvalue first, each scaled by 1/sqrt(eigenvalue + eps), and their negatives."""
    c = images.size(1)
    patches = images.double().unfold(2, 2, 1).unfold(3, 2, 1)  # [N, C, H', W', 2, 2]
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * 4)
    covariance = patches.T @ patches / patches.size(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    rows = (eigenvectors.T.flip(0) * (eigenvalues.flip(0) + eps).rsqrt().unsqueeze(1))
    rows = torch.cat([rows, -rows]) if filters == 2 * rows.size(0) else rows
    return rows.reshape(filters, c, 2, 2).float()


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(cout, eps=1e-12, momentum=0.4, affine=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(cout, eps=1e-12, momentum=0.4, affine=True)
        for conv in (self.conv1, self.conv2):
            nn.init.dirac_(conv.weight.data[:conv.in_channels])
        for norm in (self.norm1, self.norm2):  # no learned scale: the weight stays 1
            norm.weight.requires_grad_(False)

    def forward(self, x):
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.blocks = nn.Sequential(Block(24, WIDTHS[0]), Block(WIDTHS[0], WIDTHS[1]),
                                    Block(WIDTHS[1], WIDTHS[2]))
        self.output = nn.Linear(WIDTHS[2], 10, bias=False)

    def forward(self, x):
        x = self.blocks(F.gelu(self.whiten(x)))
        return self.output(F.max_pool2d(x, 3).flatten(1) / 9)


def mirror_pad(x, pad):
    """Pads the last two dimensions by `pad`, mirroring the border pixels too (Keras' reflect)."""
    x = torch.cat([x[..., :pad, :].flip(2), x, x[..., -pad:, :].flip(2)], 2)
    return torch.cat([x[..., :pad].flip(3), x, x[..., -pad:].flip(3)], 3)


def translate(x, generator):
    """Each image shifted by up to TRANSLATE pixels each way, the border mirrored."""
    n, _, h, w = x.shape
    padded = mirror_pad(x, TRANSLATE)
    dy = torch.randint(0, 2 * TRANSLATE + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * TRANSLATE + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(x.size(1))[None, :, None, None],
                  rows, cols]


def tta_logits(model, x):
    """Flip and translate test-time augmentation: the mirrored pair, and the pairs shifted one
    pixel up-left and down-right (torch's reflect border), weighted 1/2, 1/4, 1/4."""
    def mirrored(images):
        return 0.5 * (model(images).float() + model(images.flip(3)).float())

    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    h, w = x.shape[2:]
    up_left, down_right = padded[:, :, 2:h + 2, 2:w + 2], padded[:, :, :h, :w]
    return 0.5 * mirrored(x) + 0.25 * (mirrored(up_left) + mirrored(down_right))


def train_step(model, optimizer, autocast, x, y):
    """One step of SGD on the batch (x, y); returns the logits."""
    with autocast:
        logits = model(x)
    loss = F.cross_entropy(logits.float(), y, label_smoothing=LABEL_SMOOTHING)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return logits


def time_steps(model, optimizer, autocast, steps, profile=None):
    """The median wall time of `steps` training steps on one batch of random images, after two
    untimed ones: the step alone, without data or augmentation (cnnlab's train_bench measures
    the same). `profile`: a file for a Chrome trace of the timed steps."""
    x = torch.randn(BATCH, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (BATCH,))
    times = []
    for _ in range(2):
        train_step(model, optimizer, autocast, x, y)
    profiler = torch.autograd.profiler.profile() if profile else None
    if profiler:
        profiler.__enter__()
    for _ in range(steps):
        begin = time.monotonic()
        train_step(model, optimizer, autocast, x, y)
        times.append(time.monotonic() - begin)
    if profiler:
        profiler.__exit__(None, None, None)
        profiler.export_chrome_trace(profile)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="the folder holding cifar-10-batches-bin")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--train-limit", type=int, default=0, help="train on the first N images")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--time-steps", type=int, default=0, metavar="N",
                        help="only time N training steps on random images and print the median")
    parser.add_argument("--profile", metavar="FILE",
                        help="with --time-steps: write a Chrome trace of the timed steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    folder = os.path.join(args.data_dir, "cifar-10-batches-bin")
    if not os.path.isdir(folder):
        sys.exit(f"speedrun_peer: {folder}: no such folder (expected the CIFAR-10 binaries)")
    train_x, train_y, test_x, test_y = read_cifar10(folder)
    if args.train_limit:
        train_x, train_y = train_x[:args.train_limit], train_y[:args.train_limit]
    scaled = train_x.float() / 255
    mean = scaled.mean((0, 2, 3)).view(1, 3, 1, 1)
    std = scaled.std((0, 2, 3)).view(1, 3, 1, 1)
    del scaled

    def to_input(images):
        return ((images.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)

    model = Net().to(memory_format=torch.channels_last)
    with torch.no_grad():
        model.whiten.weight.copy_(whitening_kernel(to_input(train_x[:5000]), 24))
    norm_biases = [p for name, p in model.named_parameters() if "norm" in name and p.requires_grad]
    others = [p for name, p in model.named_parameters() if "norm" not in name and p.requires_grad]
    optimizer = torch.optim.SGD(
        [dict(params=others, lr=LR, weight_decay=WEIGHT_DECAY / LR, multiplier=1.0),
         dict(params=norm_biases, lr=LR * NORM_LR_MULTIPLIER,
              weight_decay=WEIGHT_DECAY / (LR * NORM_LR_MULTIPLIER),
              multiplier=NORM_LR_MULTIPLIER)],
        lr=LR, momentum=MOMENTUM, nesterov=True)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    if args.time_steps:
        seconds = time_steps(model, optimizer, autocast, args.time_steps, args.profile)
        print(json.dumps({"torch": torch.__version__, "precision": args.precision,
                          "threads": args.threads, "steps": args.time_steps,
                          "step_ms_median": 1000 * seconds}))
        return
    n = train_x.size(0)
    steps_per_epoch = (n + BATCH - 1) // BATCH
    total = steps_per_epoch * args.epochs
    rise = max(PCT_START * total, 1.0)

    def lr_ratio(step):
        """Up in a line from START_RATIO to 1 over PCT_START of training, down to FINAL_RATIO."""
        if step < rise:
            return START_RATIO + (1 - START_RATIO) * step / rise
        return 1 + (FINAL_RATIO - 1) * (step - rise) / max(total - rise, 1.0)

    averaged = [t for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()]
    slow = [t.detach().clone() for t in averaged]
    coins = torch.randint(0, 2, (n,), generator=generator).bool()
    step = 0
    epochs = []
    for epoch in range(args.epochs):
        epoch_start = time.monotonic()
        if epoch == WHITEN_BIAS_EPOCHS:
            model.whiten.bias.requires_grad_(False)
            model.whiten.bias.grad = None
        model.train()
        order = torch.randperm(n, generator=generator)
        correct = 0
        for begin in range(0, n, BATCH):
            index = order[begin:begin + BATCH]
            x = translate(to_input(train_x[index]), generator)
            flips = coins[index] ^ (epoch % 2 == 1)
            x = torch.where(flips.view(-1, 1, 1, 1), x.flip(3), x)
            x = x.contiguous(memory_format=torch.channels_last)
            y = train_y[index]
            for group in optimizer.param_groups:
                group["lr"] = LR * group["multiplier"] * lr_ratio(step)
            logits = train_step(model, optimizer, autocast, x, y)
            correct += (logits.argmax(1) == y).sum().item()
            step += 1
            with torch.no_grad():
                if step % LOOKAHEAD_EVERY == 0:
                    decay = LOOKAHEAD_DECAY * (step / total) ** 3
                    for s, t in zip(slow, averaged):
                        s.lerp_(t, 1 - decay)
                        t.copy_(s)
                elif step == total:
                    for s, t in zip(slow, averaged):
                        t.copy_(s)
        seconds = time.monotonic() - epoch_start
        epochs.append({"epoch": epoch + 1, "seconds": seconds, "accuracy": correct / n})
        print(f"epoch {epoch + 1}/{args.epochs}: {seconds:.1f} s, train accuracy {correct / n:.4f}",
              file=sys.stderr, flush=True)
    trained = time.monotonic() - START
    model.eval()
    correct = 0
    with torch.no_grad(), autocast:
        for begin in range(0, test_x.size(0), EVAL_BATCH):
            logits = tta_logits(model, to_input(test_x[begin:begin + EVAL_BATCH]))
            correct += (logits.argmax(1) == test_y[begin:begin + EVAL_BATCH]).sum().item()
    accuracy = correct / test_x.size(0)
    print(f"test accuracy {accuracy:.4f}", file=sys.stderr, flush=True)
    print(json.dumps({"torch": torch.__version__, "seed": args.seed, "epochs": epochs,
                      "precision": args.precision, "threads": args.threads,
                      "test_accuracy": accuracy, "train_end_seconds": trained,
                      "seconds": time.monotonic() - START}))


if __name__ == "__main__":
    main()
