"""tests/metrics_check.py - /.zcache/metrics and stats.json of a live mount
read by real parsers: Prometheus's own text-format parser
(prometheus_client.parser.text_string_to_metric_families, Debian's
python3-prometheus-client) and Python's json.

    python3 tests/metrics_check.py MOUNTPOINT POOL...

Run by tests/fs.c (test_metrics_parse) on a daemon it mounted, with the
labels of the pools it made.  Checks that:
  - the exposition parses, every family has HELP text and a type, and the
    families are exactly zcache_<name> for each line of /.zcache/stats plus
    zcache_pool_<field> for each field of pools/NAME/stats (the figures the
    text files show and the metrics show are the same list);
  - each zcache_<name> family has one sample, and is a counter exactly when
    its help text says the figure counts what happened "ever" (the figures
    that only grow), else a gauge; a text figure of the stats file
    ("transport uring") is the gauge zcache_<name>{<name>="<text>"} 1;
  - each zcache_pool_<field> family has one sample per pool, labelled
    pool="<label>", the labels being exactly POOL...;
  - the one histogram, zcache_fuse_request_seconds (FUSE requests by
    opcode), has HELP text, every sample labelled op (buckets also le),
    cumulative buckets ending at +Inf equal to _count, a non-negative _sum,
    and INIT counted exactly once;
  - with spill=, zcache_spill_server_up has a sample per server labelled
    server and state (1 unless down), as stats.json's "spill" lists them
    (null without spill=);
  - stats.json parses, its "stats" object has the same names as the stats
    file, its "pools" the same labels, its "mm_stat" nine integers, its
    "fuse" object an entry per opcode the metrics show (count, total_ns,
    max_ns, a histogram of 24 buckets).
Exits 0, or 1 after printing what failed.
"""
import json
import os
import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def fail(msg):
    print("metrics_check: " + msg, file=sys.stderr)
    sys.exit(1)


def read(mnt, rel):
    with open(os.path.join(mnt, ".zcache", rel)) as f:
        return f.read()


FUSE = "zcache_fuse_request_seconds"
HISTOGRAMS = {FUSE}


def check_fuse(fam):
    """The FUSE request histogram: returns {op: count}."""
    if fam is None:
        fail("no %s family" % FUSE)
    if fam.type != "histogram":
        fail("%s is a %s, not a histogram" % (FUSE, fam.type))
    ops = {}
    for s in fam.samples:
        op = s.labels.get("op")
        if not op:
            fail("%s sample without op: %s" % (FUSE, s))
        o = ops.setdefault(op, {"buckets": [], "sum": None, "count": None})
        if s.name == FUSE + "_bucket":
            if set(s.labels) != {"op", "le"}:
                fail("%s bucket labels %s" % (FUSE, s.labels))
            o["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name == FUSE + "_sum":
            o["sum"] = s.value
        elif s.name == FUSE + "_count":
            o["count"] = s.value
        else:
            fail("%s: unexpected sample %s" % (FUSE, s.name))
    if not ops:
        fail("%s has no samples" % FUSE)
    for op, o in ops.items():
        b = o["buckets"]
        if not b or o["sum"] is None or o["count"] is None:
            fail("%s{op=%s}: buckets, _sum or _count missing" % (FUSE, op))
        if [le for le, _ in b] != sorted(le for le, _ in b) or b[-1][0] != float("inf"):
            fail("%s{op=%s}: buckets not ascending to +Inf" % (FUSE, op))
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            fail("%s{op=%s}: buckets not cumulative" % (FUSE, op))
        if b[-1][1] != o["count"] or o["count"] < 1 or o["sum"] < 0:
            fail("%s{op=%s}: +Inf %s, count %s, sum %s" % (FUSE, op, b[-1][1], o["count"], o["sum"]))
    if ops.get("init", {}).get("count") != 1:
        fail("%s: INIT counted %s times" % (FUSE, ops.get("init", {}).get("count")))
    return {op: o["count"] for op, o in ops.items()}


SPILL = "zcache_spill_server_up"


def check_spill(fam, js):
    """The far tier (spill=): one zcache_spill_server_up sample per server,
    labelled server and state, 1 unless down; stats.json's "spill" null
    without spill= (and no family), else its client figures and servers."""
    spill = js.get("spill", "missing")
    if fam is None:
        if spill is not None:
            fail("no %s family but stats.json's spill is %r" % (SPILL, spill))
        return
    if fam.type != "gauge" or not fam.documentation:
        fail("%s: type %s" % (SPILL, fam.type))
    for smp in fam.samples:
        if set(smp.labels) != {"server", "state"} or \
                smp.labels["state"] not in ("up", "down", "retrying") or \
                smp.value != (0 if smp.labels["state"] == "down" else 1):
            fail("%s: sample %s" % (SPILL, smp))
    if not isinstance(spill, dict) or set(spill) != {"client", "servers"} or \
            not spill["client"] or \
            [v["name"] for v in spill["servers"]] != [x.labels["server"] for x in fam.samples]:
        fail("stats.json's spill: %r" % (spill,))


def main():
    if len(sys.argv) < 3:
        fail("usage: metrics_check.py MOUNTPOINT POOL...")
    mnt, pools = sys.argv[1], set(sys.argv[2:])

    lines = [line.split() for line in read(mnt, "stats").splitlines() if line.strip()]
    names = [l[0] for l in lines]
    # Text figures ("transport uring") are info gauges: zcache_NAME{NAME="text"} 1.
    texts = {}
    for l in lines:
        try:
            float(l[1])
        except ValueError:
            texts[l[0]] = l[1]
    pool_fields = []
    for line in read(mnt, "pools/default/stats").splitlines():
        field = line.split()[0]
        if field not in ("kind", "compressor", "densify", "tmem_pool", "compression_ratio"):
            pool_fields.append(field)
    if not names or not pool_fields:
        fail("empty stats or pool stats")

    try:
        families = list(text_string_to_metric_families(read(mnt, "metrics")))
    except Exception as e:  # the parser raises ValueError and friends
        fail("the Prometheus parser refused the metrics: %r" % e)
    byname = {}
    for fam in families:
        if fam.name in byname:
            fail("family %s twice" % fam.name)
        if not fam.documentation:
            fail("family %s has no HELP text" % fam.name)
        if fam.type not in ("counter", "gauge") and fam.name not in HISTOGRAMS:
            fail("family %s has type %s" % (fam.name, fam.type))
        byname[fam.name] = fam
    fuse_ops = check_fuse(byname.pop(FUSE, None))
    spill_fam = byname.pop(SPILL, None)

    want = {"zcache_" + n for n in names} | {"zcache_pool_" + f for f in pool_fields}
    if set(byname) != want:
        fail("families differ from the stats files: missing %s, extra %s"
             % (sorted(want - set(byname)), sorted(set(byname) - want)))
    for n in names:
        fam = byname["zcache_" + n]
        want_labels = {n: texts[n]} if n in texts else {}
        if len(fam.samples) != 1 or fam.samples[0].labels != want_labels or \
                (n in texts and fam.samples[0].value != 1):
            fail("zcache_%s: %d samples %s" % (n, len(fam.samples), fam.samples))
        ever = re.search(r"\bever\b", fam.documentation) is not None
        if (fam.type == "counter") != ever:
            fail("zcache_%s is a %s but its help says %r" % (n, fam.type, fam.documentation))
    for f in pool_fields:
        fam = byname["zcache_pool_" + f]
        labels = [s.labels for s in fam.samples]
        if any(set(l) != {"pool"} for l in labels):
            fail("zcache_pool_%s: labels %s" % (f, labels))
        got = sorted(l["pool"] for l in labels)
        if got != sorted(pools):
            fail("zcache_pool_%s: pools %s, want %s" % (f, got, sorted(pools)))

    try:
        js = json.loads(read(mnt, "stats.json"))
    except ValueError as e:
        fail("stats.json is not JSON: %s" % e)
    if list(js["stats"]) != names:
        fail("stats.json's stats differ from the stats file: %s" % list(js["stats"]))
    if set(js["pools"]) != pools:
        fail("stats.json's pools %s, want %s" % (sorted(js["pools"]), sorted(pools)))
    mm = js["mm_stat"]
    if len(mm) != 9 or not all(isinstance(v, int) and v >= 0 for v in mm):
        fail("stats.json's mm_stat: %s" % mm)
    for key in ("alloc", "compress", "fuse"):
        if not isinstance(js.get(key), dict) or not js[key]:
            fail("stats.json has no %s object" % key)
    check_spill(spill_fam, js)
    for op, count in fuse_ops.items():
        o = js["fuse"].get(op)
        if (not isinstance(o, dict) or set(o) != {"count", "total_ns", "max_ns", "hist"}
                or len(o["hist"]) != 24 or o["count"] < count):
            fail("stats.json's fuse.%s: %s (metrics count %s)" % (op, o, count))
    print("metrics_check: %d families (%d samples), stats.json with %d figures and %d pools: ok"
          % (len(families), sum(len(f.samples) for f in families), len(names), len(pools)))


if __name__ == "__main__":
    main()
