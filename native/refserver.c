/*
 * refserver: the least work a RESP2 server can do, as a baseline for EventLoop's benchmarks.
 *
 *   refserver [port]        (default 7380, binds 127.0.0.1)
 *
 * One thread, level-triggered epoll, non-blocking sockets. Each readable event does one read,
 * parses every complete request (multibulk or inline), and answers PING, ECHO, CONFIG and COMMAND
 * (the last two with an empty array, enough for redis-benchmark's start-up probes); anything else
 * is "-ERR unknown command". All replies produced by one read leave in one send; EPOLLOUT is
 * armed only while some of them are still pending. The number of clients is bounded only by the
 * descriptor limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 16384
#define MAX_INLINE_LENGTH (64 * 1024)         /* an inline request without a newline beyond this is garbage */
#define MAX_BULK_LENGTH (512L * 1024 * 1024)  /* Redis's proto-max-bulk-len */
#define MAX_MULTIBULK_COUNT (1024 * 1024)
#define MAX_PENDING_OUTPUT (64L * 1024 * 1024) /* a client that never reads is dropped past this */

typedef struct {
    char *data;
    size_t len, cap;
} buffer;

typedef struct {
    int fd;
    uint32_t events; /* the interest set epoll holds for this descriptor */
    int closing;     /* protocol error: close once the error reply is out, read nothing more */
    buffer in, out;
    size_t out_sent;
} conn;

/* The first two arguments are all any command here looks at; they point into the input buffer. */
typedef struct {
    long argc;
    const char *arg[2];
    size_t arg_len[2];
} request;

enum { PARSE_INCOMPLETE = 0, PARSE_DONE = 1, PARSE_ERROR = -1 };

static int epfd, listen_fd, spare_fd;
static conn **conns; /* indexed by descriptor */
static size_t conns_cap;

static int buf_reserve(buffer *b, size_t extra) {
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : READ_CHUNK;
    while (cap - b->len < extra)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

static void buf_append(buffer *b, const char *p, size_t n) {
    if (buf_reserve(b, n) == 0) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}

static void reply(conn *c, const char *text) { buf_append(&c->out, text, strlen(text)); }

static void reply_bulk(conn *c, const char *p, size_t n) {
    char header[32];
    int header_len = snprintf(header, sizeof header, "$%zu\r\n", n);
    buf_append(&c->out, header, (size_t)header_len);
    buf_append(&c->out, p, n);
    buf_append(&c->out, "\r\n", 2);
}

static void close_conn(conn *c) {
    close(c->fd); /* also leaves the epoll set: no dup()s exist */
    conns[c->fd] = NULL;
    free(c->in.data);
    free(c->out.data);
    free(c);
}

/* EPOLLIN unless closing, EPOLLOUT only while output is pending; epoll_ctl only on a change. */
static void update_interest(conn *c, int output_pending) {
    uint32_t events = (c->closing ? 0 : EPOLLIN) | (output_pending ? EPOLLOUT : 0);
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.fd = c->fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

/* One send for everything pending; what the socket did not take waits for EPOLLOUT. */
static void flush_output(conn *c) {
    size_t pending = c->out.len - c->out_sent;
    if (pending > 0) {
        ssize_t n = send(c->fd, c->out.data + c->out_sent, pending, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            close_conn(c);
            return;
        }
        if (n > 0)
            c->out_sent += (size_t)n;
    }
    if (c->out_sent == c->out.len) {
        c->out.len = c->out_sent = 0;
        if (c->closing) {
            close_conn(c);
            return;
        }
        update_interest(c, 0);
    } else if (c->out.len - c->out_sent > MAX_PENDING_OUTPUT) {
        close_conn(c);
    } else {
        update_interest(c, 1);
    }
}

/* Parses a decimal between p and end (exclusive); -1 when it is not one. */
static long parse_long(const char *p, const char *end) {
    long value = 0;
    if (p == end || end - p > 18)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        value = value * 10 + (*p - '0');
    }
    return value;
}

/* Reads one "<prefix><number>\r\n" line; returns the number, or -2 if incomplete, -1 if malformed. */
static long parse_header(const char **p, const char *end, char prefix) {
    if (*p >= end)
        return -2;
    if (**p != prefix)
        return -1;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return end - *p > 32 ? -1 : -2;
    if (nl[-1] != '\r')
        return -1;
    long value = parse_long(*p + 1, nl - 1);
    *p = nl + 1;
    return value;
}

static int parse_multibulk(const char *start, const char *end, request *req, size_t *consumed) {
    const char *p = start;
    long count = parse_header(&p, end, '*');
    if (count == -2)
        return PARSE_INCOMPLETE;
    if (count < 0 || count > MAX_MULTIBULK_COUNT)
        return PARSE_ERROR;
    req->argc = count;
    for (long i = 0; i < count; i++) {
        long len = parse_header(&p, end, '$');
        if (len == -2)
            return PARSE_INCOMPLETE;
        if (len < 0 || len > MAX_BULK_LENGTH)
            return PARSE_ERROR;
        if (end - p < len + 2)
            return PARSE_INCOMPLETE;
        if (i < 2) {
            req->arg[i] = p;
            req->arg_len[i] = (size_t)len;
        }
        p += len + 2;
    }
    *consumed = (size_t)(p - start);
    return PARSE_DONE;
}

/* An inline request: space-separated words on one line (what telnet and redis-cli -x send). */
static int parse_inline(const char *start, const char *end, request *req, size_t *consumed) {
    const char *nl = memchr(start, '\n', (size_t)(end - start));
    if (!nl)
        return end - start > MAX_INLINE_LENGTH ? PARSE_ERROR : PARSE_INCOMPLETE;
    const char *line_end = nl > start && nl[-1] == '\r' ? nl - 1 : nl;
    req->argc = 0;
    for (const char *p = start; p < line_end;) {
        while (p < line_end && (*p == ' ' || *p == '\t'))
            p++;
        const char *word = p;
        while (p < line_end && *p != ' ' && *p != '\t')
            p++;
        if (p == word)
            break;
        if (req->argc < 2) {
            req->arg[req->argc] = word;
            req->arg_len[req->argc] = (size_t)(p - word);
        }
        req->argc++;
    }
    *consumed = (size_t)(nl + 1 - start);
    return PARSE_DONE;
}

static int is_command(const request *req, const char *name) {
    return req->arg_len[0] == strlen(name) && strncasecmp(req->arg[0], name, req->arg_len[0]) == 0;
}

static void execute(conn *c, const request *req) {
    if (req->argc == 0)
        return; /* an empty line or "*0": nothing to answer */
    if (is_command(req, "PING") && req->argc <= 2) {
        if (req->argc == 1)
            reply(c, "+PONG\r\n");
        else
            reply_bulk(c, req->arg[1], req->arg_len[1]);
    } else if (is_command(req, "ECHO") && req->argc == 2) {
        reply_bulk(c, req->arg[1], req->arg_len[1]);
    } else if (is_command(req, "CONFIG") || is_command(req, "COMMAND")) {
        reply(c, "*0\r\n");
    } else {
        reply(c, "-ERR unknown command\r\n");
    }
}

/* Answers every complete request in the input buffer and keeps the incomplete tail. */
static void process_input(conn *c) {
    size_t offset = 0;
    while (offset < c->in.len && !c->closing) {
        const char *start = c->in.data + offset, *end = c->in.data + c->in.len;
        request req;
        size_t consumed = 0;
        int rc = *start == '*' ? parse_multibulk(start, end, &req, &consumed)
                               : parse_inline(start, end, &req, &consumed);
        if (rc == PARSE_INCOMPLETE)
            break;
        if (rc == PARSE_ERROR) {
            reply(c, "-ERR Protocol error\r\n");
            c->closing = 1;
            break;
        }
        execute(c, &req);
        offset += consumed;
    }
    memmove(c->in.data, c->in.data + offset, c->in.len - offset);
    c->in.len -= offset;
}

static void on_readable(conn *c) {
    if (buf_reserve(&c->in, READ_CHUNK) != 0) {
        close_conn(c);
        return;
    }
    ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_conn(c);
        return;
    }
    c->in.len += (size_t)n;
    process_input(c);
    flush_output(c);
}

static int add_conn(int fd) {
    if ((size_t)fd >= conns_cap) {
        size_t cap = conns_cap ? conns_cap : 1024;
        while (cap <= (size_t)fd)
            cap *= 2;
        conn **grown = realloc(conns, cap * sizeof *conns);
        if (!grown)
            return -1;
        memset(grown + conns_cap, 0, (cap - conns_cap) * sizeof *conns);
        conns = grown;
        conns_cap = cap;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->fd = fd;
    c->events = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(c);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[fd] = c;
    return 0;
}

/* Out of descriptors: free the spare, accept and drop one pending client, take the spare back.
   Without this a level-triggered listener stays readable and the loop spins. */
static void shed_one_client(void) {
    close(spare_fd);
    int fd = accept(listen_fd, NULL, NULL);
    if (fd >= 0)
        close(fd);
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_clients(void) {
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (add_conn(fd) != 0)
                close(fd);
        } else if (errno == EINTR || errno == ECONNABORTED) {
            continue;
        } else {
            if (errno == EMFILE || errno == ENFILE)
                shed_one_client();
            return;
        }
    }
}

static int open_listener(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 4096) != 0) {
        fprintf(stderr, "refserver: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv) {
    long port = argc > 1 ? strtol(argv[1], NULL, 10) : 7380;
    if (argc > 2 || port <= 0 || port > 65535) {
        fprintf(stderr, "usage: refserver [port]   (default 7380)\n");
        return 2;
    }
    listen_fd = open_listener((int)port);
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event listen_ev = {.events = EPOLLIN, .data.fd = listen_fd};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &listen_ev) != 0) {
        perror("refserver: epoll");
        return 1;
    }
    printf("refserver listening on 127.0.0.1:%ld\n", port);
    fflush(stdout);
    static struct epoll_event events[1024];
    for (;;) {
        int n = epoll_wait(epfd, events, 1024, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listen_fd) {
                accept_clients();
                continue;
            }
            conn *c = conns[fd];
            if (c && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                on_readable(c);
            if (c && conns[fd] == c && (events[i].events & EPOLLOUT))
                flush_output(c);
        }
    }
}
