#!/usr/bin/env python3
"""Seed the fuzz corpora from the shared test data (benches/fuzz.sh seed).

usage: seed.py SHARED REPO_ROOT CORPUS_DIR
Writes one file per input, named by its SHA-1 as libFuzzer names its own.
"""
import glob
import hashlib
import json
import os
import sys

MAX_LEN = {"json_reader": 4096, "definition": 4096, "config": 4096}
DEFAULT_MAX_LEN = 512


def write(corpus, target, text):
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(data) > MAX_LEN.get(target, DEFAULT_MAX_LEN):
        return 0
    path = os.path.join(corpus, target, hashlib.sha1(data).hexdigest())
    if os.path.exists(path):
        return 0
    with open(path, "wb") as f:
        f.write(data)
    return 1


def strings(value):
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)


def jsonl(path):
    with open(path) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def main():
    shared, root, corpus = sys.argv[1:4]
    counts = {}

    def add(target, text):
        counts[target] = counts.get(target, 0) + write(corpus, target, text)

    definitions = []
    for name in ("conformance/cases.jsonl", "conformance/validation_cases.jsonl", "realworld/definitions.jsonl"):
        for case in jsonl(os.path.join(shared, name)):
            if "definition_text" in case:
                add("definition", case["definition_text"])
            if "definition" in case:
                definitions.append(case["definition"])
                add("definition", json.dumps(case["definition"]))
                add("definition", json.dumps(case["definition"], separators=(",", ":")))
            if "input" in case:
                add("json_reader", json.dumps(case["input"]))
    for d in definitions:
        add("json_reader", json.dumps(d, indent=1))
        for s in strings(d):
            if s.startswith("States."):
                add("intrinsics", s)
            elif s.startswith("$"):
                add("jsonpath", s)
            elif s.startswith("{%") and s.endswith("%}"):
                add("jsonata", s[2:-2].strip())
    for group in glob.glob(os.path.join(shared, "jsonata-suite/groups/*/*.json")):
        with open(group) as f:
            cases = json.load(f)
        for case in cases if isinstance(cases, list) else [cases]:
            if isinstance(case, dict) and isinstance(case.get("expr"), str):
                add("jsonata", case["expr"])
    for dataset in glob.glob(os.path.join(shared, "jsonata-suite/datasets/*.json")):
        with open(dataset, "rb") as f:
            add("json_reader", f.read())
    for yaml in glob.glob(os.path.join(root, "config/examples/*.yaml")) + glob.glob(
        os.path.join(root, "deploy/**/*.yaml"), recursive=True
    ):
        with open(yaml, "rb") as f:
            add("config", f.read())
    for target, n in sorted(counts.items()):
        print(f"{target}: {n} new seeds")


if __name__ == "__main__":
    main()
