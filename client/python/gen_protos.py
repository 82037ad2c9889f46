#!/usr/bin/python3
"""Generates the gridserve Python client's gRPC stubs from the repository's proto/ folder.

Usage: gen_protos.py PROTO_DIR OUT_DIR

Writes OUT_DIR/_proto/<package path>/<name>_pb2.py and _pb2_grpc.py for every .proto under
PROTO_DIR, using Debian's `protoc` and `grpc_python_plugin` (packages protobuf-compiler and
protobuf-compiler-grpc; python3-grpc-tools is not needed). protoc writes absolute imports named
after the proto path (`from inference import model_config_pb2`); they are rewritten to
`from gridserve._proto.inference import ...` so the stubs live inside the package and never claim
the top-level module names `inference` or `gridserve.v1`. Called by CMake (build tree) and by
setup.py (pip install); both produce the same files.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def find_protos(proto_dir):
    protos = []
    for root, _, files in os.walk(proto_dir):
        for name in files:
            if name.endswith(".proto"):
                protos.append(os.path.relpath(os.path.join(root, name), proto_dir))
    return sorted(protos)


def rewrite_imports(path, packages):
    with open(path) as f:
        text = f.read()
    for package in packages:
        text = re.sub(r"^from %s import " % re.escape(package),
                      "from gridserve._proto.%s import " % package, text, flags=re.M)
    with open(path, "w") as f:
        f.write(text)


def generate(proto_dir, out_dir):
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        raise SystemExit("gen_protos: protoc and grpc_python_plugin are needed "
                         "(Debian: protobuf-compiler protobuf-compiler-grpc)")
    protos = find_protos(proto_dir)
    if not protos:
        raise SystemExit("gen_protos: no .proto files under %s" % proto_dir)
    target = os.path.join(out_dir, "_proto")
    # Generate into a fresh folder and swap it in, so a failed run leaves no half-written stubs.
    staging = tempfile.mkdtemp(prefix="_proto.", dir=out_dir)
    try:
        subprocess.run([protoc, "-I", proto_dir, "--python_out", staging, "--grpc_out", staging,
                        "--plugin=protoc-gen-grpc=" + plugin] + protos, check=True)
        packages = sorted({os.path.dirname(p).replace(os.sep, ".") for p in protos} - {""})
        for root, dirs, files in os.walk(staging):
            dirs.sort()
            open(os.path.join(root, "__init__.py"), "a").close()
            for name in files:
                if name.endswith(".py"):
                    rewrite_imports(os.path.join(root, name), packages)
        # Dot-separated protobuf packages need every intermediate folder to be a package.
        for package in packages:
            path = staging
            for part in package.split("."):
                path = os.path.join(path, part)
                os.makedirs(path, exist_ok=True)
                open(os.path.join(path, "__init__.py"), "a").close()
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    generate(sys.argv[1], sys.argv[2])
