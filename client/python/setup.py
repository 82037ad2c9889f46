"""pip install client/python: the gridserve package with stubs generated from ../../proto.

Needs protoc and grpc_python_plugin (Debian: protobuf-compiler protobuf-compiler-grpc) at install
time, and grpcio, protobuf and numpy at run time (Debian: python3-grpcio python3-protobuf
python3-numpy). On Debian, install into a venv that sees those packages:
    /usr/bin/python3 -m venv --system-site-packages .venv && .venv/bin/pip install client/python
"""
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithStubs(build_py):
    """build_py, then the generated gRPC stubs into the built package."""

    def run(self):
        super().run()
        sys.path.insert(0, HERE)
        import gen_protos
        proto_dir = os.environ.get("GRIDSERVE_PROTO_DIR", os.path.join(HERE, "..", "..", "proto"))
        gen_protos.generate(proto_dir, os.path.join(self.build_lib, "gridserve"))


setup(
    name="gridserve",
    version="0.1.0",
    description="Python client for gridserve and KServe v2 / Triton gRPC inference servers",
    packages=["gridserve"],
    python_requires=">=3.9",
    install_requires=["grpcio>=1.51", "protobuf>=3.21", "numpy>=1.21"],
    cmdclass={"build_py": BuildWithStubs},
)
