"""The router/contract test: docs/openapi.yaml against the server's own
tables, both ways, so neither can change without the other.

- every (method, path) of the route table (src/api/routes.c, dumped by
  the dump_routes binary) is an operation of the document, and every
  operation of the document is a route (GET also answers HEAD, which the
  document leaves to its introduction; OPTIONS is on every path);
- each route's declared statuses (src/api/statuses.c) are exactly the
  responses of its operation (reply.c logs "undeclared status" for any
  other answer, and the integration harness fails on that line);
- the ErrorCode enum is exactly the codes the source can emit: the names
  of src/core/error.c's table whose IP_E* constant the rest of src/ uses,
  its fallback name, and the literal codes the API writes itself.

Run by `meson test --suite openapi` (IMGPIPE_DUMP_ROUTES, the binary;
IMGPIPE_SOURCE_ROOT, the tree) and by hand:
    IMGPIPE_DUMP_ROUTES=build/tests/openapi/dump_routes python3 tests/openapi/test_contract.py
"""
import glob
import json
import os
import re
import subprocess
import unittest

import yaml

ROOT = os.environ.get("IMGPIPE_SOURCE_ROOT",
                      os.path.join(os.path.dirname(__file__), "..", ".."))
DUMP = os.environ.get("IMGPIPE_DUMP_ROUTES", "build/tests/openapi/dump_routes")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def norm(path):
    """/v1/images/{id} and /v1/images/{name} are one path to a client."""
    return re.sub(r"\{[^}/]+\}", "{}", path)


def load_doc():
    with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_table():
    out = subprocess.run([DUMP], capture_output=True, check=True, timeout=30)
    return json.loads(out.stdout)


def doc_operations(doc):
    """{(method, normalised path): operation}"""
    ops = {}
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                ops[(m, norm(path))] = item[m]
    return ops


def source_files():
    for ext in ("c", "h"):
        yield from glob.glob(os.path.join(ROOT, "src", "**", "*." + ext),
                             recursive=True)


def emitted_codes():
    """The error codes the server can put in an error body."""
    with open(os.path.join(ROOT, "src", "core", "error.c")) as f:
        error_c = f.read()
    table = re.findall(r'\{(IP_[A-Z]+),\s*\d+,\s*\d+,\s*"([a-z_]+)"\}', error_c)
    assert table, "src/core/error.c: no code table found"
    fallback = re.findall(r'i < 0 \? "([a-z_]+)"', error_c)
    assert fallback, "src/core/error.c: no fallback name found"
    used = set()
    literal = set()
    for path in source_files():
        if path.endswith(("core/error.c", "core/error.h")):
            continue
        with open(path, errors="replace") as f:
            text = f.read()
        used.update(re.findall(r"\bIP_E[A-Z]+\b", text))
        literal.update(re.findall(r'reply_set_error\(\s*\w+,\s*"([a-z_]+)"', text))
        literal.update(re.findall(r'\\"code\\":\\"([a-z_]+)\\"', text))
    codes = {name for const, name in table if const != "IP_OK" and const in used}
    return codes | set(fallback) | literal


class Contract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = load_doc()
        cls.table = load_table()
        cls.ops = doc_operations(cls.doc)

    def test_every_route_is_documented_and_back(self):
        routes = {(r["method"].lower(), norm(r["pattern"]))
                  for r in self.table["routes"]}
        routes |= {("options", p) for _, p in routes}
        documented = set(self.ops)
        self.assertEqual(sorted(routes - documented), [],
                         "routes of src/api/routes.c missing from docs/openapi.yaml")
        self.assertEqual(sorted(documented - routes), [],
                         "operations of docs/openapi.yaml the server does not route")

    def test_statuses_match_both_ways(self):
        problems = []
        for r in self.table["routes"]:
            key = (r["method"].lower(), norm(r["pattern"]))
            if r["statuses"] is None:
                problems.append(f"{key}: no row in src/api/statuses.c")
                continue
            doc = sorted(int(s) for s in self.ops[key]["responses"])
            if doc != sorted(r["statuses"]):
                problems.append(f"{key}: statuses.c {sorted(r['statuses'])} "
                                f"!= openapi.yaml {doc}")
        for (m, p), op in self.ops.items():
            if m == "options":
                doc = sorted(int(s) for s in op["responses"])
                if doc != sorted(self.table["options"]):
                    problems.append(f"OPTIONS {p}: {doc} != {self.table['options']}")
        self.assertEqual(problems, [])

    def test_error_codes_match_the_source(self):
        enum = self.doc["components"]["schemas"]["ErrorCode"]["enum"]
        self.assertEqual(len(enum), len(set(enum)), "duplicates in ErrorCode")
        emitted = emitted_codes()
        self.assertEqual(sorted(emitted - set(enum)), [],
                         "codes the source emits that ErrorCode lacks")
        self.assertEqual(sorted(set(enum) - emitted), [],
                         "ErrorCode values the source never emits")

    def test_scoped_routes_document_their_refusals(self):
        # A route behind a key scope answers 401 and 403; a public one
        # never asks for credentials.
        for r in self.table["routes"]:
            op = self.ops[(r["method"].lower(), norm(r["pattern"]))]
            codes = {int(s) for s in op["responses"]}
            if r["scope"] == "none":
                self.assertEqual(op.get("security"), [], r)
                self.assertFalse({401, 403} & codes, r)
            else:
                self.assertLessEqual({401, 403}, codes, r)
                self.assertNotEqual(op.get("security"), [], r)

    def test_version_is_the_projects(self):
        with open(os.path.join(ROOT, "meson.build")) as f:
            version = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
        self.assertEqual(self.doc["info"]["version"], version)

    def test_every_answer_names_its_request_id(self):
        comps = self.doc["components"]["responses"]
        missing = []
        for key, op in self.ops.items():
            for status, resp in op["responses"].items():
                if "$ref" in resp:
                    resp = comps[resp["$ref"].rsplit("/", 1)[1]]
                if "X-Request-Id" not in resp.get("headers", {}):
                    missing.append((key, status))
        self.assertEqual(missing, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
