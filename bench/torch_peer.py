#!/usr/bin/python3
"""The PyTorch peer of cnnlab's training benchmark.

What a user would write in Python for the same model: an nn.Module with the same layers (built
from the model description `train_bench --describe` prints, so both sides train the same network),
the same optimizer, batch and threads, channels-last memory, bfloat16 through torch.autocast, and
images already in memory as uint8 tensors, converted per batch as cnnlab does.

  torch_peer.py --model model.json --batch 64 --precision fp32 --seconds 3   throughput (JSON)
  torch_peer.py --model model.json --batch 64 --device cuda                on a GPU (JSON)
  torch_peer.py --model model.json --parity parity.pt                      loss check (JSON)

On a GPU the peer is what a careful PyTorch user writes: images on the GPU as uint8, cuDNN
autotuning on, PyTorch's default optimizer implementation there (multi-tensor), bfloat16 through
torch.autocast("cuda"), and the loss read back every 50 steps rather than after each.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """cnnlab's Network in PyTorch: same layer names (so state_dict keys match), Keras' batch-norm
    momentum and epsilon, "same" padding as TensorFlow pads, logits out of the last layer."""

    def __init__(self, description):
        super().__init__()
        self.layers = description["layers"]
        channels = description["input"][0]
        features = None
        for layer in self.layers:
            kind, name = layer["type"], layer["name"]
            pad = layer["pad"]
            layer["symmetric"] = pad[0] == pad[1] and pad[2] == pad[3]
            # Convolutions pad symmetric borders themselves; pools always pad explicitly.
            layer["needs_pad"] = (not layer["symmetric"] if kind == "conv2d" else
                                  kind in ("maxpool", "avgpool") and any(pad))
            module = None
            if kind == "conv2d":
                padding = (pad[2], pad[0]) if layer["symmetric"] else 0
                module = nn.Conv2d(channels, layer["output"][0], tuple(layer["kernel"]),
                                   stride=tuple(layer["stride"]), padding=padding,
                                   bias=layer["use_bias"])
            elif kind == "maxpool":
                module = nn.MaxPool2d(tuple(layer["kernel"]), stride=tuple(layer["stride"]))
            elif kind == "avgpool":
                module = nn.AvgPool2d(tuple(layer["kernel"]), stride=tuple(layer["stride"]))
            elif kind == "batchnorm":
                if features is None:
                    module = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)
                else:
                    module = nn.BatchNorm1d(features, eps=1e-3, momentum=0.01)
            elif kind == "dropout":
                module = nn.Dropout(layer["rate"])
            elif kind == "dense":
                module = nn.Linear(features, layer["output"][0], bias=layer["use_bias"])
            elif kind != "flatten":
                raise ValueError(f"unknown layer type {kind}")
            if module is not None:
                self.add_module(name, module)
            if len(layer["output"]) == 3:
                channels = layer["output"][0]
            else:
                features = layer["output"][0]

    def forward(self, x):
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            kind = layer["type"]
            if layer["needs_pad"]:
                value = float("-inf") if kind == "maxpool" else 0.0
                x = F.pad(x, layer["pad"], value=value)
            x = x.flatten(1) if kind == "flatten" else getattr(self, layer["name"])(x)
            x = activate(x, layer["activation"], i == last)
        return x

    def l2_penalty(self):
        total = 0.0  # no extra kernels for a model without l2 terms
        for layer in self.layers:
            if layer["l2"] > 0 and layer["type"] in ("conv2d", "dense"):
                total = total + layer["l2"] * getattr(self, layer["name"]).weight.pow(2).sum()
        return total


def activate(x, activation, is_output):
    if activation == "relu":
        return torch.relu(x)
    if activation == "leaky_relu":
        return F.leaky_relu(x, 0.3)
    if activation == "elu":
        return F.elu(x)
    if activation == "gelu":
        return F.gelu(x)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    if activation == "tanh":
        return torch.tanh(x)
    if activation == "softmax" and not is_output:
        return torch.softmax(x, 1)
    return x


def make_optimizer(options, parameters):
    kind = options["kind"]
    if kind == "adam":
        return torch.optim.Adam(parameters, lr=options["lr"],
                                betas=(options["beta1"], options["beta2"]), eps=options["eps"],
                                weight_decay=options["weight_decay"])
    if kind == "adamw":
        return torch.optim.AdamW(parameters, lr=options["lr"],
                                 betas=(options["beta1"], options["beta2"]), eps=options["eps"],
                                 weight_decay=options["weight_decay"])
    return torch.optim.SGD(parameters, lr=options["lr"], momentum=options["momentum"],
                           nesterov=options["nesterov"], weight_decay=options["weight_decay"])


def throughput(description, batch, precision, seconds, warmup, channels_last, profile=None):
    torch.manual_seed(0)
    model = Net(description)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = make_optimizer(description["optimizer"], model.parameters())
    n = batch * 256
    images = torch.randint(0, 256, (n, *description["input"]), dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,))
    smoothing = description["label_smoothing"]
    model.train()
    marks = []
    step = 0
    profiler = None
    if profile:
        profiler = torch.autograd.profiler.profile()
        profiler.__enter__()
    while True:
        begin = (step * batch) % n
        x = images[begin:begin + batch].float().div_(255).contiguous(memory_format=memory_format)
        y = labels[begin:begin + batch]
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing) + model.l2_penalty()
        loss.backward()
        optimizer.step()
        loss.item()
        marks.append(time.perf_counter())
        step += 1
        if len(marks) > warmup and marks[-1] - marks[warmup] >= seconds:
            break
    if profiler:
        profiler.__exit__(None, None, None)
        profiler.export_chrome_trace(profile)
    steps = len(marks) - warmup - 1
    step_seconds = sorted(b - a for a, b in zip(marks[warmup:], marks[warmup + 1:]))
    elapsed = marks[-1] - marks[warmup]
    images_per_s = steps * batch / elapsed
    return {"tool": "pytorch", "batch": batch, "precision": precision,
            "threads": torch.get_num_threads(), "steps": steps, "images_per_s": images_per_s,
            "step_ms_median": 1000 * step_seconds[len(step_seconds) // 2],
            "channels_last": channels_last, "torch": torch.__version__}


def gpu_throughput(description, batch, precision, seconds, warmup, device):
    """Images per second on a GPU: `warmup` steps, then timed steps until `seconds` have passed,
    timed between two waits for the GPU (steps are asynchronous: per-step clocks mean nothing)."""
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    memory_format = torch.channels_last
    model = Net(description).to(device=device, memory_format=memory_format)
    optimizer = make_optimizer(description["optimizer"], model.parameters())
    n = batch * 256
    images = torch.randint(0, 256, (n, *description["input"]), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 10, (n,), device=device)
    smoothing = description["label_smoothing"]
    model.train()
    read_every = 50

    def step(i, running):
        begin = (i * batch) % n
        x = images[begin:begin + batch].float().div_(255).contiguous(memory_format=memory_format)
        y = labels[begin:begin + batch]
        optimizer.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing) + model.l2_penalty()
        loss.backward()
        optimizer.step()
        return running + loss.detach()

    running = torch.zeros((), device=device)
    for i in range(warmup):
        running = step(i, running)
    running.item()
    start = time.perf_counter()
    steps = 0
    while True:
        running = step(warmup + steps, running)
        steps += 1
        if steps % read_every == 0:
            running.item()  # waits for the GPU
            if time.perf_counter() - start >= seconds:
                break
    elapsed = time.perf_counter() - start
    return {"tool": "pytorch", "batch": batch, "precision": precision, "device": device,
            "gpu": torch.cuda.get_device_name(), "steps": steps,
            "images_per_s": steps * batch / elapsed, "step_ms_median": 1000 * elapsed / steps,
            "channels_last": True, "torch": torch.__version__}


def parity(description, path):
    """Losses of the same weights on the same batch, before and after one optimizer step, as
    cnnlab computed them (train_bench --parity). Dropout is off on both sides."""
    # A file train_bench wrote a moment ago, in the format of LibTorch's torch::pickle_save:
    # trusted, and unreadable by torch.load's weights-only mode (the default since PyTorch 2.6).
    saved = torch.load(path, weights_only=False)
    torch.manual_seed(0)
    model = Net(description)
    state = {key: value for key, value in saved.items() if key not in ("input", "labels")}
    model.load_state_dict(state)
    model = model.to(memory_format=torch.channels_last)
    x, y = saved["input"].contiguous(memory_format=torch.channels_last), saved["labels"]
    optimizer = make_optimizer(description["optimizer"], model.parameters())
    smoothing = description["label_smoothing"]

    def loss_of(train):
        model.train(train)
        return F.cross_entropy(model(x), y, label_smoothing=smoothing) + model.l2_penalty()

    losses = {}
    with torch.no_grad():
        losses["eval_before"] = loss_of(False).item()
    optimizer.zero_grad()
    loss = loss_of(True)
    losses["train_before"] = loss.item()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        losses["train_after"] = loss_of(True).item()
        losses["eval_after"] = loss_of(False).item()
    return {"tool": "pytorch", "losses": losses}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model description (JSON)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads (0: PyTorch's own default)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--profile", help="write a Chrome trace of the steps to this file")
    parser.add_argument("--parity", help="check the losses of a train_bench --parity file")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for a GPU")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with open(args.model) as f:
        description = json.load(f)
    if args.parity:
        result = parity(description, args.parity)
    elif args.device != "cpu":
        result = gpu_throughput(description, args.batch, args.precision, args.seconds,
                                max(args.warmup, 20), args.device)
    else:
        result = throughput(description, args.batch, args.precision, args.seconds, args.warmup,
                            not args.no_channels_last, args.profile)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
