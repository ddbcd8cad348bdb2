/*
 * The cost of one hand-off round trip between two threads by the protocol the reactor and the journal thread
 * use: an eventfd write wakes the other thread, which sleeps in poll(2) and reads the eventfd, and answers the
 * same way. Pin the process to one CPU (taskset -c 0) for the same-CPU cost, to two for the cross-CPU one
 * (an idle vCPU that halts is woken by an IPI).
 *   eventfd_pingpong [round-trips]       (default 200000): prints the mean round trip in µs
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int to_peer, to_main;
static long rounds = 200000;

static void hand(int fd) {
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) != sizeof one) { perror("write"); exit(1); }
}

static void await(int fd) {
    struct pollfd wait = { .fd = fd, .events = POLLIN };
    uint64_t value;
    if (poll(&wait, 1, -1) != 1 || read(fd, &value, sizeof value) != sizeof value) { perror("poll/read"); exit(1); }
}

static void *peer(void *unused) {
    (void)unused;
    for (long i = 0; i < rounds; i++) {
        await(to_peer);
        hand(to_main);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) rounds = atol(argv[1]);
    to_peer = eventfd(0, EFD_NONBLOCK);
    to_main = eventfd(0, EFD_NONBLOCK);
    pthread_t thread;
    pthread_create(&thread, NULL, peer, NULL);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < rounds; i++) {
        hand(to_peer);
        await(to_main);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    pthread_join(thread, NULL);
    double micros = (end.tv_sec - start.tv_sec) * 1e6 + (end.tv_nsec - start.tv_nsec) / 1e3;
    printf("%.2f\n", micros / rounds);
    return 0;
}
