/*
 * Sequential connects to a RESP server on 127.0.0.1, for benchmarks/connect-storm.sh.
 *
 * usage: connect_storm PORT COUNT hold|close
 *        connect_storm floor COUNT hold|close
 *
 * Makes COUNT blocking connects one after the other. "hold" keeps every connection open, "close"
 * closes each one right after its connect returns. A blocking connect returns once the kernel has
 * completed the handshake, before the server accepts, so the clock stops only when the server has
 * answered a PING sent after the last connect: the server accepts in queue order, so that reply
 * proves every earlier connection was accepted too. A full accept queue shows up as SYN drops
 * (TcpExtListenOverflows) and one-second retransmissions in the total.
 *
 * "floor" first forks the least possible server on a free port, pinned to CPU 0: a blocking accept
 * loop that keeps (or closes) what it accepts and answers the PING on the last connection. Its time is
 * what the kernel and this client cost at that moment, the line the real servers are measured against.
 *
 * Prints: "<connects seconds> <total seconds>".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what)
{
    perror(what);
    exit(1);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_to(const struct sockaddr_in *address)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)address, sizeof *address) != 0)
        fail("connect_storm: connect");
    return fd;
}

/* Sends PING on fd and waits for +PONG (refusal lines such as -ERR max clients fail the run). */
static void ping(int fd)
{
    static const char request[] = "*1\r\n$4\r\nPING\r\n";
    char reply[64];
    size_t received = 0;
    if (write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1))
        fail("connect_storm: write");
    while (received < 7) {
        ssize_t n = read(fd, reply + received, sizeof reply - 1 - received);
        if (n <= 0) {
            fprintf(stderr, "connect_storm: the server closed the connection\n");
            exit(1);
        }
        received += (size_t)n;
    }
    if (memcmp(reply, "+PONG\r\n", 7) != 0) {
        reply[received] = '\0';
        fprintf(stderr, "connect_storm: unexpected reply: %s\n", reply);
        exit(1);
    }
}

/* The floor server: accepts `count` connections in order, then answers the PING on the last one. */
static void serve_floor(int listener, int count, int hold)
{
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    sched_setaffinity(0, sizeof cpus, &cpus);
    int last = -1;
    for (int i = 0; i < count; i++) {
        if (last >= 0 && !hold)
            close(last);
        if ((last = accept(listener, NULL, NULL)) < 0)
            fail("connect_storm: accept");
    }
    char request[64];
    if (read(last, request, sizeof request) <= 0 || write(last, "+PONG\r\n", 7) != 7)
        fail("connect_storm: floor reply");
    exit(0);
}

/* Starts the floor server in a child process; returns the port it listens on. */
static int start_floor(int count, int hold)
{
    struct sockaddr_in address = { .sin_family = AF_INET };
    socklen_t length = sizeof address;
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0
        || listen(listener, 4096) != 0 || getsockname(listener, (struct sockaddr *)&address, &length) != 0)
        fail("connect_storm: floor listener");
    pid_t child = fork();
    if (child < 0)
        fail("connect_storm: fork");
    if (child == 0)
        serve_floor(listener, count, hold);
    close(listener);
    return ntohs(address.sin_port);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[3], "hold") != 0 && strcmp(argv[3], "close") != 0)) {
        fprintf(stderr, "usage: connect_storm PORT|floor COUNT hold|close\n");
        return 2;
    }
    int count = atoi(argv[2]);
    int hold = strcmp(argv[3], "hold") == 0;
    int floor = strcmp(argv[1], "floor") == 0;
    int port = floor ? start_floor(count, hold) : atoi(argv[1]);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    int *held = hold ? calloc((size_t)count, sizeof *held) : NULL;

    double start = now_seconds();
    int last = -1;
    for (int i = 0; i < count; i++) {
        last = connect_to(&address);
        if (hold)
            held[i] = last;
        else if (i + 1 < count)
            close(last);
    }
    double connected = now_seconds();
    ping(last);
    double answered = now_seconds();

    printf("%.3f %.3f\n", connected - start, answered - start);
    if (hold) {
        for (int i = 0; i < count; i++)
            close(held[i]);
    } else {
        close(last);
    }
    if (floor)
        wait(NULL);
    return 0;
}
