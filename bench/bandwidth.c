/* bench/bandwidth.c: the machine's memory bandwidth, for bench_generate.sh's
 * "a decode step takes X ms, streaming the weights once takes Y ms".
 *
 *   cc -O2 -march=native -fopenmp bench/bandwidth.c -o bandwidth
 *   ./bandwidth [THREADS=2] [MB=256] [REPEATS=10]
 *
 * Two buffers of MB megabytes each (far beyond the caches), touched once
 * before timing so that page faults are not counted. Each repeat copies one
 * into the other (memcpy, each thread its slice) and sums one (a read-only
 * pass, as a decode step reads its weights); the best repeat of each is kept.
 * copy_gbs counts the bytes read plus the bytes written (STREAM's convention),
 * read_gbs the bytes read. Prints one JSON line.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sums n floats with 8 independent accumulators, so the loop is bound by
   loads, not by the latency of one chain of adds */
static float sum_floats(const float *p, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += p[i + j];
    for (; i < n; i++)
        acc[0] += p[i];
    float s = 0;
    for (int j = 0; j < 8; j++)
        s += acc[j];
    return s;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t mb = argc > 2 ? (size_t)atol(argv[2]) : 256;
    int repeats = argc > 3 ? atoi(argv[3]) : 10;
    if (threads < 1 || mb < 1 || repeats < 1) {
        fprintf(stderr, "usage: bandwidth [THREADS] [MB] [REPEATS]\n");
        return 2;
    }
    size_t bytes = mb << 20, n = bytes / sizeof(float);
    float *src = malloc(bytes), *dst = malloc(bytes);
    if (!src || !dst) {
        fprintf(stderr, "bandwidth: cannot allocate 2 x %zu MB\n", mb);
        return 1;
    }
    omp_set_num_threads(threads);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        src[i] = (float)(i & 1023);
        dst[i] = 0;
    }
    double best_copy = 1e30, best_read = 1e30;
    volatile float sink = 0; /* keeps the sums from being optimized away */
    for (int r = 0; r < repeats; r++) {
        double t0 = omp_get_wtime();
#pragma omp parallel
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t lo = n * t / nt, hi = n * (t + 1) / nt;
            memcpy(dst + lo, src + lo, (hi - lo) * sizeof(float));
        }
        double t1 = omp_get_wtime();
        float total = 0;
#pragma omp parallel reduction(+ : total)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t lo = n * t / nt, hi = n * (t + 1) / nt;
            total += sum_floats(dst + lo, hi - lo);
        }
        double t2 = omp_get_wtime();
        sink += total;
        if (t1 - t0 < best_copy)
            best_copy = t1 - t0;
        if (t2 - t1 < best_read)
            best_read = t2 - t1;
    }
    printf("{\"threads\": %d, \"buffer_mb\": %zu, \"repeats\": %d, \"copy_gbs\": %.2f, "
           "\"read_gbs\": %.2f}\n",
           threads, mb, repeats, 2.0 * (double)bytes / best_copy / 1e9,
           (double)bytes / best_read / 1e9);
    free(src);
    free(dst);
    return sink == -1.0f; /* never: the sums are non-negative */
}
