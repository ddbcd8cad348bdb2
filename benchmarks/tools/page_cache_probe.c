/* What an append into the page cache costs here, as the journal's reactor-side pwrite pays it (docs/journal.md).
 *
 *   cc -O2 -o artifacts/bench/page_cache_probe benchmarks/tools/page_cache_probe.c
 *   taskset -c 0 artifacts/bench/page_cache_probe FILE append|overwrite|direct [HEAP_KB]
 *
 * Writes 800 MB in 160 KB pwrites (about one reactor pass of SUBMITs at 50 x 16) and prints the time spent inside
 * pwrite per 4 KiB page, and the process's CPU time per page over the whole run:
 *   append     new offsets, so new page-cache pages, with the journal's write-behind (every 4 MiB: wait for the
 *              writeback started a chunk earlier, drop it, start the next: sync_file_range + POSIX_FADV_DONTNEED);
 *   overwrite  the same 4 MiB again and again: pages already in the cache, the copy alone;
 *   direct     new offsets with O_DIRECT (no page cache at all; each pwrite waits for the device, so read the CPU
 *              figure, not the time in pwrite).
 * HEAP_KB (default 0) touches that much fresh anonymous memory before each write, as a store that only grows does
 * (the enqueue-only benchmark's): its page faults and the page cache's allocations compete.
 * The file is removed at the end; the run is bounded and stops by itself.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define WRITE_BYTES (160L * 1024)
#define TOTAL_BYTES (800L << 20)
#define CHUNK_BYTES (4L << 20)

/* CLOCK_MONOTONIC for the time inside pwrite, CLOCK_PROCESS_CPUTIME_ID for the CPU whatever the writes waited for. */
static double seconds(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[2], "append") != 0 && strcmp(argv[2], "overwrite") != 0 && strcmp(argv[2], "direct") != 0)) {
        fprintf(stderr, "usage: %s FILE append|overwrite|direct [HEAP_KB]\n", argv[0]);
        return 2;
    }
    int append = strcmp(argv[2], "append") == 0, direct = strcmp(argv[2], "direct") == 0;
    long heap_bytes = argc > 3 ? atol(argv[3]) * 1024 : 0;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0644);
    char *buffer = NULL;
    if (fd < 0 || posix_memalign((void **)&buffer, 4096, WRITE_BYTES) != 0) { /* O_DIRECT wants an aligned buffer */
        perror("page_cache_probe");
        return 1;
    }
    memset(buffer, 'x', WRITE_BYTES);
    char *heap = NULL;
    if (heap_bytes > 0) {
        heap = mmap(NULL, (TOTAL_BYTES / WRITE_BYTES + 1) * heap_bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (heap == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
    }
    long written = 0, started = 0, released = 0, heap_used = 0;
    double in_pwrite = 0, cpu_started = seconds(CLOCK_PROCESS_CPUTIME_ID);
    while (written < TOTAL_BYTES) {
        for (long i = 0; i < heap_bytes; i += 4096)
            heap[heap_used + i] = 1;
        heap_used += heap_bytes;
        long at = append || direct ? written : written % CHUNK_BYTES;
        double t = seconds(CLOCK_MONOTONIC);
        if (pwrite(fd, buffer, WRITE_BYTES, at) != WRITE_BYTES) {
            perror("pwrite");
            return 1;
        }
        in_pwrite += seconds(CLOCK_MONOTONIC) - t;
        written += WRITE_BYTES;
        long end = written & ~4095L;
        if (append && end - started >= CHUNK_BYTES) {
            if (started > released
                && sync_file_range(fd, released, started - released,
                                   SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0) {
                posix_fadvise(fd, released, started - released, POSIX_FADV_DONTNEED);
                released = started;
            }
            sync_file_range(fd, started, end - started, SYNC_FILE_RANGE_WRITE);
            started = end;
        }
    }
    printf("%s, %ld KB of fresh heap per write: %.2f us in pwrite per 4 KiB page (%.2f GB/s), %.2f us of CPU per page\n",
           argv[2], heap_bytes / 1024, in_pwrite * 1e6 / (TOTAL_BYTES / 4096), TOTAL_BYTES / in_pwrite / 1e9,
           (seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_started) * 1e6 / (TOTAL_BYTES / 4096));
    close(fd);
    unlink(argv[1]);
    return 0;
}
