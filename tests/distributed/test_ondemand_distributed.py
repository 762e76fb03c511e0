"""Variants on demand on the distributed backends (issue 14): two
`imgpipe gateway` processes and a worker on radosgw (S3), dynalite
(DynamoDB) and redis.  A spec outside the rules is refused and nothing is
stored; a spec made through one gateway is served by the other from the
store (same ETag); a spec asked of both gateways at once ends as one
entry and one object (two processes may both render it: same bytes, same
key, the record's conditional merge keeps one); a `format = auto` preset
answers by Accept with Vary: Accept.  Checked in the bucket with awscli.
"""
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import test_distributed as td  # noqa: E402

import harness  # noqa: E402  (test_distributed put it on the path)


class OnDemandDistributed(td.Distributed):
    def setUp(self):
        super().setUp()
        self.env.update({
            "IMGPIPE_ON_DEMAND_ENABLED": "true",
            "IMGPIPE_ON_DEMAND_MAX_WIDTH": "1024",
            "IMGPIPE_VARIANT_CARD_WIDTH": "320",
            "IMGPIPE_VARIANT_CARD_HEIGHT": "320",
            "IMGPIPE_VARIANT_CARD_FORMAT": "auto",
        })

    def test_on_demand_across_gateways(self):
        a = self.start("gateway")
        b = self.start("gateway")
        self.start("worker", "--workers", "1")
        r = a.put("bridge.jpg", harness.corpus("bridge.jpg"), wait=120)
        self.assertEqual(r.status, 201, r)
        iid = r.json()["id"]
        before = sorted(self.output_keys())
        self.assertEqual(len(before), 4, before)  # 3 presets + card

        # outside the rules: refused, nothing stored
        r = a.request("GET", f"/v1/images/{iid}/variants/w_2000")
        self.assertEqual(r.status, 403, r)
        r = a.request("GET", f"/v1/images/{iid}/variants/w_300,bogus")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(sorted(self.output_keys()), before)

        # made through a, served by b from the store
        r1 = a.request("GET", f"/v1/images/{iid}/variants/w_300")
        self.assertEqual(r1.status, 200, r1)
        r2 = b.request("GET", f"/v1/images/{iid}/variants/w_0300")
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.header("ETag"), r1.header("ETag"))
        self.assertEqual(r2.body, r1.body)
        r = b.request("GET", f"/v1/images/{iid}/variants/w_300",
                      headers={"If-None-Match": r1.header("ETag")})
        self.assertEqual(r.status, 304, r)
        self.assertIn(f"{iid}/w_300.jpg", self.output_keys())

        # both gateways at once: one entry, one object, one set of bytes
        results = []
        go = threading.Barrier(8)

        def fetch(gw):
            go.wait()
            results.append(gw.request(
                "GET", f"/v1/images/{iid}/variants/w_400,h_400,fit_cover"))

        threads = [threading.Thread(target=fetch, args=(g,))
                   for g in [a, b] * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r.status for r in results], [200] * 8, results)
        self.assertEqual(len({r.body for r in results}), 1)
        rec = a.request("GET", f"/v1/images/{iid}").json()
        names = sorted(v["name"] for v in rec["variants"])
        self.assertEqual(names.count("w_400,h_400,fit_cover"), 1, names)

        # format = auto by Accept, each format made once, Vary: Accept
        for gw, accept, ctype in [(b, "image/avif,image/webp,*/*", "image/avif"),
                                  (a, "image/webp,*/*", "image/webp"),
                                  (b, "*/*", "image/jpeg"),
                                  (a, "image/avif", "image/avif")]:
            r = gw.request("GET", f"/v1/images/{iid}/variants/card",
                           headers={"Accept": accept})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Content-Type"), ctype, accept)
            self.assertEqual(r.header("Vary"), "Accept")
        keys = self.output_keys()
        for ext in ("jpg", "webp", "avif"):
            self.assertIn(f"{iid}/card.{ext}", keys)
        rec = b.request("GET", f"/v1/images/{iid}").json()
        self.assertEqual(sorted(v["format"] for v in rec["variants"]
                                if v["name"] == "card"),
                         ["avif", "jpeg", "webp"])
        # every object is a variant of the record, nothing else
        self.assertEqual(sorted(keys),
                         sorted(v["key"] for v in rec["variants"]))


if __name__ == "__main__":
    unittest.main(
        defaultTest="OnDemandDistributed.test_on_demand_across_gateways",
        verbosity=2)
