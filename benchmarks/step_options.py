"""What else could lower the cost of one training step on a CPU: HSC's CIFAR-10 LeNet step
(batch 128 nominal + 128 OE, Adam) timed alone on tensors in memory, in fp32 and bf16, with the
options a CPU without bf16 has left: memory format, a fused or for-each Adam, `torch.compile`.

    python benchmarks/step_options.py [--threads 2] [--steps 30] [--json]

The step is the same as `throughput.py`'s compute limit (deepad's Detector uses channels-last,
the default Adam and eager mode); the data do not matter for the cost of a step, so they are
random. Each variant is timed twice in alternation; the best is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deepad import methods  # noqa: E402
from cli_latency import cpu_model  # noqa: E402 - a sibling script

BATCH = 128


def make_step(variant: dict, precision: str):
    torch.manual_seed(0)
    method = methods.get("hsc")
    model = method.build((3, 32, 32))
    fmt = torch.channels_last if variant["channels_last"] else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(2 * BATCH, 3, 32, 32).contiguous(memory_format=fmt)
    y = torch.cat([torch.zeros(BATCH), torch.ones(BATCH)])
    kw = {"fused": True} if variant["adam"] == "fused" else {"foreach": variant["adam"] == "foreach"}
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-7, **kw)
    loss_fn = (lambda m, a, b: method.loss(m, a, b))
    if variant["compile"]:
        loss_fn = torch.compile(loss_fn, dynamic=False)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=(precision == "bf16"))
    model.train()

    def step():
        with autocast:
            loss = loss_fn(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def time_step(step, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * 2 * BATCH / (time.perf_counter() - t0)


VARIANTS = {
    "deepad (channels-last, Adam, eager)": dict(channels_last=True, adam="default", compile=False),
    "contiguous memory": dict(channels_last=False, adam="default", compile=False),
    "fused Adam": dict(channels_last=True, adam="fused", compile=False),
    "for-each Adam": dict(channels_last=True, adam="foreach", compile=False),
    "torch.compile (inductor)": dict(channels_last=True, adam="default", compile=True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--variants", default="",
                    help="only the variants whose names start with these (comma-separated, e.g. "
                         "'deepad' for deepad's own step in each precision); default all")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    wanted = [w.strip().lower() for w in a.variants.split(",") if w.strip()]
    variants = {n: v for n, v in VARIANTS.items()
                if not wanted or any(n.lower().startswith(w) for w in wanted)}
    if not variants:
        ap.error(f"no variant starts with {a.variants!r}; the variants: {', '.join(VARIANTS)}")
    torch.set_num_threads(a.threads)
    from deepad.device import resolve_precision
    from deepad.machine import speed_flags
    out = {"cpu": cpu_model(), "speed_flags": speed_flags(), "threads": a.threads,
           "torch": torch.__version__, "auto_precision": resolve_precision("auto", torch.device("cpu"))}
    for precision in a.precisions.split(","):
        res = {}
        for name, v in variants.items():
            try:
                t_compile = time.perf_counter()
                step = make_step(v, precision)
                first = time_step(step, 1, 2)  # warm-up, compiles where asked
                t_compile = time.perf_counter() - t_compile
                runs = [time_step(step, a.steps, 2) for _ in range(2)]
                res[name] = {"img_per_s": max(runs), "runs": runs, "setup_s": t_compile}
                del first
            except Exception as e:  # noqa: BLE001 - an option this torch or CPU lacks
                res[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}
            r = res[name]
            print(f"{precision:5s} {name:38s} " + (f"{r['img_per_s']:7.0f} img/s (setup "
                  f"{r['setup_s']:.1f} s)" if "img_per_s" in r else r["error"]), file=sys.stderr)
        out[precision] = res
    base = next(iter(variants))
    if all("img_per_s" in out.get(p, {}).get(base, {}) for p in ("fp32", "bf16")):
        out["bf16_over_fp32"] = out["bf16"][base]["img_per_s"] / out["fp32"][base]["img_per_s"]
        print(f"{base}: bf16 / fp32 = {out['bf16_over_fp32']:.2f} (precision auto takes "
              f"{out['auto_precision']} here; CPU flags: {' '.join(out['speed_flags'])})",
              file=sys.stderr)
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
