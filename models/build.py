#!/usr/bin/python3
"""Model zoo driver (`make models`).

Usage: /usr/bin/python3 models/build.py [--force] [--list] [names...]

For every models/<name>/train.py (or only the names given) it
  1. installs the model's missing Debian packages (models/<name>/debian-packages, via apt-get) and
     npm packages (models/<name>/npm-packages, `name@version` per line, into models/.cache/npm),
  2. runs `/usr/bin/python3 models/<name>/train.py --out models/repository/<name>
     --eval models/eval/<name> --cache models/.cache/<name>` from the repo root, streaming its output,
  3. records a stamp (models/.cache/<name>/.build-stamp) holding a hash of the model folder, the
     versions of its packages and the values of the environment variables it lists in
     models/<name>/build-env (optional; one variable name per line, e.g. CIFAR10_DIR; a variable
     naming a folder also hashes that folder's file names, sizes and mtimes).
A model whose stamp matches and whose outputs are still present is skipped without starting
train.py. Exits non-zero when any model fails (the others are still built).
Training runs on the OpenBLAS kernels gridserve itself would choose on this CPU: before the first
train.py starts, the `gridserve-blas` tool (runtime/cpu, built by `make models`; path in
$GRIDSERVE_BLAS_TOOL, default build/runtime/cpu/gridserve-blas) makes the server's start-up
decision and its OPENBLAS_CORETYPE, if any, is exported to every train.py (docs/model-configuration.md,
"CPU kernels"). Without the tool, OpenBLAS's own choice is used and the log says so.
This script imports nothing heavy (no torch) so that a fully cached run takes milliseconds.
"""
import hashlib
import json
import os
import subprocess
import sys
import time

MODELS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(MODELS)
CACHE = os.path.join(MODELS, ".cache")
NPM_PREFIX = os.path.join(CACHE, "npm")
PYTHON = "/usr/bin/python3"
STAMP_VERSION = 1
BLAS_TOOL = os.environ.get("GRIDSERVE_BLAS_TOOL",
                           os.path.join(ROOT, "build", "runtime", "cpu", "gridserve-blas"))
_blas_env = None


def log(msg):
    print(msg, flush=True)


def read_list(path):
    """Lines of an optional list file, without comments and blanks."""
    if not os.path.isfile(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def discover():
    names = []
    for entry in sorted(os.listdir(MODELS)):
        if entry.startswith(".") or entry in ("repository", "eval"):
            continue
        if os.path.isfile(os.path.join(MODELS, entry, "train.py")):
            names.append(entry)
    return names


# ---------------------------------------------------------------- packages
def dpkg_versions(pkgs):
    """{pkg: installed version or None}."""
    if not pkgs:
        return {}
    res = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Status}\t${Version}\n"] + pkgs,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found = {}
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] == "installed":
            found[parts[0].split(":")[0]] = parts[2]
    return {p: found.get(p) for p in pkgs}


def apt_install(pkgs):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends",
           "-o", "DPkg::Lock::Timeout=600"] + pkgs
    if os.geteuid() != 0:
        cmd = ["sudo", "-n"] + cmd
    log("  apt-get install " + " ".join(pkgs))
    if subprocess.run(cmd, env=env).returncode == 0:
        return True
    # A fresh machine may have no (or stale) package lists: update once and retry.
    log("  apt-get install failed; running apt-get update and retrying")
    upd = ["apt-get", "update", "-o", "DPkg::Lock::Timeout=600"]
    if os.geteuid() != 0:
        upd = ["sudo", "-n"] + upd
    subprocess.run(upd, env=env)
    return subprocess.run(cmd, env=env).returncode == 0


def ensure_debian(pkgs):
    versions = dpkg_versions(pkgs)
    missing = [p for p, v in versions.items() if v is None]
    if missing:
        if not apt_install(missing):
            raise RuntimeError("could not install Debian packages: " + " ".join(missing))
        versions = dpkg_versions(pkgs)
        still = [p for p, v in versions.items() if v is None]
        if still:
            raise RuntimeError("Debian packages still missing: " + " ".join(still))
    return versions


def split_npm_spec(spec):
    # "name@1.2.3" or "@scope/name@1.2.3" or "name"
    at = spec.rfind("@")
    if at > 0:
        return spec[:at], spec[at + 1:]
    return spec, None


def npm_installed_version(name):
    pj = os.path.join(NPM_PREFIX, "node_modules", name, "package.json")
    try:
        with open(pj, encoding="utf-8") as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def ensure_npm(specs):
    versions = {}
    missing = []
    for spec in specs:
        name, want = split_npm_spec(spec)
        have = npm_installed_version(name)
        if have is None or (want and have != want):
            missing.append(spec)
        versions[name] = have
    if missing:
        os.makedirs(NPM_PREFIX, exist_ok=True)
        log("  npm install " + " ".join(missing) + " (into models/.cache/npm)")
        cmd = ["npm", "install", "--prefix", NPM_PREFIX, "--no-save", "--no-audit", "--no-fund",
               "--no-package-lock", "--ignore-scripts"] + missing
        if subprocess.run(cmd).returncode != 0:
            raise RuntimeError("npm install failed: " + " ".join(missing))
        for spec in specs:
            name, want = split_npm_spec(spec)
            versions[name] = npm_installed_version(name)
            if versions[name] is None or (want and versions[name] != want):
                raise RuntimeError("npm package not installed as asked: " + spec)
    return versions


# ---------------------------------------------------------------- caching
def hash_model_dir(d, h):
    for dirpath, dirnames, filenames in os.walk(d):
        dirnames[:] = sorted(x for x in dirnames if x not in ("__pycache__",) and not x.startswith("."))
        for fn in sorted(filenames):
            if fn.endswith((".pyc", "~")) or fn.startswith("."):
                continue
            p = os.path.join(dirpath, fn)
            h.update(os.path.relpath(p, d).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())


def hash_env(name, h):
    for var in read_list(os.path.join(MODELS, name, "build-env")):
        val = os.environ.get(var, "")
        h.update(("env %s=%s\0" % (var, val)).encode())
        if val and os.path.isdir(val):
            for dirpath, dirnames, filenames in os.walk(val):
                dirnames.sort()
                for fn in sorted(filenames):
                    st = os.stat(os.path.join(dirpath, fn))
                    h.update(("%s %d %d\0" % (os.path.relpath(os.path.join(dirpath, fn), val),
                                              st.st_size, int(st.st_mtime))).encode())


def model_key(name, pkg_versions):
    h = hashlib.sha256()
    h.update(b"stamp v%d\0" % STAMP_VERSION)
    with open(os.path.abspath(__file__), "rb") as f:  # the CLI contract lives here
        h.update(hashlib.sha256(f.read()).digest())
    hash_model_dir(os.path.join(MODELS, name), h)
    h.update(json.dumps(pkg_versions, sort_keys=True).encode())
    hash_env(name, h)
    return h.hexdigest()


def out_dirs(name):
    return (os.path.join(MODELS, "repository", name), os.path.join(MODELS, "eval", name),
            os.path.join(CACHE, name))


def outputs_state(name):
    """What the model left behind; compared against the stamp to detect deleted outputs."""
    out, ev, _ = out_dirs(name)
    files = [os.path.join(out, "config.pbtxt"), os.path.join(out, "metrics.json"),
             os.path.join(out, "1", "model.pt"), os.path.join(ev, "spec.json")]
    state = {}
    for p in files:
        try:
            st = os.stat(p)
            state[os.path.relpath(p, MODELS)] = [st.st_size, int(st.st_mtime)]
        except OSError:
            state[os.path.relpath(p, MODELS)] = None
    return state


def stamp_path(name):
    return os.path.join(out_dirs(name)[2], ".build-stamp")


def load_stamp(name):
    try:
        with open(stamp_path(name), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- build
def blas_environment():
    """{OPENBLAS_CORETYPE: core} when gridserve's kernel selection picks one for this CPU, else {}.

    One implementation of the decision: the same code the server runs at start-up
    (runtime/cpu/blas_kernels.h), through its gridserve-blas tool. Asked once per run."""
    global _blas_env
    if _blas_env is not None:
        return _blas_env
    _blas_env = {}
    if not os.access(BLAS_TOOL, os.X_OK):
        log("BLAS kernels: %s is not built; training uses OpenBLAS's own choice" % BLAS_TOOL)
        return _blas_env
    try:
        res = subprocess.run([BLAS_TOOL, "--format=env"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        log("BLAS kernels: %s failed (%s); training uses OpenBLAS's own choice" % (BLAS_TOOL, e))
        return _blas_env
    for line in res.stderr.splitlines():
        log(line)
    if res.returncode != 0:
        log("BLAS kernels: WARNING: %s exited %d (self-test failed?)" % (BLAS_TOOL, res.returncode))
    for line in res.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "OPENBLAS_CORETYPE" and value:
            _blas_env[key] = value
    return _blas_env


def build_one(name, force):
    mdir = os.path.join(MODELS, name)
    debs = read_list(os.path.join(mdir, "debian-packages"))
    npms = read_list(os.path.join(mdir, "npm-packages"))
    # Checking is cheap (one dpkg-query, a few small reads); installing only when missing.
    pkg_versions = {"debian": ensure_debian(debs), "npm": ensure_npm(npms)}
    key = model_key(name, pkg_versions)
    stamp = load_stamp(name)
    state = outputs_state(name)
    if not force and stamp and stamp.get("key") == key and stamp.get("outputs") == state:
        what = "produced no outputs (see its last run)" if not any(state.values()) else "outputs present"
        return "cached", what
    out, ev, cache = out_dirs(name)
    os.makedirs(cache, exist_ok=True)
    try:
        os.remove(stamp_path(name))
    except OSError:
        pass
    cmd = [PYTHON, os.path.join("models", name, "train.py"),
           "--out", os.path.join("models", "repository", name),
           "--eval", os.path.join("models", "eval", name),
           "--cache", os.path.join("models", ".cache", name)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", NODE_PATH=os.path.join(NPM_PREFIX, "node_modules"),
               ZOO_NPM_PREFIX=NPM_PREFIX)
    env.setdefault("OMP_NUM_THREADS", "2")
    env.update(blas_environment())
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    for line in proc.stdout:
        sys.stdout.write("  %s | %s" % (name, line if line.endswith("\n") else line + "\n"))
        sys.stdout.flush()
    rc = proc.wait()
    if rc != 0:
        return "FAILED", "train.py exited with %d" % rc
    state = outputs_state(name)
    present = [k for k, v in state.items() if v is not None]
    if present and len(present) != len(state):
        missing = [k for k, v in state.items() if v is None]
        return "FAILED", "train.py left incomplete outputs, missing: " + ", ".join(missing)
    with open(stamp_path(name), "w", encoding="utf-8") as f:
        json.dump({"key": key, "outputs": state, "built_at": time.time()}, f)
    return "built", "outputs present" if present else "no outputs (skipped by train.py)"


def main(argv):
    force = False
    names = []
    for a in argv:
        if a in ("-f", "--force"):
            force = True
        elif a == "--list":
            print("\n".join(discover()))
            return 0
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif a.startswith("-"):
            print("unknown option %s" % a, file=sys.stderr)
            return 2
        else:
            names.append(a.rstrip("/").split("/")[-1])
    available = discover()
    if names:
        unknown = [n for n in names if n not in available]
        if unknown:
            print("unknown model(s): %s (have: %s)" % (", ".join(unknown), ", ".join(available)),
                  file=sys.stderr)
            return 2
    else:
        names = available
    t_all = time.time()
    results = []
    for i, name in enumerate(names, 1):
        log("[%d/%d] %s" % (i, len(names), name))
        t0 = time.time()
        try:
            status, detail = build_one(name, force)
        except Exception as e:  # package installation problems and the like
            status, detail = "FAILED", str(e)
        dt = time.time() - t0
        results.append((name, status, detail, dt))
        log("[%d/%d] %s: %s in %.1fs (%s)" % (i, len(names), name, status, dt, detail))
    total = time.time() - t_all
    log("")
    log("model zoo summary:")
    for name, status, detail, dt in results:
        log("  %-24s %-7s %7.1fs  %s" % (name, status, dt, detail))
    failed = [r[0] for r in results if r[1] == "FAILED"]
    log("total %.1fs; %d model(s), %d failed" % (total, len(results), len(failed)))
    if failed:
        log("FAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
