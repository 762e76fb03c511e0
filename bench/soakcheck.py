#!/usr/bin/python3
"""soakcheck.py URL RAW.tsv DETAILS.tsv - no acknowledged upload lost?

Called by bench/run.sh after the soak (docs/BENCHMARKS.md).  RAW.tsv is
`loadgen -o` of the soak: one line per upload, with the PUT's status and
the record's id.  Every upload the server acknowledged (202 and an id) is
asked for again, `GET URL/v1/images/{id}?wait=60` (up to 3 times while it
is still pending or processing), and counted:

  done     the record is done
  failed   the record is failed (its error in DETAILS.tsv)
  lost     404, or still not finished after the waits, or no answer

`retried` counts the records with more than one attempt (a helper that
died, a timeout...) and `retried_done` those of them that ended done.
Uploads that were not acknowledged (a 4xx/5xx, a transport error) are
`refused`: the client was told, nothing was promised.

Prints one line of key=value pairs; DETAILS.tsv gets one line per upload
that is not done on attempt 1 (id, status, attempts, error).  Exit 0 when
nothing is lost, 1 otherwise, 2 on bad arguments.  Talks to 127.0.0.1
only, one request at a time.
"""
import http.client
import json
import sys
import urllib.parse

WAIT_S = 60
TRIES = 3
ROWS_MAX = 200000


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: soakcheck.py http://127.0.0.1:PORT RAW.tsv DETAILS.tsv")
    url = urllib.parse.urlsplit(sys.argv[1])
    if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost"):
        print("soakcheck.py: the URL must be http://127.0.0.1:PORT", file=sys.stderr)
        sys.exit(2)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=WAIT_S + 30)
    n = {k: 0 for k in ("uploads", "acknowledged", "done", "failed", "lost",
                        "refused", "retried", "retried_done")}
    with open(sys.argv[2]) as raw, open(sys.argv[3], "w") as details:
        for i, line in enumerate(raw):
            if i >= ROWS_MAX:
                break
            p = line.rstrip("\n").split("\t")
            if len(p) < 11:
                continue
            n["uploads"] += 1
            code, rid = p[3], p[10]
            if code != "202" or rid in ("", "-") or not rid.isalnum():
                n["refused"] += 1
                continue
            n["acknowledged"] += 1
            status, attempts, error = "lost", 0, "no answer"
            for _ in range(TRIES):
                try:
                    conn.request("GET", f"/v1/images/{rid}?wait={WAIT_S}")
                    r = conn.getresponse()
                    body = r.read(1 << 20)
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    error = f"GET: {e}"
                    continue
                if r.status == 404:
                    error = "404: no such record"
                    break
                if r.status != 200:
                    error = f"GET answered {r.status}"
                    continue
                rec = json.loads(body)
                attempts = rec.get("attempts") or 0
                if rec.get("status") in ("done", "failed"):
                    status, error = rec["status"], rec.get("error") or "-"
                    break
                error = f"still {rec.get('status')} after {WAIT_S} s"
            n[status] += 1
            if attempts > 1:
                n["retried"] += 1
                n["retried_done"] += status == "done"
            if status != "done" or attempts > 1:
                error = " ".join(str(error).split())  # no tabs, one line
                details.write(f"{rid}\t{p[1]}\t{status}\t{attempts}\t{error}\n")
    conn.close()
    print(" ".join(f"{k}={v}" for k, v in n.items()))
    sys.exit(1 if n["lost"] else 0)


if __name__ == "__main__":
    main()
