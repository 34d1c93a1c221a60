#!/usr/bin/env python3
"""Scripting vpcsim through `vpcsim serve` (standard library only).

Starts one server on a scenario, asks a few questions as JSON lines, prints the answers:

    python3 examples/serve_client.py                 # vpcsim on PATH, built-in scenario
    python3 examples/serve_client.py --vpcsim target/release/vpcsim my.toml

Every answer is one JSON object in vpcsim's envelope ({"vpcsim", "command",
"scenario", "after", ...}, plus the request's "id"); a bad request gets {"error": {...}}
and the server carries on.
"""

import argparse
import json
import subprocess
import sys


class Vpcsim:
    def __init__(self, exe="vpcsim", scenario=None):
        cmd = [exe, "serve"] + ([scenario] if scenario else [])
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.next_id = 0

    def ask(self, op, **fields):
        self.next_id += 1
        request = {"id": self.next_id, "op": op, **fields}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert answer["id"] == self.next_id, answer
        return answer

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vpcsim", default="vpcsim", help="path to the vpcsim binary")
    ap.add_argument("scenario", nargs="?", help="scenario file (default: built-in)")
    args = ap.parse_args()

    sim = Vpcsim(args.vpcsim, args.scenario)
    info = sim.ask("info")
    print(f"scenario {info['scenario']}, {len(info['instances'])} instances")

    # Where does each instance's web traffic leave from?
    for inst in info["instances"]:
        a = sim.ask("trace", **{"from": inst, "to": "203.0.113.80:443"})
        if "error" in a:
            print(f"  {inst}: error: {a['error']['message']}")
            continue
        p = a["probe"]
        seen = p["source_seen"] or "-"
        print(f"  {inst}: {p['disposition']:9} source seen {seen:15} {p['reason'] or ''}")

    # A bad request gets an error line; the server goes on.
    bad = sim.ask("trace", **{"from": "i-nope", "to": "1.2.3.4:80"})
    print(f"  bad request: {bad['error']['message']}")
    sys.exit(sim.close())


if __name__ == "__main__":
    main()
