#!/usr/bin/env python3
"""openapi-json.py - docs/openapi.yaml (the source) to the JSON that the
binary embeds and serves as GET /openapi.json.  Run by the build (a meson
custom_target in src/api/meson.build) with Debian's python3-yaml.

    scripts/openapi-json.py docs/openapi.yaml build/src/api/openapi.json

Compact, keys in the document's order, UTF-8, one trailing newline; YAML
anchors and merges are expanded.  A document that is not a mapping with an
`openapi: 3.1.x` field fails the build.
"""
import json
import sys

import yaml


def main(src, dst):
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1"):
        sys.exit(f"{src}: not an OpenAPI 3.1 document")
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: openapi-json.py IN.yaml OUT.json")
    main(sys.argv[1], sys.argv[2])
