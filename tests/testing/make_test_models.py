#!/usr/bin/python3
"""Builds the small TorchScript model repository the integration and e2e tests serve.

Usage: /usr/bin/python3 tests/testing/make_test_models.py OUT_DIR

Each model is tiny and deterministic so tests can compute the exact expected answer.
"""
import os
import sys
from typing import Dict, List, Optional, Tuple

import torch


class AddSub(torch.nn.Module):
    """Two inputs, two outputs, Triton's INPUT__N / OUTPUT__N names."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return a + b, a - b


class StrLen(torch.nn.Module):
    """BYTES in -> INT64 out: byte length of each string."""

    def forward(self, text: List[str]) -> torch.Tensor:
        lengths: List[int] = []
        for s in text:
            lengths.append(len(s))
        return torch.tensor(lengths, dtype=torch.int64).reshape(-1, 1)


class Echo(torch.nn.Module):
    """BYTES in -> BYTES out: each string with "!" appended."""

    def forward(self, text: List[str]) -> List[str]:
        out: List[str] = []
        for s in text:
            out.append(s + "!")
        return out


class DictOut(torch.nn.Module):
    """Inputs by name (x, then optional scale), Dict[str, Tensor] outputs."""

    def forward(self, x: torch.Tensor, scale: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        factor = torch.full_like(x[:, :1], 2.0)
        if scale is not None:
            factor = scale
        return {"scaled": x * factor, "total": x.sum(dim=1, keepdim=True)}


class Scores(torch.nn.Module):
    """Classification: scores = x (FP32) and counts = x as INT32, returned unchanged."""

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return x, x.to(torch.int32)


class Checked(torch.nn.Module):
    """Input contract (models/CONVENTIONS.md): y = 2x; x < 0 raises ValueError (the input is bad:
    INVALID_ARGUMENT), x == 13 raises RuntimeError (a model fault: INTERNAL)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in range(x.shape[0]):
            v = float(x[b, 0])
            if v < 0.0:
                raise ValueError("x must be >= 0, got {}".format(v))
            if v == 13.0:
                raise RuntimeError("unlucky")
        return x * 2.0


class Identity9(torch.nn.Module):
    """One input and output per numeric type, returned unchanged."""

    def forward(self, b: torch.Tensor, u8: torch.Tensor, i8: torch.Tensor, i16: torch.Tensor,
                i32: torch.Tensor, i64: torch.Tensor, f16: torch.Tensor, f32: torch.Tensor,
                f64: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                            torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                            torch.Tensor]:
        return b, u8, i8, i16, i32, i64, f16, f32, f64


class NoBatchScale(torch.nn.Module):
    """max_batch_size 0 model: variable-length vector times 3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 3.0


class Spin(torch.nn.Module):
    """Busy for x[0] rounds of a tiny matmul (a million take about a second): keeps an instance
    occupied so that tests can queue requests behind it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.full([64, 64], 1.0 / 64)
        y = torch.ones(1, 64)
        for _ in range(int(x[0].item())):
            y = y @ w
        return x + y.sum() - 64.0


class Linear4(torch.nn.Module):
    """4 x Linear(1024, 1024): the batching benchmark's linear-heavy model."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layers = torch.nn.Sequential(*[torch.nn.Linear(1024, 1024) for _ in range(4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def write(repo: str, name: str, module: torch.nn.Module, config: str, version: int = 1) -> None:
    vdir = os.path.join(repo, name, str(version))
    os.makedirs(vdir, exist_ok=True)
    torch.jit.script(module).save(os.path.join(vdir, "model.pt"))
    with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
        f.write(config)


def main() -> None:
    repo = sys.argv[1]
    os.makedirs(repo, exist_ok=True)
    write(repo, "add_sub", AddSub(), """
name: "add_sub"
platform: "pytorch_libtorch"
max_batch_size: 8
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 4 ] },
        { name: "INPUT__1" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 4 ] },
         { name: "OUTPUT__1" data_type: TYPE_FP32 dims: [ 4 ] } ]
instance_group [ { count: 2 kind: KIND_CPU } ]
""")
    # Version 2 of add_sub is the same model; the policy serves both.
    write(repo, "strlen", StrLen(), """
name: "strlen"
backend: "pytorch"
max_batch_size: 8
input [ { name: "text" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "length" data_type: TYPE_INT64 dims: [ 1 ] } ]
""")
    write(repo, "echo", Echo(), """
name: "echo"
platform: "pytorch_libtorch"
max_batch_size: 4
input [ { name: "text" data_type: TYPE_STRING dims: [ -1 ] } ]
output [ { name: "echoed" data_type: TYPE_STRING dims: [ -1 ] } ]
""")
    write(repo, "dict_out", DictOut(), """
name: "dict_out"
platform: "pytorch_libtorch"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] },
        { name: "scale" data_type: TYPE_FP32 dims: [ 1 ] optional: true } ]
output [ { name: "total" data_type: TYPE_FP32 dims: [ 1 ] },
         { name: "scaled" data_type: TYPE_FP32 dims: [ 3 ] } ]
""")
    write(repo, "classify", Scores(), """
name: "classify"
platform: "pytorch_libtorch"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "scores" data_type: TYPE_FP32 dims: [ 4 ] label_filename: "labels.txt" },
         { name: "counts" data_type: TYPE_INT32 dims: [ 4 ] } ]
""")
    # Three labels for four classes: index 3 answers without a label.
    with open(os.path.join(repo, "classify", "labels.txt"), "w") as f:
        f.write("zero\none\ntwo\n")
    write(repo, "checked", Checked(), """
name: "checked"
platform: "pytorch_libtorch"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
dynamic_batching { max_queue_delay_microseconds: 50000 }
""")
    types = ["BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"]
    ins = ",\n".join('{ name: "INPUT__%d" data_type: TYPE_%s dims: [ 2 ] }' % (i, t)
                     for i, t in enumerate(types))
    outs = ",\n".join('{ name: "OUTPUT__%d" data_type: TYPE_%s dims: [ 2 ] }' % (i, t)
                      for i, t in enumerate(types))
    write(repo, "identity_types", Identity9(), """
name: "identity_types"
platform: "pytorch_libtorch"
max_batch_size: 4
input [ %s ]
output [ %s ]
""" % (ins, outs))
    write(repo, "nobatch", NoBatchScale(), """
name: "nobatch"
platform: "pytorch_libtorch"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]
version_policy { all { } }
""")
    write(repo, "nobatch", NoBatchScale(), open(os.path.join(repo, "nobatch", "config.pbtxt")).read(),
          version=2)
    write(repo, "linear4", Linear4(), """
name: "linear4"
platform: "pytorch_libtorch"
max_batch_size: 64
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1024 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1024 ] } ]
""")
    write(repo, "spin", Spin(), """
name: "spin"
platform: "pytorch_libtorch"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
""")
    # A model whose TorchScript file is corrupt: must be UNAVAILABLE with a reason.
    os.makedirs(os.path.join(repo, "corrupt", "1"), exist_ok=True)
    with open(os.path.join(repo, "corrupt", "1", "model.pt"), "wb") as f:
        f.write(b"this is not a TorchScript archive")
    with open(os.path.join(repo, "corrupt", "config.pbtxt"), "w") as f:
        f.write('name: "corrupt"\nplatform: "pytorch_libtorch"\nmax_batch_size: 1\n'
                'input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
                'output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]\n')
    # A model whose config is invalid: unknown data type.
    os.makedirs(os.path.join(repo, "bad_config", "1"), exist_ok=True)
    with open(os.path.join(repo, "bad_config", "config.pbtxt"), "w") as f:
        f.write('name: "bad_config"\nplatform: "pytorch_libtorch"\n'
                'input [ { name: "x" data_type: TYPE_FLOAT99 dims: [ 1 ] } ]\n'
                'output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]\n')


if __name__ == "__main__":
    main()
