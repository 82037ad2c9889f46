#!/usr/bin/python3
"""Builds the model repository scripts/bench.sh serves.

Usage: /usr/bin/python3 tests/bench/make_bench_repo.py OUT_DIR

One TorchScript file of tests/testing/make_test_models.py's Linear4 (4 x Linear(1024, 1024), FP32,
seeded weights) is served under names that differ only in scheduling (all max_batch_size 64):
  linear4_plain     2 CPU instances, no dynamic_batching: each request executes alone
  linear4_dyn       2 CPU instances, dynamic_batching { max_queue_delay_microseconds: 1000 }
  linear4_q64       linear4_dyn plus default_queue_policy { max_queue_size: 64 } (overload test)
  linear4_plain_1i  the default instance group (1 instance, all cores as intra-op threads)
  linear4_dyn_1i    the same with dynamic_batching { max_queue_delay_microseconds: 1000 }
plus add_sub (two FP32[4] inputs, a + b and a - b), the trivial model of the overhead test.
Two instances on a 2-core machine get one intra-op thread each (cores / instances): one LibTorch
call per core. On shared, oversubscribed cores one call spread over 2 intra-op threads can run
5-10x slower at large batches (its threads wait on each other while descheduled; the in-process
benchmark shows the same), so the main figures use 2 x 1; the _1i pair shows the default.
"""
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testing"))
from make_test_models import AddSub, Linear4  # noqa: E402

LINEAR4_CONFIG = """name: "{name}"
platform: "pytorch_libtorch"
max_batch_size: 64
input [ {{ name: "x" data_type: TYPE_FP32 dims: [ 1024 ] }} ]
output [ {{ name: "y" data_type: TYPE_FP32 dims: [ 1024 ] }} ]
{extra}"""

TWO_INSTANCES = "instance_group [ { count: 2 kind: KIND_CPU } ]\n"
DYNAMIC = "dynamic_batching { max_queue_delay_microseconds: 1000 }\n"
VARIANTS = {
    "linear4_plain": TWO_INSTANCES,
    "linear4_dyn": TWO_INSTANCES + DYNAMIC,
    "linear4_q64": TWO_INSTANCES + ("dynamic_batching {\n  max_queue_delay_microseconds: 1000\n"
                                    "  default_queue_policy { max_queue_size: 64 }\n}\n"),
    # The default instance group: one instance with every core as intra-op threads.
    "linear4_plain_1i": "",
    "linear4_dyn_1i": DYNAMIC,
}

ADD_SUB_CONFIG = """name: "add_sub"
platform: "pytorch_libtorch"
max_batch_size: 8
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 4 ] },
        { name: "INPUT__1" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 4 ] },
         { name: "OUTPUT__1" data_type: TYPE_FP32 dims: [ 4 ] } ]
"""


def write_model(repo: str, name: str, model_file: str, config: str) -> None:
    os.makedirs(os.path.join(repo, name, "1"), exist_ok=True)
    shutil.copyfile(model_file, os.path.join(repo, name, "1", "model.pt"))
    with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
        f.write(config)


def main() -> None:
    repo = sys.argv[1]
    os.makedirs(repo, exist_ok=True)
    linear4 = os.path.join(repo, "linear4.pt")  # outside any model folder: not served
    torch.jit.script(Linear4()).save(linear4)
    for name, extra in VARIANTS.items():
        write_model(repo, name, linear4, LINEAR4_CONFIG.format(name=name, extra=extra))
    add_sub = os.path.join(repo, "add_sub.pt")
    torch.jit.script(AddSub()).save(add_sub)
    write_model(repo, "add_sub", add_sub, ADD_SUB_CONFIG)


if __name__ == "__main__":
    main()
