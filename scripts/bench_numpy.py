"""numpy baseline for the initializer benchmarks: GB/s of float32 output for
`standard_normal`, `random` (uniform) and `fill`, single-threaded (numpy's
generators are), at 1e6 and 1e8 elements."""
import sys
import time

import numpy as np


def rate(fn, nbytes, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return nbytes / best / 1e9


def main():
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")
    rng = np.random.default_rng(1)
    for n in (1_000_000, 100_000_000):
        out = np.empty(n, dtype=np.float32)
        out.fill(1.0)  # fault the pages in
        repeat = 20 if n <= 1_000_000 else 3
        nbytes = n * 4
        r_norm = rate(lambda: rng.standard_normal(out=out, dtype=np.float32), nbytes, repeat)
        r_unif = rate(lambda: rng.random(out=out, dtype=np.float32), nbytes, repeat)
        r_fill = rate(lambda: out.fill(0.25), nbytes, repeat)
        print(f"n={n:.0e}: standard_normal {r_norm:.3f} GB/s, random {r_unif:.3f} GB/s, "
              f"fill {r_fill:.3f} GB/s")


if __name__ == "__main__":
    main()
