/*
 * select(2) for the EventLoop "select" backend.
 *
 * fd_set is a bit array whose layout and macros (FD_SET, FD_ISSET) belong to libc, so the sets are
 * built here rather than mirrored in C#. The managed side passes dense arrays of descriptors and
 * interest bits and gets back one readiness byte per descriptor.
 *
 * FD_SET on a descriptor >= FD_SETSIZE writes past the end of the set (undefined behaviour, in
 * practice stack corruption), so every descriptor is checked before any set is touched.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>

#define EL_READ 1
#define EL_WRITE 2

int el_select_fd_setsize(void) { return FD_SETSIZE; }

static int validate(const int32_t *fds, int32_t count) {
    for (int32_t i = 0; i < count; i++)
        if (fds[i] < 0 || fds[i] >= FD_SETSIZE)
            return -EINVAL;
    return 0;
}

/* Fills the three sets from the interest bits; returns the highest descriptor watched, or -1. */
static int build_sets(const int32_t *fds, const uint8_t *interest, int32_t count,
                      fd_set *readable, fd_set *writable, fd_set *exceptional) {
    int max_fd = -1;
    FD_ZERO(readable);
    FD_ZERO(writable);
    FD_ZERO(exceptional);
    for (int32_t i = 0; i < count; i++) {
        int fd = fds[i];
        if ((interest[i] & (EL_READ | EL_WRITE)) == 0)
            continue; /* a paused descriptor: not watched at all */
        if (interest[i] & EL_READ)
            FD_SET(fd, readable);
        if (interest[i] & EL_WRITE)
            FD_SET(fd, writable);
        FD_SET(fd, exceptional);
        if (fd > max_fd)
            max_fd = fd;
    }
    return max_fd;
}

/* Writes one readiness byte per descriptor; returns how many are non-zero. */
static int collect(const int32_t *fds, const uint8_t *interest, int32_t count,
                   const fd_set *readable, const fd_set *writable, const fd_set *exceptional,
                   uint8_t *ready) {
    int ready_count = 0;
    for (int32_t i = 0; i < count; i++) {
        int fd = fds[i];
        uint8_t watched = interest[i] & (EL_READ | EL_WRITE);
        uint8_t bits = 0;
        if (watched != 0) {
            if (FD_ISSET(fd, readable))
                bits |= EL_READ;
            if (FD_ISSET(fd, writable))
                bits |= EL_WRITE;
            /* An exceptional condition is reported through whichever path is watched: the
               owner's next read or write returns it. */
            if (FD_ISSET(fd, exceptional))
                bits |= watched;
            bits &= watched;
        }
        ready[i] = bits;
        if (bits != 0)
            ready_count++;
    }
    return ready_count;
}

int el_select_wait(const int32_t *fds, const uint8_t *interest, int32_t count, int32_t timeout_ms,
                   uint8_t *ready) {
    if (count < 0 || validate(fds, count) != 0)
        return -EINVAL;
    fd_set readable, writable, exceptional;
    int max_fd = build_sets(fds, interest, count, &readable, &writable, &exceptional);
    struct timeval timeout = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int rc = select(max_fd + 1, &readable, &writable, &exceptional, timeout_ms < 0 ? NULL : &timeout);
    if (rc < 0)
        return errno == EINTR ? 0 : -errno;
    if (rc == 0)
        return 0; /* ready[] is only meaningful when the result is positive */
    return collect(fds, interest, count, &readable, &writable, &exceptional, ready);
}
