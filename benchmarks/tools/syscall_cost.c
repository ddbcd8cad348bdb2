// The cost of one system call's entry and exit on this machine: N getppid(2) calls (the cheapest there is, made with
// syscall(2) so no library caches it) timed with CLOCK_MONOTONIC; prints nanoseconds per call.
//   syscall_cost [calls]    (default 10,000,000; pin it with taskset to measure one CPU)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 10000000;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < calls; i++)
        syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
    printf("calls=%ld ns_per_call=%.1f\n", calls, ns / calls);
    return 0;
}
