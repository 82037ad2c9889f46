#!/usr/bin/python3
"""Regenerate models/README.md's generated parts: the results table from
models/repository/*/metrics.json, and one section per model from its config.pbtxt, model.json and
metrics.json (models/CONVENTIONS.md: "Description file"). models/build.py runs it after a build.

Usage: /usr/bin/python3 models/summarize.py [--check]

The table sits between the lines `<!-- results:begin -->` and `<!-- results:end -->`, the model
sections between `<!-- models:begin -->` and `<!-- models:end -->`; everything else in the README
is left as it is. Models that have a train.py but no metrics.json (not built, or skipped like
cifar10_resnet without user data) get a row saying so. A `served_p50_ms` key in metrics.json (or
in models/repository/<name>/latency.json) fills the latency column.
--check exits 1, instead of writing, when the README's parts that come from the sources (model
sections from config.pbtxt and model.json) are not up to date; the measured figures are not
compared, since they belong to whichever build made models/repository.
"""
import json
import os
import re
import sys

MODELS = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(MODELS, "README.md")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
MODELS_BEGIN, MODELS_END = "<!-- models:begin -->", "<!-- models:end -->"
TYPE_NAMES = {"TYPE_STRING": "BYTES"}  # config type -> wire datatype; others drop "TYPE_"


def fmt_num(v):
    if isinstance(v, float):
        return "%.4g" % v
    return str(v)


def fmt_int(v):
    return "{:,}".format(v) if isinstance(v, int) else (str(v) if v is not None else "")


def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def table():
    repo = os.path.join(MODELS, "repository")
    names = sorted(d for d in os.listdir(MODELS)
                   if os.path.isfile(os.path.join(MODELS, d, "train.py")))
    if os.path.isdir(repo):
        names = sorted(set(names) | {d for d in os.listdir(repo)
                                     if os.path.isfile(os.path.join(repo, d, "metrics.json"))})
    rows = ["| model | task | data (licence) | train / held-out | architecture | parameters "
            "| held-out metric | baseline | train time | served p50 (batch 1) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        p = os.path.join(repo, name, "metrics.json")
        if not os.path.isfile(p):
            rows.append("| `%s` | not built (no metrics.json) | | | | | | | | |" % name)
            continue
        with open(p, encoding="utf-8") as f:
            m = json.load(f)
        lat = m.get("served_p50_ms")
        lp = os.path.join(repo, name, "latency.json")
        if lat is None and os.path.isfile(lp):
            with open(lp, encoding="utf-8") as f:
                lat = json.load(f).get("served_p50_ms")
        metric = "%s %s" % (m.get("metric", ""), fmt_num(m.get("value", "")))
        if m.get("heldout_split"):
            metric += " (%s)" % m["heldout_split"]
        base = "%s %s" % (m.get("baseline", ""), fmt_num(m.get("baseline_value", "")))
        secs = m.get("train_seconds")
        ttime = ("%.0f s" % secs) if isinstance(secs, (int, float)) else ""
        rows.append("| " + " | ".join(cell(c) for c in [
            "`%s`" % name, m.get("task", ""),
            "%s (%s)" % (m.get("data_source", ""), m.get("licence", "")),
            "%s / %s" % (fmt_int(m.get("train_samples")), fmt_int(m.get("heldout_samples"))),
            m.get("architecture", ""), fmt_int(m.get("parameters")), metric, base, ttime,
            ("%.2f ms" % lat) if isinstance(lat, (int, float)) else "not measured yet",
        ]) + " |")
    return "\n".join(rows)


def parse_pbtxt(text):
    """Protobuf text format -> {field: [values]} (messages as nested dicts). Enough for Triton
    configs: fields, nested messages, repeated [ ... ] lists, strings, numbers and enum names."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"#]+|#[^\n]*', text)
    tokens = [t for t in tokens if not t.startswith("#")]
    pos = 0

    def value():
        nonlocal pos
        t = tokens[pos]
        pos += 1
        if t == "{":
            return message("}")
        if t.startswith('"'):
            return json.loads(t)
        try:
            return int(t)
        except ValueError:
            try:
                return float(t)
            except ValueError:
                return {"true": True, "false": False}.get(t, t)

    def message(close):
        nonlocal pos
        out = {}
        while pos < len(tokens) and tokens[pos] != close:
            name = tokens[pos]
            pos += 1
            if tokens[pos] == ":":
                pos += 1
            if tokens[pos] == "[":
                pos += 1
                while tokens[pos] != "]":
                    if tokens[pos] == ",":
                        pos += 1
                        continue
                    out.setdefault(name, []).append(value())
                pos += 1
            else:
                out.setdefault(name, []).append(value())
            if pos < len(tokens) and tokens[pos] == ",":
                pos += 1
        pos += 1
        return out

    return message(None)


def wire_type(config_type):
    return TYPE_NAMES.get(config_type, config_type.replace("TYPE_", ""))


def shape_text(dims, batching):
    return "[" + ", ".join((["-1"] if batching else []) + [str(d) for d in dims]) + "]"


def quality_line(name):
    p = os.path.join(MODELS, "repository", name, "metrics.json")
    if not os.path.isfile(p):
        return "not built here (no `models/repository/%s/metrics.json`)" % name
    with open(p, encoding="utf-8") as f:
        m = json.load(f)
    line = "%s **%s** on %s held-out samples vs %s %s" % (
        m.get("metric", ""), fmt_num(m.get("value", "")), fmt_int(m.get("heldout_samples")),
        m.get("baseline", "baseline"), fmt_num(m.get("baseline_value", "")))
    secs, cpu = m.get("train_seconds"), m.get("train_cpu_seconds")
    if isinstance(secs, (int, float)):
        line += "; trained in %.0f s wall" % secs
        if isinstance(cpu, (int, float)):
            line += " (%.0f CPU-s)" % cpu
    return line + " (`models/repository/%s/metrics.json`)" % name


def model_section(name):
    """One model's README section from config.pbtxt + model.json + metrics.json."""
    d = os.path.join(MODELS, name)
    with open(os.path.join(d, "config.pbtxt"), encoding="utf-8") as f:
        config = parse_pbtxt(f.read())
    with open(os.path.join(d, "model.json"), encoding="utf-8") as f:
        about = json.load(f)
    batching = config.get("max_batch_size", [0])[0] > 0
    params = about.get("parameters", {})
    out = ["### %s: %s" % (name, about["title"]), "", about["summary"], ""]
    out.append("Inputs (max_batch_size %d%s):" % (
        config.get("max_batch_size", [0])[0],
        ", dim 0 is the batch" if batching else ", no batch dim"))
    out.append("")
    out.append("| input | datatype | shape | required | meaning | default | range |")
    out.append("|---|---|---|---|---|---|---|")
    for t in config.get("input", []):
        n = t["name"][0]
        optional = t.get("optional", [False])[0]
        p = params.get(n, {})
        meaning = about["inputs"].get(n) or p.get("about", "")
        if optional and not p:
            raise SystemExit("models/%s/model.json: optional input '%s' is not in parameters"
                             % (name, n))
        if not meaning:
            raise SystemExit("models/%s/model.json does not describe input '%s'" % (name, n))
        out.append("| `%s` | %s | %s | %s | %s | %s | %s |" % (
            n, wire_type(t["data_type"][0]), shape_text(t["dims"], batching),
            "no (optional)" if optional else "yes", cell(meaning),
            cell(p.get("default", "")), cell(p.get("range", ""))))
    out += ["", "Outputs:", "", "| output | datatype | shape | labels | meaning |",
            "|---|---|---|---|---|"]
    for t in config.get("output", []):
        n = t["name"][0]
        if n not in about["outputs"]:
            raise SystemExit("models/%s/model.json does not describe output '%s'" % (name, n))
        labels = t.get("label_filename", [""])[0]
        out.append("| `%s` | %s | %s | %s | %s |" % (
            n, wire_type(t["data_type"][0]), shape_text(t["dims"], batching),
            ("`%s` (`--classes K`)" % labels) if labels else "", cell(about["outputs"][n])))
    out.append("")
    refused = about.get("refused", [])
    out.append("Refused inputs: " + ("; ".join(refused) if refused else
                                     "none beyond the config's datatype and shape checks") + ".")
    out.append("")
    out.append("Measured (this build): " + quality_line(name) + ".")
    out.append("")
    for para in about.get("details", []):
        out += [para, ""]
    if about.get("examples"):
        out.append("Examples (from the repository root, against `make run`):")
        out.append("")
        for ex in about["examples"]:
            out += ["- " + ex["about"] + ":", "  ```sh", "  " + ex["command"],
                    "  # exit %d" % ex["exit"]]
            out += ["  # output contains: " + e for e in ex["expect"]]
            out.append("  ```")
        out.append("")
    return "\n".join(out)


def sections():
    names = sorted(n for n in os.listdir(MODELS)
                   if os.path.isfile(os.path.join(MODELS, n, "train.py")))
    missing = [n for n in names if not os.path.isfile(os.path.join(MODELS, n, "model.json"))]
    if missing:
        raise SystemExit("models without model.json: " + ", ".join(missing))
    return "\n".join(model_section(n) for n in names)


def replace_between(text, begin, end, body):
    if begin not in text or end not in text or text.index(begin) > text.index(end):
        sys.exit("%s lacks the %s ... %s markers" % (README, begin, end))
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + body + "\n" + end + tail


def build_independent(text):
    """`text` without the parts that come from metrics.json (the results table, the "Measured
    (this build)" lines)."""
    text = replace_between(text, BEGIN, END, "")
    return re.sub(r"^Measured \(this build\): .*$", "Measured (this build): ...", text,
                  flags=re.M)


def main(argv):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    new = replace_between(text, BEGIN, END, table())
    new = replace_between(new, MODELS_BEGIN, MODELS_END, sections())
    if "--check" in argv:
        # Only what the sources (config.pbtxt, model.json, this script) decide: the measured
        # figures belong to whichever build made models/repository, and a zoo copied from
        # another checkout must not fail the check.
        if build_independent(new) != build_independent(text):
            print("models/README.md is out of date: run /usr/bin/python3 models/summarize.py")
            return 1
        print("models/README.md is up to date")
        return 0
    if new != text:
        with open(README, "w", encoding="utf-8") as f:
            f.write(new)
        print("updated the generated parts of models/README.md")
    else:
        print("models/README.md already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
