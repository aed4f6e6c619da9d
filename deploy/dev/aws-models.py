#!/usr/bin/env python3
"""Minimise the AWS service models that botocore ships into the bundle the
`aws-sdk:*` Task integration reads (connectors/aws-sdk/models/).

Keeps only what the wire needs: the metadata that picks protocol, endpoint,
signing and target; each operation's HTTP method, URI, input, output and
errors; each shape's type, members and their locations, names, flattening,
namespaces, timestamp formats and JSON-value markers. Documentation,
examples, validation limits and enum lists are dropped.

Output: one compact JSON document per service, each deflated on its own
(zlib, level 9) so a process inflates only the services its machines call:
a little-endian u32 index length, the index (`<arn-name>\t<offset>\t<length>`
lines, offsets from the end of the index), then the documents.
`--services a,b` keeps only those (by ARN service name).

  python3 deploy/dev/aws-models.py --botocore <site-packages>/botocore \
      --out connectors/aws-sdk/models/services.zlib
"""
import argparse, gzip, json, os, re, sys, zlib

PROTOCOLS = ["json", "rest-json", "rest-xml", "query", "ec2"]
META = ["protocol", "serviceId", "endpointPrefix", "signingName", "targetPrefix",
        "jsonVersion", "apiVersion", "globalEndpoint", "signatureVersion"]
MEMBER_KEYS = ["shape", "location", "locationName", "flattened", "xmlNamespace",
               "xmlAttribute", "jsonvalue", "timestampFormat", "hostLabel",
               "queryName", "streaming", "idempotencyToken", "eventpayload"]
SHAPE_KEYS = ["type", "payload", "flattened", "timestampFormat", "streaming",
              "exception", "xmlNamespace", "locationName", "jsonvalue", "document",
              "union", "eventstream", "event", "sensitive_never"]


def java_service_name(service_id):
    """The AWS SDK for Java v2 client name, which Step Functions uses for
    the ARN (lower-cased) and the error prefix (as is)."""
    name = pascal_words(service_id)
    for lead in ("Amazon", "Aws"):
        if name.startswith(lead):
            name = name[len(lead):]
    if name.endswith("Service"):
        name = name[: -len("Service")]
    return name


def pascal_words(word):
    s = re.sub(r"[^A-Za-z0-9]+", " ", word)
    s = re.sub(r"([^a-z]{2,})v([0-9]+)", r"\1 v\2 ", s)
    s = re.sub(r"([^A-Z]{2,})V([0-9]+)", r"\1 V\2 ", s)
    s = " ".join(re.split(r"(?<=[a-z])(?=[A-Z](?:[a-zA-Z]|[0-9]))", s))
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", s)
    s = re.sub(r"([0-9])([a-zA-Z])", r"\1 \2", s)
    words = re.sub(r" +", " ", s).strip().split(" ")
    return "".join(w.lower()[:1].upper() + w.lower()[1:] for w in words)


def java_exception_name(shape):
    """The SDK for Java v2 exception class of an error shape: `Fault`
    becomes `Exception`, and `Exception` is added where missing."""
    if shape.endswith("Fault"):
        return pascal_words(shape[: -len("Fault")]) + "Exception"
    if shape.endswith("Exception"):
        return pascal_words(shape)
    return pascal_words(shape) + "Exception"


def load(path):
    with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as f:
        return json.load(f)


def latest_model(service_dir):
    for version in sorted(os.listdir(service_dir), reverse=True):
        for name in ("service-2.json.gz", "service-2.json"):
            p = os.path.join(service_dir, version, name)
            if os.path.exists(p):
                return p
    return None


def pick(d, keys):
    return {k: d[k] for k in keys if k in d and d[k] not in (None, False)}


def minimise(model):
    meta = model["metadata"]
    protocols = meta.get("protocols") or [meta["protocol"]]
    protocol = next((p for p in PROTOCOLS if p in protocols), None)
    if protocol is None:
        return None
    m = pick(meta, META)
    m["protocol"] = protocol
    m["sdkName"] = java_service_name(meta["serviceId"])
    if "awsQueryCompatible" in meta:
        m["awsQueryCompatible"] = True
    ops = {}
    for name, op in model["operations"].items():
        o = {"http": pick(op.get("http", {}), ["method", "requestUri", "responseCode"])}
        if "input" in op:
            o["input"] = op["input"]["shape"]
        if "output" in op:
            o["output"] = op["output"]["shape"]
            if "resultWrapper" in op["output"]:
                o["resultWrapper"] = op["output"]["resultWrapper"]
        if op.get("errors"):
            o["errors"] = [e["shape"] for e in op["errors"]]
        if "endpoint" in op:
            o["hostPrefix"] = op["endpoint"].get("hostPrefix")
        if op.get("httpChecksumRequired") or op.get("httpChecksum", {}).get("requestChecksumRequired"):
            o["checksumRequired"] = True
        if op.get("authtype") in ("none", "v4-unsigned-body"):
            o["authtype"] = op["authtype"]
        ops[name] = o
    shapes = {}
    for name, sh in model["shapes"].items():
        s = pick(sh, SHAPE_KEYS)
        if "members" in sh:
            s["members"] = {k: pick(v, MEMBER_KEYS) for k, v in sh["members"].items()}
        for part in ("member", "key", "value"):
            if part in sh:
                s[part] = pick(sh[part], MEMBER_KEYS)
        if "error" in sh:
            s["error"] = pick(sh["error"], ["code", "httpStatusCode"])
        if sh.get("exception"):
            s["sdkName"] = java_exception_name(name)
        shapes[name] = s
    return {"metadata": m, "operations": ops, "shapes": shapes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--botocore", required=True, help="botocore package directory")
    ap.add_argument("--out", required=True)
    ap.add_argument("--services", help="comma-separated ARN service names to keep")
    args = ap.parse_args()
    keep = set(args.services.split(",")) if args.services else None
    data = os.path.join(args.botocore, "data")
    docs, skipped = {}, []
    for service in sorted(os.listdir(data)):
        path = latest_model(os.path.join(data, service)) if os.path.isdir(os.path.join(data, service)) else None
        if not path:
            continue
        model = load(path)
        arn_name = java_service_name(model["metadata"]["serviceId"]).lower()
        if keep is not None and arn_name not in keep:
            continue
        small = minimise(model)
        if small is None:
            skipped.append(service)
            continue
        if arn_name in docs:
            # Two botocore directories for one SDK client (sms-voice and
            # pinpoint-sms-voice): the SDK has one, keep the first.
            skipped.append(service)
            continue
        docs[arn_name] = json.dumps(small, separators=(",", ":"), sort_keys=True).encode()
    index, blobs, offset, raw = [], [], 0, 0
    for name in sorted(docs):
        blob = zlib.compress(docs[name], 9)
        index.append(f"{name}\t{offset}\t{len(blob)}\n")
        blobs.append(blob)
        offset += len(blob)
        raw += len(docs[name])
    head = "".join(index).encode()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "wb") as f:
        f.write(len(head).to_bytes(4, "little") + head + b"".join(blobs))
    print(f"{len(docs)} services, {raw} bytes minimised, {4 + len(head) + offset} bytes in the bundle"
          + (f"; skipped: {','.join(skipped)}" if skipped else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
