# The graph of `mesh bench delayed` with dask.delayed: LEAVES inc(base+i),
# a pairwise tree of adds, computed on a 2 x 1 LocalCluster (processes).
#   /usr/bin/python3 bench/dask_delayed.py [LEAVES] [RUNS]
import sys, time
import dask
from dask.distributed import Client, LocalCluster

def inc(x): return x + 1
def add(a, b): return a + b

if __name__ == "__main__":
    leaves = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = Client(cluster)
    for run in range(1, runs + 1):
        base = run * leaves
        t = time.perf_counter()
        level = [dask.delayed(inc)(base + i) for i in range(leaves)]
        while len(level) > 1:
            nxt = [dask.delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        total = level[0].compute()
        dt = time.perf_counter() - t
        assert total == leaves * base + leaves * (leaves + 1) // 2
        print(f"delayed tree {leaves} leaves ({2*leaves-1} tasks) run{run}: {dt:.3f}s = {(2*leaves-1)/dt:.0f} tasks/s", flush=True)
    c.close(); cluster.close()
