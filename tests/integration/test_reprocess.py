"""Reprocessing (issue 14): images uploaded under one configuration get the
preset a later configuration adds, from `imgpipe reprocess` and from
POST /v1/images/{id}/reprocess; the variants that did not change are not
touched; a second run queues nothing; `--dry-run` changes nothing; a run
killed with -9 resumes and ends with one entry per preset; an upload made
during a throttled backfill is done.

Config A is the defaults; config B adds the preset `hero` and changes
nothing else.  Waiting is on conditions (`?wait=`, or a bounded poll of
the record), never on time.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from test_openapi import validate  # noqa: E402

PHOTOS = ["wine.jpg", "bridge.jpg", "dragonfly.jpg", "sunset-exif6.jpg",
          "seeding.jpg", "life.webp"]
HERO = ("--set", "variant.hero.width=480", "--set", "variant.hero.height=270",
        "--set", "variant.hero.fit=cover")
BASE = ("--workers", "1")


class ReprocessCase(harness.ServerTest):
    server_args = BASE

    def upload(self, names):
        ids = []
        for name in names:
            r = self.server.put(name, harness.corpus(name), wait=60)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json()["status"], "done", r)
            ids.append(r.json()["id"])
        return ids

    def restart(self, *extra, command="serve"):
        rc = self.server.stop()
        self.assertEqual(rc, 0, self.server.read_log())
        self.server = harness.Server(data_dir=self.server.data_dir,
                                     args=BASE + HERO + extra,
                                     command=command).start()
        self.server.own_dir = True

    def cli(self, *args, env=None, extra=()):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(
            [harness.BIN, "reprocess", "--data-dir", self.server.data_dir,
             "--log-level", "warn"] + list(HERO + extra + args),
            capture_output=True, env=e, timeout=300)

    def summary(self, p):
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return json.loads(p.stdout.decode().strip().splitlines()[-1])

    def record(self, image_id):
        r = self.server.request("GET", f"/v1/images/{image_id}")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def wait_hero(self, ids, seconds=120):
        """Poll each record (bounded) until it holds `hero`."""
        deadline = time.monotonic() + seconds
        recs = {}
        for i in ids:
            while True:
                rec = self.record(i)
                if any(v["name"] == "hero" for v in rec["variants"]):
                    recs[i] = rec
                    break
                self.assertLess(time.monotonic(), deadline,
                                f"{i} has no hero: {rec['variants']}")
                time.sleep(0.05)
        return recs

    def assertOneHero(self, rec):
        heroes = [v for v in rec["variants"] if v["name"] == "hero"]
        self.assertEqual(len(heroes), 1, rec["variants"])
        self.assertRegex(heroes[0]["fingerprint"] or "", "^[0-9a-f]{16}$")
        path = os.path.join(self.server.data_dir, "buckets", "output",
                            heroes[0]["key"])
        self.assertTrue(os.path.isfile(path), path)
        with open(path, "rb") as f:
            self.assertEqual(harness.sha256(f.read()), heroes[0]["sha256"])

    def outputs(self):
        """{key: (inode, mtime_ns, sha256)} of the output bucket's files."""
        root = os.path.join(self.server.data_dir, "buckets", "output")
        out = {}
        for rel in self.server.files_under("buckets", "output"):
            st = os.stat(os.path.join(root, rel))
            with open(os.path.join(root, rel), "rb") as f:
                out[rel] = (st.st_ino, st.st_mtime_ns, harness.sha256(f.read()))
        return out

    def state_path(self):
        return os.path.join(self.server.data_dir, "reprocess.state")


class BackfillTest(ReprocessCase):

    def test_backfill_makes_only_hero_and_a_second_run_queues_nothing(self):
        ids = self.upload(PHOTOS)
        before = self.outputs()
        records = {i: self.record(i) for i in ids}
        self.restart()

        # --dry-run counts and changes nothing
        s = self.summary(self.cli("--all", "--dry-run", "--json"))
        self.assertEqual((s["examined"], s["would_remake"], s["queued"]),
                         (6, 6, 0), s)
        self.assertEqual(self.outputs(), before)
        for i in ids:
            self.assertEqual(self.record(i)["variants"],
                             records[i]["variants"])
        self.assertFalse(os.path.exists(self.state_path()))

        s = self.summary(self.cli("--all", "--json"))
        self.assertEqual((s["examined"], s["queued"], s["current"],
                          s["failed"], s["mode"]), (6, 6, 0, 0, "queue"), s)
        recs = self.wait_hero(ids)
        for i in ids:
            self.assertOneHero(recs[i])
            old = {v["name"]: v for v in records[i]["variants"]}
            new = {v["name"]: v for v in recs[i]["variants"]}
            self.assertEqual(set(new), set(old) | {"hero"})
            for name in old:  # the record's entries are the same
                self.assertEqual(new[name], old[name])
        after = self.outputs()
        for key, facts in before.items():  # same inode, mtime and bytes
            self.assertEqual(after[key], facts, key)
        self.assertEqual(len(after), len(before) + len(ids))

        # everything is current: a second run queues nothing
        s = self.summary(self.cli("--all", "--json"))
        self.assertEqual((s["examined"], s["queued"], s["current"]),
                         (6, 0, 6), s)
        self.assertEqual(self.outputs(), after)
        self.assertFalse(os.path.exists(self.state_path()))

    def test_kill9_midway_then_the_same_command_resumes(self):
        # 10 images: more than one page (8), so a checkpoint is written
        names = (PHOTOS * 2)[:10]
        ids = self.upload(names)
        self.restart()
        p = self.cli("--all", env={"IMGPIPE_TEST_REPROCESS_KILL_AFTER": "9"})
        self.assertEqual(p.returncode, -signal.SIGKILL, p.stderr.decode())
        self.assertTrue(os.path.exists(self.state_path()))
        with open(self.state_path()) as f:
            state = json.load(f)
        newest_first = sorted(ids, reverse=True)
        self.assertEqual(state["last_id"], newest_first[7])

        p = self.cli("--all", "--json")
        err = p.stderr.decode()
        self.assertIn(f"resuming after {newest_first[7]}", err)
        s = self.summary(p)
        self.assertEqual(s["resumed_after"], newest_first[7])
        self.assertEqual(s["examined"], 10, s)
        self.assertEqual(s["failed"], 0, s)
        self.assertFalse(os.path.exists(self.state_path()))
        for rec in self.wait_hero(ids).values():
            self.assertOneHero(rec)
            self.assertEqual(len(rec["variants"]), 4, rec["variants"])

        # --restart ignores nothing left: a full pass, all current
        s = self.summary(self.cli("--all", "--restart", "--json"))
        self.assertEqual((s["examined"], s["current"], s["queued"]),
                         (10, 10, 0), s)

    def test_upload_during_a_throttled_backfill_is_done(self):
        ids = self.upload((PHOTOS * 2)[:10])
        self.restart()
        cmd = [harness.BIN, "reprocess", "--data-dir", self.server.data_dir,
               "--log-level", "warn", "--all", "--max-queued", "1",
               "--json"] + list(HERO)
        bf = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        try:
            r = self.server.put("during.jpg", harness.corpus("kleiber.jpg"),
                                wait=60)
            self.assertEqual(r.status, 201, r)
            rec = r.json()
            self.assertEqual(rec["status"], "done", rec)
            self.assertEqual(sorted(v["name"] for v in rec["variants"]),
                             ["hero", "large", "medium", "thumb"])
            out, err = bf.communicate(timeout=300)
        finally:
            if bf.poll() is None:
                bf.kill()
                bf.wait()
        self.assertEqual(bf.returncode, 0, err.decode())
        s = json.loads(out.decode().strip().splitlines()[-1])
        self.assertEqual(s["failed"], 0, s)
        # the upload may be listed while it is processed: not done
        self.assertEqual(s["queued"] + s["current"] + s["not_done"],
                         s["examined"], s)
        for rec in self.wait_hero(ids).values():
            self.assertOneHero(rec)

    def test_without_a_queue_it_makes_them_itself(self):
        ids = self.upload(PHOTOS)
        self.server.stop()
        self.server.proc = None
        store = ("--set", "storage.events=store")
        # ids named (once each, however often given)
        s = self.summary(self.cli(ids[0], ids[0], "--json", extra=store))
        self.assertEqual((s["examined"], s["made"], s["mode"]),
                         (1, 1, "in_process"), s)
        # the newest three (ids sort by upload time)
        s = self.summary(self.cli("--since", ids[3], "--jobs", "2", "--json",
                                  extra=store))
        self.assertEqual((s["examined"], s["made"]), (3, 3), s)
        s = self.summary(self.cli("--all", "--json", extra=store))
        self.assertEqual((s["examined"], s["made"], s["current"]), (6, 2, 4), s)
        self.server = harness.Server(data_dir=self.server.data_dir,
                                     args=BASE + HERO).start()
        self.server.own_dir = True
        for i in ids:
            self.assertOneHero(self.record(i))

    def test_usage_errors_exit_2(self):
        ids = self.upload(PHOTOS[:1])
        for args, words in [
                (("--all", "--variant", "nope"), "not a configured preset"),
                ((), "give one of"),
                (("--all", ids[0]), "give one of"),
                (("not-an-id",), "not an image id"),
                (("--since", "x", ), "not an image id"),
                (("--all", "--max-queued", "0", "--max-queued", "-1"),
                 "--max-queued")]:
            p = self.cli(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr.decode()))
            self.assertIn(words, p.stderr.decode(), args)
        # an id that does not exist is a failure of the run, named
        p = self.cli("01JABCDEFGHJKMNPQRSTVWXYZ0")
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        self.assertIn("01JABCDEFGHJKMNPQRSTVWXYZ0: no such image",
                      p.stderr.decode())


class RouteTest(ReprocessCase):

    def assertDocumented(self, body):
        """The body has docs/openapi.yaml's ReprocessResult schema."""
        self.assertEqual(validate(body, {
            "$ref": "#/components/schemas/ReprocessResult"}), [])

    def test_route_statuses(self):
        ids = self.upload(PHOTOS[:2])
        self.restart()
        path = f"/v1/images/{ids[0]}/reprocess"
        r = self.server.request("POST", path)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"id": ids[0], "variants": ["hero"],
                                    "links": {"self": f"/v1/images/{ids[0]}"}})
        self.assertDocumented(r.json())
        self.assertOneHero(self.wait_hero(ids[:1])[ids[0]])
        r = self.server.request("POST", path)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["variants"], [])
        r = self.server.request("POST", path + "?variant=thumb,hero")
        self.assertEqual((r.status, r.json()["variants"]), (200, []), r)
        self.assertJsonError(self.server.request("POST", path + "?variant=x"),
                             400, "invalid_request")
        self.assertJsonError(
            self.server.request("POST", path + "?variant=hero,hero"), 400)
        self.assertJsonError(self.server.request(
            "POST", "/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0/reprocess"), 404)
        r = self.server.request("GET", path)
        self.assertEqual((r.status, r.header("Allow")), (405, "POST"), r)
        # the other image was not touched by this one's request
        self.assertEqual(len(self.record(ids[1])["variants"]), 3)

    def test_409_while_not_done(self):
        # a gateway alone: the upload stays pending (no worker)
        self.restart(command="gateway")
        r = self.server.put("wine.jpg", harness.corpus("wine.jpg"))
        self.assertEqual(r.status, 202, r)
        r = self.server.request("POST",
                                f"/v1/images/{r.json()['id']}/reprocess")
        self.assertJsonError(r, 409, "conflict")
        self.assertIn("pending", r.json()["error"]["message"])

    def test_without_a_queue_the_request_makes_them(self):
        ids = self.upload(PHOTOS[:2])
        self.restart("--set", "storage.events=store")
        r = self.server.request("POST", f"/v1/images/{ids[0]}/reprocess")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertDocumented(body)
        self.assertEqual(body["variants"], ["hero"])
        self.assertOneHero(body["record"])
        self.assertOneHero(self.record(ids[0]))
        r = self.server.request("POST", f"/v1/images/{ids[0]}/reprocess")
        self.assertEqual((r.status, r.json()["variants"]), (200, []), r)
        self.assertNotIn("record", r.json())


if __name__ == "__main__":
    harness.main()
