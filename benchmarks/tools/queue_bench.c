/*
 * Task-queue load generator for benchmarks/tasks.sh and benchmarks/task-memory.sh: one thread, one
 * epoll loop (level-triggered), many non-blocking connections, requests pipelined, one write per
 * connection per loop pass.
 *
 * usage: queue_bench SYSTEM MODE [options]
 *   SYSTEM  redis-list    LPUSH q <payload>; consumers BRPOP q 1 (no ack)
 *           redis-stream  XADD s * d <payload>; consumers XREADGROUP GROUP g cN COUNT k BLOCK 1000
 *                         STREAMS s >, then XACK s g <ids> and the next XREADGROUP in one write
 *                         (the group must exist: XGROUP CREATE s g $ MKSTREAM)
 *           beanstalkd    put 0 0 60 <n>; consumers reserve-with-timeout 1, then "delete <id>" and
 *                         the next reserve in one write (text protocol)
 *           eventloop     SUBMIT <task> ARGS <payload>; results collected with RESULT <id> TIMEOUT 10000,
 *                         or (--collect fetch) consumers acting as external workers: FETCH COUNT k BLOCK
 *                         1000 FROM default, then ACK <id> <attempt> for each and the next FETCH in one write
 *   MODE    enqueue    producers only; a job counts when its enqueue is acknowledged
 *           lifecycle  producers and consumers at once; a job counts when it is acked (redis-list:
 *                      popped; eventloop: its RESULT reply arrived)
 *           roundtrip  one connection, one job at a time through its whole lifecycle (enqueue,
 *                      take, ack; eventloop: SUBMIT then RESULT); latency per job
 *           single     one connection, one enqueue at a time; latency per enqueue
 *   --port P (required)      --jobs N (200000)        --producers C (50)   --inflight K (16)
 *   --consumers C (50)       --consumer-inflight K (1; eventloop consumers: 16)
 *   --payload BYTES (64)     --count K (16, XREADGROUP COUNT)              --time-cap SECONDS (60)
 *   --task NAME (echo)       --collect consumers|same|fetch (eventloop lifecycle: who collects)
 *
 * eventloop lifecycle, --collect consumers (default): producers keep K SUBMITs in flight and hand
 * each id they get back to the consumer connections, which keep K RESULT <id> TIMEOUT 10000 in
 * flight each. --collect same: each producer sends RESULT for the ids it got itself, pipelined behind
 * its SUBMITs, and keeps K tasks (submitted, result not yet back) in flight. --collect fetch: submit
 * a task with no in-process handler (--task external) and the consumers run it as external workers.
 *
 * Prints one line of key=value pairs: jobs (counted), seconds (from the first request to the N-th
 * job), jobs_per_s, p50_us/p99_us (latency per request in enqueue/single; per job in roundtrip and in
 * eventloop lifecycle --collect same, from its SUBMIT's send to its RESULT's reply; none in the other
 * lifecycles, whose producers outrun the workers, so that a job's latency would be the backlog's wait),
 * client_cpu_s and client_busy_pct (this process's user+system time from getrusage over the
 * measured interval, against the wall time), errors (error replies), timed_out (1 if the time cap
 * stopped it first). Exit status 1 on a protocol error, a closed connection or any error reply.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum system { REDIS_LIST, REDIS_STREAM, BEANSTALKD, EVENTLOOP };
enum mode { ENQUEUE, LIFECYCLE, ROUNDTRIP, SINGLE };
enum kind { K_PUSH, K_POP, K_ACK, K_RESULT };
enum role { PRODUCER, CONSUMER };

#define FIFO_SLOTS 256 /* requests outstanding on one connection, at most */
#define MAX_IDS 256    /* ids in one XREADGROUP reply */
#define ID_BYTES 64    /* longest task id kept for RESULT */

typedef struct { const char *p; size_t n; } span;

typedef struct {
    char type;      /* '+', '-', ':', '$', '*'; beanstalkd: 'I'nserted, 'R'eserved, 'D'eleted, 'T'imed out, '-' other */
    int nil;        /* RESP null bulk or null array */
    long long integer;
    span str;       /* simple string, error or bulk at the top; beanstalkd: the id */
    int nids;
    span ids[MAX_IDS]; /* XREADGROUP: the entry ids; FETCH: the task ids */
    long long attempts[MAX_IDS]; /* FETCH: each task's attempt */
} reply;

typedef struct conn {
    int fd, role, index;
    char *rbuf; size_t rlen, rcap;
    char *wbuf; size_t wlen, wcap, woff;
    int want_out, dirty;
    int inflight;                 /* producer: jobs in flight; consumer: takes in flight */
    unsigned char kinds[FIFO_SLOTS];
    double sent_at[FIFO_SLOTS];
    unsigned head, tail;          /* FIFO of the requests awaiting a reply */
    double job_started;           /* roundtrip */
    char xread[256]; size_t xread_len; /* this consumer's XREADGROUP request */
} conn;

static enum system sys;
static enum mode mode;
static int port, producers = 50, consumers = 50, inflight = 16, consumer_inflight = -1, payload_len = 64;
static int count = 16, collect_same = 0, collect_fetch = 0;
static int id_depth = -1; /* where ids sit in a reply: XREADGROUP 4, FETCH 2 */
static long jobs = 200000;
static double time_cap = 60;
static const char *task = "echo";

static conn *conns;
static int nconns;
static conn **dirty;
static int ndirty;
static long sent, done, errors;
static double *latencies;
static long nlat;
static char push_req[1024];
static size_t push_len;
static char *id_ring; /* eventloop consumers mode: ids waiting for a RESULT */
static unsigned char *id_lens;
static long id_head, id_tail;
static int first_error_shown;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "queue_bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- output buffers ---- */

static void mark_dirty(conn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        dirty[ndirty++] = c;
    }
}

static void append(conn *c, const void *data, size_t n)
{
    if (c->wlen + n > c->wcap) {
        while (c->wlen + n > c->wcap)
            c->wcap *= 2;
        if (!(c->wbuf = realloc(c->wbuf, c->wcap)))
            die("out of memory");
    }
    memcpy(c->wbuf + c->wlen, data, n);
    c->wlen += n;
    mark_dirty(c);
}

/* A string literal, its length counted by the compiler. */
#define APPEND_LITERAL(c, literal) append((c), (literal), sizeof(literal) - 1)

static void appendf(conn *c, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    append(c, tmp, (size_t)n);
}

/* A RESP bulk string. */
static void append_bulk(conn *c, const char *s, size_t n)
{
    appendf(c, "$%zu\r\n", n);
    append(c, s, n);
    APPEND_LITERAL(c, "\r\n");
}

static void expect(conn *c, enum kind k)
{
    if (c->tail - c->head >= FIFO_SLOTS)
        die("more than %d requests outstanding on one connection", FIFO_SLOTS);
    c->kinds[c->tail % FIFO_SLOTS] = (unsigned char)k;
    c->sent_at[c->tail % FIFO_SLOTS] = latencies ? now() : 0;
    c->tail++;
}

static void flush(conn *c, int epfd)
{
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            die("write: %s", strerror(errno));
        }
        c->woff += (size_t)n;
    }
    int pending = c->woff < c->wlen;
    if (!pending)
        c->woff = c->wlen = 0;
    if (pending != c->want_out) {
        struct epoll_event ev = { .events = EPOLLIN | (pending ? EPOLLOUT : 0), .data.ptr = c };
        if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
            die("epoll_ctl: %s", strerror(errno));
        c->want_out = pending;
    }
}

/* ---- requests ---- */

static void build_push_request(void)
{
    char payload[512];
    if (payload_len < 1 || payload_len > (int)sizeof payload)
        die("--payload must be 1 to %zu bytes", sizeof payload);
    for (int i = 0; i < payload_len; i++)
        payload[i] = (char)('a' + i % 26);
    int n = 0;
    switch (sys) {
    case REDIS_LIST:
        n = snprintf(push_req, sizeof push_req, "*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$%d\r\n%.*s\r\n", payload_len, payload_len, payload);
        break;
    case REDIS_STREAM:
        n = snprintf(push_req, sizeof push_req, "*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nd\r\n$%d\r\n%.*s\r\n",
                     payload_len, payload_len, payload);
        break;
    case BEANSTALKD:
        n = snprintf(push_req, sizeof push_req, "put 0 0 60 %d\r\n%.*s\r\n", payload_len, payload_len, payload);
        break;
    case EVENTLOOP:
        n = snprintf(push_req, sizeof push_req, "*4\r\n$6\r\nSUBMIT\r\n$%zu\r\n%s\r\n$4\r\nARGS\r\n$%d\r\n%.*s\r\n",
                     strlen(task), task, payload_len, payload_len, payload);
        break;
    }
    push_len = (size_t)n;
}

static void send_push(conn *c)
{
    append(c, push_req, push_len);
    expect(c, K_PUSH);
    c->inflight++;
    sent++;
    if (mode == ROUNDTRIP)
        c->job_started = now();
}

static void send_pop(conn *c)
{
    switch (sys) {
    case REDIS_LIST:
        APPEND_LITERAL(c, "*3\r\n$5\r\nBRPOP\r\n$1\r\nq\r\n$1\r\n1\r\n");
        break;
    case REDIS_STREAM:
        append(c, c->xread, c->xread_len);
        break;
    case BEANSTALKD:
        APPEND_LITERAL(c, "reserve-with-timeout 1\r\n");
        break;
    case EVENTLOOP: /* --collect fetch */
        append(c, c->xread, c->xread_len);
        break;
    }
    expect(c, K_POP);
}

static void send_result(conn *c, const char *id, size_t n)
{
    APPEND_LITERAL(c, "*4\r\n$6\r\nRESULT\r\n");
    append_bulk(c, id, n);
    APPEND_LITERAL(c, "$7\r\nTIMEOUT\r\n$5\r\n10000\r\n");
    expect(c, K_RESULT);
}

/* Producer: keeps its window full until every job is sent. */
static void refill_producer(conn *c)
{
    int window = (mode == ROUNDTRIP || mode == SINGLE) ? 1 : inflight;
    while (c->inflight < window && sent < jobs)
        send_push(c);
}

/* eventloop consumers: takes ids from the ring while this consumer has room. */
static void refill_consumer(conn *c)
{
    while (c->inflight < consumer_inflight && id_head < id_tail) {
        long slot = id_head++ % jobs;
        send_result(c, id_ring + slot * ID_BYTES, id_lens[slot]);
        c->inflight++;
    }
}

static void feed_consumers(void)
{
    static int next;
    for (int i = 0; i < consumers && id_head < id_tail; i++) {
        conn *c = &conns[producers + (next + i) % consumers];
        refill_consumer(c);
    }
    next = (next + 1) % (consumers ? consumers : 1);
}

/* ---- reply parsers: bytes consumed, 0 when incomplete, -1 on a protocol error ---- */

static long parse_line(const char *p, size_t n)
{
    const char *cr = memchr(p, '\r', n);
    if (!cr)
        return 0;
    if ((size_t)(cr - p) + 1 >= n)
        return 0;
    if (cr[1] != '\n')
        return -1;
    return cr - p; /* length of the line without CRLF */
}

static long parse_resp(const char *p, size_t n, int depth, int index, reply *r)
{
    if (n < 1)
        return 0;
    long line = parse_line(p, n);
    if (line <= 0)
        return line;
    long long v = 0;
    int neg = 0;
    if (p[0] == ':' || p[0] == '$' || p[0] == '*') {
        long i = 1;
        if (p[1] == '-') { neg = 1; i = 2; }
        for (; i < line; i++) {
            if (p[i] < '0' || p[i] > '9')
                return -1;
            v = v * 10 + (p[i] - '0');
        }
        if (neg)
            v = -v;
    }
    long header = line + 2;
    if (depth == 0) {
        r->type = p[0];
        r->integer = v;
    }
    switch (p[0]) {
    case '+':
    case '-':
        if (depth == 0)
            r->str = (span){ p + 1, (size_t)line - 1 };
        return header;
    case ':':
        if (depth == id_depth && index == 1 && r->nids > 0 && r->nids <= MAX_IDS)
            r->attempts[r->nids - 1] = v;
        return header;
    case '$':
        if (v < 0) {
            if (depth == 0)
                r->nil = 1;
            return header;
        }
        if ((size_t)header + (size_t)v + 2 > n)
            return 0;
        if (depth == 0)
            r->str = (span){ p + header, (size_t)v };
        if (depth == id_depth && index == 0 && r->nids < MAX_IDS)
            r->ids[r->nids++] = (span){ p + header, (size_t)v };
        return header + v + 2;
    case '*': {
        if (v < 0) {
            if (depth == 0)
                r->nil = 1;
            return header;
        }
        long off = header;
        for (long long i = 0; i < v; i++) {
            long used = parse_resp(p + off, n - (size_t)off, depth + 1, (int)i, r);
            if (used <= 0)
                return used;
            off += used;
        }
        return off;
    }
    default:
        return -1;
    }
}

static long parse_beanstalkd(const char *p, size_t n, reply *r)
{
    long line = parse_line(p, n);
    if (line <= 0)
        return line;
    if (line > 9 && memcmp(p, "INSERTED ", 9) == 0) {
        r->type = 'I';
        return line + 2;
    }
    if (line == 7 && memcmp(p, "DELETED", 7) == 0) {
        r->type = 'D';
        return line + 2;
    }
    if (line == 9 && memcmp(p, "TIMED_OUT", 9) == 0) {
        r->type = 'T';
        return line + 2;
    }
    if (line > 9 && memcmp(p, "RESERVED ", 9) == 0) {
        const char *id = p + 9, *sp = memchr(id, ' ', (size_t)line - 9);
        if (!sp)
            return -1;
        long bytes = atol(sp + 1);
        if ((size_t)line + 2 + (size_t)bytes + 2 > n)
            return 0;
        r->type = 'R';
        r->str = (span){ id, (size_t)(sp - id) };
        return line + 2 + bytes + 2;
    }
    r->type = '-';
    r->str = (span){ p, (size_t)line };
    return line + 2;
}

static void record_latency(double since)
{
    if (latencies && nlat < jobs)
        latencies[nlat++] = (now() - since) * 1e6;
}

static void error_reply(const reply *r)
{
    errors++;
    if (!first_error_shown) {
        first_error_shown = 1;
        fprintf(stderr, "queue_bench: error reply: %.*s\n", (int)r->str.n, r->str.p);
    }
}

static int is_error(const reply *r)
{
    return r->type == '-';
}

/* ---- what each reply leads to ---- */

static void on_reply(conn *c, enum kind k, double sent_at, reply *r)
{
    switch (k) {
    case K_PUSH:
        if (is_error(r))
            error_reply(r);
        if (mode == ENQUEUE || mode == SINGLE) {
            done++;
            record_latency(sent_at);
            c->inflight--;
            refill_producer(c);
        } else if (sys == EVENTLOOP && collect_fetch) {
            c->inflight--;
            refill_producer(c);
        } else if (sys == EVENTLOOP && (collect_same || mode == ROUNDTRIP)) {
            if (is_error(r) || r->str.n > ID_BYTES) {
                done++;
                c->inflight--;
                refill_producer(c);
            } else {
                send_result(c, r->str.p, r->str.n);
                c->sent_at[(c->tail - 1) % FIFO_SLOTS] = sent_at; /* the job began with its SUBMIT */
            }
        } else if (mode == ROUNDTRIP) {
            send_pop(c);
        } else if (sys == EVENTLOOP) { /* lifecycle, consumers collect */
            c->inflight--;
            if (is_error(r) || r->str.n > ID_BYTES) {
                done++;
            } else {
                long slot = id_tail++ % jobs;
                memcpy(id_ring + slot * ID_BYTES, r->str.p, r->str.n);
                id_lens[slot] = (unsigned char)r->str.n;
                feed_consumers();
            }
            refill_producer(c);
        } else {
            c->inflight--;
            refill_producer(c);
        }
        break;
    case K_POP:
        if (sys == REDIS_LIST) {
            if (is_error(r)) {
                error_reply(r);
            } else if (!r->nil) {
                done++;
                if (mode == ROUNDTRIP) {
                    record_latency(c->job_started);
                    c->inflight--;
                    refill_producer(c);
                    break;
                }
            } else if (mode == ROUNDTRIP) {
                send_pop(c);
                break;
            }
            if (mode != ROUNDTRIP)
                send_pop(c);
        } else if (sys == REDIS_STREAM) {
            if (is_error(r)) {
                error_reply(r);
                send_pop(c);
            } else if (r->nil || r->nids == 0) {
                send_pop(c);
            } else {
                appendf(c, "*%d\r\n$4\r\nXACK\r\n$1\r\ns\r\n$1\r\ng\r\n", r->nids + 3);
                for (int i = 0; i < r->nids; i++)
                    append_bulk(c, r->ids[i].p, r->ids[i].n);
                expect(c, K_ACK);
                if (mode != ROUNDTRIP)
                    send_pop(c);
            }
        } else if (sys == EVENTLOOP) { /* FETCH: ACK each task with its attempt, then the next FETCH */
            if (is_error(r))
                error_reply(r);
            for (int i = 0; i < r->nids; i++) {
                APPEND_LITERAL(c, "*3\r\n$3\r\nACK\r\n");
                append_bulk(c, r->ids[i].p, r->ids[i].n);
                char attempt[24];
                int n = snprintf(attempt, sizeof attempt, "%lld", r->attempts[i]);
                append_bulk(c, attempt, (size_t)n);
                expect(c, K_ACK);
            }
            send_pop(c);
        } else { /* beanstalkd */
            if (r->type == 'R') {
                APPEND_LITERAL(c, "delete ");
                append(c, r->str.p, r->str.n);
                APPEND_LITERAL(c, "\r\n");
                expect(c, K_ACK);
                if (mode != ROUNDTRIP)
                    send_pop(c);
            } else {
                if (r->type != 'T')
                    error_reply(r);
                send_pop(c);
            }
        }
        break;
    case K_ACK:
        if (is_error(r) || (sys == BEANSTALKD && r->type != 'D')) {
            error_reply(r);
            done++;
        } else {
            done += sys == REDIS_STREAM ? r->integer : 1; /* XACK: how many; DELETED, +OK: one */
        }
        if (mode == ROUNDTRIP) {
            record_latency(c->job_started);
            c->inflight--;
            refill_producer(c);
        }
        break;
    case K_RESULT:
        if (is_error(r) || r->nil)
            error_reply(r);
        done++;
        c->inflight--;
        if (mode == ROUNDTRIP)
            record_latency(c->job_started);
        else if (collect_same)
            record_latency(sent_at); /* lifecycle: from the job's SUBMIT to its RESULT */
        if (c->role == PRODUCER)
            refill_producer(c);
        else
            refill_consumer(c);
        break;
    }
}

static void on_readable(conn *c)
{
    if (c->rcap - c->rlen < 16384) {
        c->rcap *= 2;
        if (!(c->rbuf = realloc(c->rbuf, c->rcap)))
            die("out of memory");
    }
    ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        die("read: %s", strerror(errno));
    }
    if (n == 0)
        die("the server closed a connection");
    c->rlen += (size_t)n;
    size_t off = 0;
    for (;;) {
        static reply r;
        r.nil = 0;
        r.nids = 0;
        r.str = (span){ "", 0 };
        long used = sys == BEANSTALKD ? parse_beanstalkd(c->rbuf + off, c->rlen - off, &r)
                                      : parse_resp(c->rbuf + off, c->rlen - off, 0, 0, &r);
        if (used < 0)
            die("protocol error in a reply: %.40s", c->rbuf + off);
        if (used == 0)
            break;
        if (c->head == c->tail)
            die("a reply nothing asked for: %.40s", c->rbuf + off);
        unsigned slot = c->head++ % FIFO_SLOTS;
        on_reply(c, (enum kind)c->kinds[slot], c->sent_at[slot], &r);
        off += (size_t)used;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
}

static int connect_to(void)
{
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
        die("connect to port %d: %s", port, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: queue_bench redis-list|redis-stream|beanstalkd|eventloop enqueue|lifecycle|roundtrip|single "
                    "--port P [--jobs N] [--producers C] [--inflight K] [--consumers C] [--consumer-inflight K] "
                    "[--payload B] [--count K] [--time-cap S] [--task NAME] [--collect consumers|same|fetch]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    if (!strcmp(argv[1], "redis-list")) sys = REDIS_LIST;
    else if (!strcmp(argv[1], "redis-stream")) sys = REDIS_STREAM;
    else if (!strcmp(argv[1], "beanstalkd")) sys = BEANSTALKD;
    else if (!strcmp(argv[1], "eventloop")) sys = EVENTLOOP;
    else usage();
    if (!strcmp(argv[2], "enqueue")) mode = ENQUEUE;
    else if (!strcmp(argv[2], "lifecycle")) mode = LIFECYCLE;
    else if (!strcmp(argv[2], "roundtrip")) mode = ROUNDTRIP;
    else if (!strcmp(argv[2], "single")) mode = SINGLE;
    else usage();
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc)
            usage();
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--jobs")) jobs = atol(v);
        else if (!strcmp(k, "--producers")) producers = atoi(v);
        else if (!strcmp(k, "--consumers")) consumers = atoi(v);
        else if (!strcmp(k, "--inflight")) inflight = atoi(v);
        else if (!strcmp(k, "--consumer-inflight")) consumer_inflight = atoi(v);
        else if (!strcmp(k, "--payload")) payload_len = atoi(v);
        else if (!strcmp(k, "--count")) count = atoi(v);
        else if (!strcmp(k, "--time-cap")) time_cap = atof(v);
        else if (!strcmp(k, "--task")) task = v;
        else if (!strcmp(k, "--collect")) {
            if (!strcmp(v, "same")) collect_same = 1;
            else if (!strcmp(v, "fetch")) collect_fetch = 1;
            else if (strcmp(v, "consumers")) usage();
        } else usage();
    }
    if (port <= 0 || jobs < 1 || producers < 1 || inflight < 1 || inflight > FIFO_SLOTS / 2 || count < 1 || count > MAX_IDS)
        usage();
    if (mode == ROUNDTRIP || mode == SINGLE) {
        producers = 1;
        inflight = 1;
    }
    if (mode != LIFECYCLE || (sys == EVENTLOOP && collect_same))
        consumers = 0;
    if (consumer_inflight < 0)
        consumer_inflight = sys == EVENTLOOP && !collect_fetch ? 16 : 1;
    if (sys == REDIS_STREAM)
        id_depth = 4;
    if (sys == EVENTLOOP && collect_fetch)
        id_depth = 2;
    if (consumer_inflight < 1 || consumer_inflight > FIFO_SLOTS / 2)
        usage();
    build_push_request();
    if (mode != LIFECYCLE || (sys == EVENTLOOP && collect_same))
        latencies = malloc(sizeof *latencies * (size_t)jobs);
    if (sys == EVENTLOOP && mode == LIFECYCLE && !collect_same && !collect_fetch) {
        id_ring = malloc((size_t)jobs * ID_BYTES);
        id_lens = malloc((size_t)jobs);
        if (!id_ring || !id_lens)
            die("out of memory");
    }

    nconns = producers + consumers;
    conns = calloc((size_t)nconns, sizeof *conns);
    dirty = calloc((size_t)nconns, sizeof *dirty);
    int epfd = epoll_create1(0);
    for (int i = 0; i < nconns; i++) {
        conn *c = &conns[i];
        c->fd = connect_to();
        c->role = i < producers ? PRODUCER : CONSUMER;
        c->index = i;
        c->rcap = 65536;
        c->rbuf = malloc(c->rcap);
        c->wcap = 65536;
        c->wbuf = malloc(c->wcap);
        if (sys == REDIS_STREAM) {
            char name[16];
            int nl = snprintf(name, sizeof name, "c%d", i);
            char cnt[16];
            int cl = snprintf(cnt, sizeof cnt, "%d", mode == ROUNDTRIP ? 1 : count);
            c->xread_len = (size_t)snprintf(c->xread, sizeof c->xread,
                "*11\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$1\r\ng\r\n$%d\r\n%s\r\n$5\r\nCOUNT\r\n$%d\r\n%s\r\n"
                "$5\r\nBLOCK\r\n$4\r\n1000\r\n$7\r\nSTREAMS\r\n$1\r\ns\r\n$1\r\n>\r\n", nl, name, cl, cnt);
        }
        if (sys == EVENTLOOP && collect_fetch) {
            char cnt[16];
            int cl = snprintf(cnt, sizeof cnt, "%d", count);
            c->xread_len = (size_t)snprintf(c->xread, sizeof c->xread,
                "*7\r\n$5\r\nFETCH\r\n$5\r\nCOUNT\r\n$%d\r\n%s\r\n$5\r\nBLOCK\r\n$4\r\n1000\r\n$4\r\nFROM\r\n$7\r\ndefault\r\n",
                cl, cnt);
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            die("epoll_ctl: %s", strerror(errno));
    }

    double start = now(), cpu_start = cpu_seconds(), end = start;
    for (int i = 0; i < nconns; i++) {
        conn *c = &conns[i];
        if (c->role == PRODUCER) {
            refill_producer(c);
        } else if (sys != EVENTLOOP || collect_fetch) {
            for (int k = 0; k < consumer_inflight; k++)
                send_pop(c);
        }
    }
    int timed_out = 0;
    struct epoll_event events[512];
    while (done < jobs) {
        for (int i = 0; i < ndirty; i++) {
            dirty[i]->dirty = 0;
            flush(dirty[i], epfd);
        }
        ndirty = 0;
        int n = epoll_wait(epfd, events, 512, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            if (events[i].events & (EPOLLERR | EPOLLHUP))
                die("a connection failed");
            if (events[i].events & EPOLLOUT)
                mark_dirty(c);
            if (events[i].events & EPOLLIN)
                on_readable(c);
        }
        end = now();
        if (end - start > time_cap) {
            timed_out = 1;
            break;
        }
    }
    double cpu = cpu_seconds() - cpu_start, seconds = end - start;
    double p50 = 0, p99 = 0;
    if (latencies && nlat > 0) {
        qsort(latencies, (size_t)nlat, sizeof *latencies, compare_doubles);
        p50 = latencies[nlat / 2];
        p99 = latencies[(long)(nlat * 0.99)];
    }
    printf("jobs=%ld seconds=%.4f jobs_per_s=%.0f p50_us=%.1f p99_us=%.1f client_cpu_s=%.3f client_busy_pct=%.0f errors=%ld timed_out=%d\n",
           done, seconds, done / (seconds > 0 ? seconds : 1e-9), p50, p99, cpu, 100 * cpu / (seconds > 0 ? seconds : 1e-9),
           errors, timed_out);
    for (int i = 0; i < nconns; i++)
        close(conns[i].fd);
    return errors > 0 || timed_out ? 1 : 0;
}
