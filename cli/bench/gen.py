#!/usr/bin/env python3
"""Generates the inputs of cli/bench/offline.sh.

  gen.py avro DIR   two 1,000-field Avro schemas: old.avsc, new_ok.avsc (compatible:
                    10 new fields with defaults, 50 ints promoted to long) and
                    new_bad.avsc (three breaks: a type change, a new field without a
                    default, a removed enum symbol).
  gen.py repo DIR   a git repository of 200 schema files (Avro, Protobuf, JSON Schema)
                    mapped by accord.yaml, committed; a second commit changing all 200
                    compatibly; then 10 files changed compatibly and 2 incompatibly in
                    the working tree (so --base HEAD checks 12, --base HEAD~1 all 200).
"""
import json
import os
import subprocess
import sys


def avro_record(name, n, extra=(), promote=0, bad=False):
    fields = []
    for i in range(n):
        t = "int" if i % 4 == 0 else "string" if i % 4 == 1 else "double" if i % 4 == 2 else {
            "type": "enum", "name": f"E{i}", "symbols": ["A", "B", "C"]}
        if t == "int" and i < promote * 4:
            t = "long"
        f = {"name": f"field_{i}", "type": t, "doc": f"Field {i}."}
        fields.append(f)
    if bad:
        fields[1]["type"] = "int"                      # string -> int
        fields[3]["type"]["symbols"] = ["A", "B"]      # enum symbol removed
        fields.append({"name": "no_default", "type": "string"})
    fields.extend(extra)
    return {"type": "record", "name": name, "namespace": "bench", "doc": "Bench.", "fields": fields}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def gen_avro(out):
    extra = [{"name": f"added_{i}", "type": "string", "default": "", "doc": "Added."} for i in range(10)]
    write(f"{out}/old.avsc", json.dumps(avro_record("Big", 1000), indent=2))
    write(f"{out}/new_ok.avsc", json.dumps(avro_record("Big", 1000, extra, promote=50), indent=2))
    write(f"{out}/new_bad.avsc", json.dumps(avro_record("Big", 1000, bad=True), indent=2))


def proto(name, n, bad=False, extra=0):
    lines = ['syntax = "proto3";', f"package bench.{name.lower()};", "", f"message {name} {{"]
    for i in range(n):
        t = "string" if (bad and i == 1) else ("int64" if i % 2 else "string")
        lines.append(f"  {t} field_{i} = {i + 1};")
    for i in range(extra):
        lines.append(f"  string added_{i} = {n + i + 1};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def jsonschema(n, bad=False, extra=0):
    props = {f"field_{i}": {"type": "integer" if i % 2 else "string"} for i in range(n)}
    if bad:
        props["field_1"] = {"type": "integer", "maximum": 10}
    for i in range(extra):
        # A documented property: compatible (adding a property to an open content
        # model is not, in Confluent's rules).
        props[f"field_{i}"]["description"] = "Documented."
    return json.dumps({"type": "object", "properties": props}, indent=2)


def gen_repo(out):
    os.makedirs(out, exist_ok=True)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c",
           "commit.gpgsign=false", "-C", out]
    subprocess.run(git + ["init", "-q"], check=True)
    manifest = ["compatibility: BACKWARD", "schemas:"]
    files = []
    for i in range(200):
        kind = i % 4
        if kind in (0, 1):
            path = f"schemas/avro/s{i}.avsc"
            write(f"{out}/{path}", json.dumps(avro_record(f"S{i}", 30), indent=2))
        elif kind == 2:
            path = f"schemas/proto/s{i}.proto"
            write(f"{out}/{path}", proto(f"S{i}", 30))
        else:
            path = f"schemas/json/s{i}.json"
            write(f"{out}/{path}", jsonschema(30))
        files.append((i, kind, path))
        manifest += [f"  - file: {path}", f"    subject: s{i}-value"]
    write(f"{out}/accord.yaml", "\n".join(manifest) + "\n")
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "schemas"], check=True)
    # A second commit changes all 200 compatibly (diff --base HEAD~1 checks every file).
    for i, kind, path in files:
        with open(f"{out}/{path}") as f:
            text = f.read()
        if kind == 2:
            write(f"{out}/{path}", text + "// v2\n")
        else:
            doc = json.loads(text)
            doc["doc" if kind in (0, 1) else "description"] = "Bench, documented."
            write(f"{out}/{path}", json.dumps(doc, indent=2))
    subprocess.run(git + ["commit", "-qam", "touch every schema"], check=True)
    # 10 compatible changes, 2 incompatible ones.
    for i, kind, path in files[:10]:
        if kind in (0, 1):
            extra = [{"name": "added", "type": "string", "default": "", "doc": "Added."}]
            write(f"{out}/{path}", json.dumps(avro_record(f"S{i}", 30, extra), indent=2))
        elif kind == 2:
            write(f"{out}/{path}", proto(f"S{i}", 30, extra=1))
        else:
            write(f"{out}/{path}", jsonschema(30, extra=1))
    write(f"{out}/{files[100][2]}", json.dumps(avro_record("S100", 30, bad=True), indent=2))
    write(f"{out}/{files[102][2]}", proto("S102", 30, bad=True))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("avro", "repo"):
        sys.exit(__doc__)
    {"avro": gen_avro, "repo": gen_repo}[sys.argv[1]](sys.argv[2])
