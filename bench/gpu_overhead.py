"""Training overhead of logging every step on a GPU: ResNet-18, 224 px, bf16, batch 128.

Blocks of steps alternate: no logging (A), Daybreak logging loss/grad-norm as CUDA tensors
plus the lr (B), and the naive `float(loss)` every step that most loggers need (C, context).
Prints the median time per step of each and the overheads relative to A.

    python bench/gpu_overhead.py [--pairs 8] [--steps 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("DAYBREAK_HOME", tempfile.mkdtemp(prefix="daybreak-gpu-bench-"))

    import torch
    import torchvision

    import daybreak

    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda")
    model = torchvision.models.resnet18(num_classes=1000).to(
        device, memory_format=torch.channels_last
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    images = torch.randn(args.batch, 3, 224, 224, device=device).to(
        memory_format=torch.channels_last
    )
    labels = torch.randint(0, 1000, (args.batch,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    run = daybreak.init(project="bench", name="gpu-overhead", system_metrics=True)
    step = 0

    def train_step() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = loss_fn(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return loss, grad_norm

    def block(mode: str) -> float:
        nonlocal step
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.steps):
            loss, grad_norm = train_step()
            if mode == "daybreak":
                run.log(
                    {"train/loss": loss.detach(), "train/grad_norm": grad_norm, "lr": 0.1},
                    step=step,
                )
            elif mode == "float":
                float(loss.detach())
            step += 1
        torch.cuda.synchronize()
        return (time.perf_counter() - start) / args.steps

    for _ in range(3):
        block("plain")
    times: dict[str, list[float]] = {"plain": [], "daybreak": [], "float": []}
    for i in range(args.pairs):
        order = ("plain", "daybreak", "float") if i % 2 == 0 else ("float", "daybreak", "plain")
        for mode in order:
            times[mode].append(block(mode))
    loss, grad_norm = train_step()
    torch.cuda.synchronize()
    call_times = []
    for i in range(2000):
        start = time.perf_counter()
        run.log(
            {"train/loss": loss.detach(), "train/grad_norm": grad_norm, "lr": 0.1}, step=step + i
        )
        call_times.append(time.perf_counter() - start)
    step += 2000
    run.finish()
    logged = len(daybreak.get_run(run.id).history("train/loss"))
    base = statistics.median(times["plain"])
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    print(
        f"ResNet-18 224px bf16 batch {args.batch}: {args.pairs} interleaved blocks of {args.steps} steps"
    )
    print("| variant | median ms/step | overhead vs no logging |")
    print("|---|---|---|")
    for mode, label in (
        ("plain", "no logging"),
        ("daybreak", "daybreak run.log every step (CUDA tensors)"),
        ("float", "float(loss) every step"),
    ):
        median = statistics.median(times[mode])
        print(f"| {label} | {median * 1000:.2f} | {100 * (median / base - 1):+.2f}% |")
    print(
        f"caller cost of one run.log with 2 CUDA scalars + 1 float: median {statistics.median(call_times) * 1e6:.1f} µs"
    )
    print(
        f"points logged and read back for train/loss: {logged} (expected {args.pairs * args.steps + 2000})"
    )


if __name__ == "__main__":
    main()
