"""The peers of `snakepit bench --peers`: the standard library's process pools.

Usage: ``python peers.py CALLS WORKERS``. Runs the same trivial function CALLS times through
``concurrent.futures.ProcessPoolExecutor`` and through ``multiprocessing.Pool`` (WORKERS
processes each, every call submitted at once so that as many are in flight as the pools
like, one call per task as a pool call is), after a warm-up, and prints one JSON line:
``{"ppe_calls_per_s": .., "mp_pool_calls_per_s": ..}``.
"""

import concurrent.futures
import json
import multiprocessing
import sys
import time


def ping():
    """The trivial function: what the bench adapter's ``ping`` returns."""
    return {"status": "ok"}


def run_ppe(calls, workers):
    """Calls per second through a ProcessPoolExecutor."""
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as executor:
        for future in [executor.submit(ping) for _ in range(min(calls, 500))]:
            future.result()
        started = time.perf_counter()
        futures = [executor.submit(ping) for _ in range(calls)]
        for future in futures:
            future.result()
        return calls / (time.perf_counter() - started)


def run_mp_pool(calls, workers):
    """Calls per second through a multiprocessing.Pool."""
    with multiprocessing.Pool(processes=workers) as pool:
        for result in [pool.apply_async(ping) for _ in range(min(calls, 500))]:
            result.get()
        started = time.perf_counter()
        results = [pool.apply_async(ping) for _ in range(calls)]
        for result in results:
            result.get()
        return calls / (time.perf_counter() - started)


def main():
    """Measure both peers and print their figures."""
    calls, workers = int(sys.argv[1]), int(sys.argv[2])
    figures = {
        "ppe_calls_per_s": run_ppe(calls, workers),
        "mp_pool_calls_per_s": run_mp_pool(calls, workers),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
