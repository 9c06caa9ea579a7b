"""The workloads of `mesh bench bag` on Dask, for side-by-side figures.

Usage: /usr/bin/python3 bench/dask_bag.py FILE.jsonl TEXT.txt [BLOCKSIZE] [RUNS]
(files from `mesh gen jsonl`; BLOCKSIZE in bytes, default 16777216, as mesh's --block-size).
Dask LocalCluster: 2 worker processes x 1 thread.
"""
import json
import sys
import time

import dask.bag as db
from dask.distributed import Client, LocalCluster

if __name__ == "__main__":
    data, text = sys.argv[1], sys.argv[2]
    blocksize = int(sys.argv[3]) if len(sys.argv) > 3 else 16 << 20
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)

    # Each run passes its number to its functions (count: to split_every,
    # which changes nothing with fewer than 100 partitions), so that its keys
    # are new and Dask computes it again (as mesh does) instead of finding the
    # last run's result not yet released.
    def words(line, run):
        return line.split()

    def loads(line, run):
        return json.loads(line)

    def count(run):
        b = db.read_text(data, blocksize=blocksize)
        return f"lines={b.count(split_every=100 + run).compute()} partitions={b.npartitions}"

    def summary(pairs, path):
        pairs = sorted(pairs, key=lambda p: (-p[1], p[0]))
        total = sum(c for _, c in pairs)
        return f"distinct={len(pairs)} total={total} top={pairs[0][0]}:{pairs[0][1]} file={path.rsplit('/', 1)[-1]}"

    def wordcount(run):
        b = db.read_text(text, blocksize=blocksize)
        return summary(b.map(words, run).flatten().frequencies().compute(), text)

    def wordcount_str(run):
        b = db.read_text(text, blocksize=blocksize)
        return summary(b.str.split().flatten().frequencies(split_every=100 + run).compute(), text)

    def pluck(run):
        b = db.read_text(data, blocksize=blocksize)
        return summary(b.map(loads, run).pluck("name").frequencies().compute(), data)

    for name, f in (("count", count), ("wordcount", wordcount), ("wordcount-str", wordcount_str), ("pluck", pluck)):
        for run in range(1, runs + 1):
            t = time.perf_counter()
            s = f(run)
            print(f"{name} run{run}: {time.perf_counter() - t:.3f}s {s}", flush=True)
    client.close()
    cluster.close()
