#!/usr/bin/python3
"""Regenerate the results table in models/README.md from models/repository/*/metrics.json.

Usage: /usr/bin/python3 models/summarize.py [--check]

The table sits between the lines `<!-- results:begin -->` and `<!-- results:end -->`; everything
else in the README is left as it is. Models that have a train.py but no metrics.json (not built, or
skipped like cifar10_resnet without user data) get a row saying so. A `served_p50_ms` key in
metrics.json (or in models/repository/<name>/latency.json) fills the latency column.
--check exits 1 when the README is not up to date instead of writing it.
"""
import json
import os
import sys

MODELS = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(MODELS, "README.md")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


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


def main(argv):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text or text.index(BEGIN) > text.index(END):
        sys.exit("%s lacks the %s ... %s markers" % (README, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + "\n" + table() + "\n" + END + tail
    if "--check" in argv:
        if new != text:
            print("models/README.md results table is out of date: run /usr/bin/python3 models/summarize.py")
            return 1
        print("models/README.md results table is up to date")
        return 0
    if new != text:
        with open(README, "w", encoding="utf-8") as f:
            f.write(new)
        print("updated the results table in models/README.md")
    else:
        print("models/README.md already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
