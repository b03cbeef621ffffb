"""Validates Accord's OpenLineage export with OpenLineage's own Python client
(openlineage-python, pinned by .ci/run): every event is rebuilt from the client's classes,
which are generated from the specification (OpenLineage.json and the facets' schemas).
An unknown or missing field fails the class's constructor, a malformed eventTime its
validator; then the client's serialisation of the rebuilt event, schema URLs included,
must equal what Accord sent.

usage: python validate.py FILE   (FILE: one JSON event per line, or a JSON array)
prints: ok N events (D datasets, J jobs)
"""

import json
import sys

from openlineage.client.generated import base
from openlineage.client.generated import (
    documentation_dataset,
    job_type_job,
    ownership_dataset,
    ownership_job,
    schema_dataset,
    tags_dataset,
)
from openlineage.client.serde import Serde


def facet_args(d):
    """A facet's own fields, and its producer (the client's `producer` init argument)."""
    args = {k: v for k, v in d.items() if k not in ("_producer", "_schemaURL")}
    return args, d["_producer"]


def schema_fields(fields):
    return [
        schema_dataset.SchemaDatasetFacetFields(
            **{k: v for k, v in f.items() if k != "fields"},
            fields=schema_fields(f.get("fields", [])),
        )
        for f in fields
    ]


def dataset_facet(name, d):
    args, producer = facet_args(d)
    if name == "schema":
        return schema_dataset.SchemaDatasetFacet(fields=schema_fields(args.pop("fields")), producer=producer, **args)
    if name == "tags":
        tags = [tags_dataset.TagsDatasetFacetFields(**t) for t in args.pop("tags")]
        return tags_dataset.TagsDatasetFacet(tags=tags, producer=producer, **args)
    if name == "ownership":
        owners = [ownership_dataset.Owner(**o) for o in args.pop("owners")]
        return ownership_dataset.OwnershipDatasetFacet(owners=owners, producer=producer, **args)
    if name == "documentation":
        return documentation_dataset.DocumentationDatasetFacet(producer=producer, **args)
    raise ValueError(f"unknown dataset facet {name!r}")


def job_facet(name, d):
    args, producer = facet_args(d)
    if name == "jobType":
        return job_type_job.JobTypeJobFacet(producer=producer, **args)
    if name == "ownership":
        owners = [ownership_job.Owner(**o) for o in args.pop("owners")]
        return ownership_job.OwnershipJobFacet(owners=owners, producer=producer, **args)
    raise ValueError(f"unknown job facet {name!r}")


def rebuild(e):
    kind = e["schemaURL"].rsplit("/", 1)[-1]
    common = {"eventTime": e["eventTime"], "producer": e["producer"]}
    extra = set(e) - {"eventTime", "producer", "schemaURL", "dataset", "job", "inputs", "outputs"}
    if extra:
        raise ValueError(f"unknown event fields {sorted(extra)}")
    if kind == "DatasetEvent":
        d = e["dataset"]
        facets = {k: dataset_facet(k, v) for k, v in d.get("facets", {}).items()}
        ds = base.StaticDataset(namespace=d["namespace"], name=d["name"], facets=facets)
        return kind, base.DatasetEvent(dataset=ds, **common)
    if kind == "JobEvent":
        j = e["job"]
        facets = {k: job_facet(k, v) for k, v in j.get("facets", {}).items()}
        job = base.Job(namespace=j["namespace"], name=j["name"], facets=facets)
        inputs = [base.InputDataset(**i) for i in e.get("inputs", [])]
        outputs = [base.OutputDataset(**o) for o in e.get("outputs", [])]
        return kind, base.JobEvent(job=job, inputs=inputs, outputs=outputs, **common)
    raise ValueError(f"unexpected event type {e['schemaURL']}")


def pruned(v):
    """Drops empty objects and lists (the client serialises unset facets as {})."""
    if isinstance(v, dict):
        out = {k: pruned(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in ({}, [], None)}
    if isinstance(v, list):
        return [pruned(x) for x in v]
    return v


def main():
    text = open(sys.argv[1]).read().strip()
    events = json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines()]
    counts = {"DatasetEvent": 0, "JobEvent": 0}
    for e in events:
        kind, rebuilt = rebuild(e)
        again = pruned(Serde.to_dict(rebuilt))
        if again != pruned(e):
            raise SystemExit(
                "the client's event differs from Accord's:\n"
                + json.dumps(again, sort_keys=True)
                + "\n"
                + json.dumps(pruned(e), sort_keys=True)
            )
        counts[kind] += 1
    print(f"ok {len(events)} events ({counts['DatasetEvent']} datasets, {counts['JobEvent']} jobs)")


if __name__ == "__main__":
    main()
