/* Power-cut recorder: an LD_PRELOAD shim that logs what a process does to the files
 * under one directory, so that the state a power cut would leave can be rebuilt.
 *
 * A kill -9 loses nothing the process wrote (the page cache survives it); a power cut
 * loses every write that was not made durable. This shim lets each write through to
 * the real file (the process sees a normal file system) and appends a record of it to
 * a log: opens (fd -> path, O_TRUNC), writes with their offset and bytes, truncations,
 * fsync/fdatasync/sync_file_range/syncfs/sync, renames, unlinks and closes.
 * simulators/powercut/image.py replays the log to rebuild the directory.
 *
 * Environment: LADDA_POWERCUT_DIR (the directory watched), LADDA_POWERCUT_LOG (the log,
 * appended to). Record (little-endian): u32 size of the whole record, u8 op, 3 pad,
 * i32 pid, i32 fd, i64 a, i64 b, u32 path length, path bytes, data bytes.
 *
 * Not seen: writes through stdio (glibc's internal calls), mmap'd writes (msync), fds
 * made by dup/dup2/fcntl(F_DUPFD). SQLite (pwrite64, fdatasync, ftruncate, unlink) and
 * Python's os and io modules (write, fsync, rename/replace) go through these symbols.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_OPEN = 1, OP_WRITE, OP_FTRUNCATE, OP_TRUNCATE, OP_FSYNC, OP_FDATASYNC, OP_SYNC_RANGE,
       OP_RENAME, OP_UNLINK, OP_CLOSE, OP_SYNCFS, OP_SYNC };

#define MAX_FD 65536
static unsigned char watched[MAX_FD];
static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static char root[PATH_MAX];
static size_t root_len;
static int log_fd = -1;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_truncate)(const char *, off_t);
static int (*real_truncate64)(const char *, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off64_t, off64_t, unsigned int);
static int (*real_syncfs)(int);
static void (*real_sync)(void);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_close)(int);

#define RESOLVE(name) if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static void resolve_all(void) {
    RESOLVE(open); RESOLVE(openat); RESOLVE(write); RESOLVE(pwrite); RESOLVE(pwrite64); RESOLVE(writev);
    RESOLVE(pwritev); RESOLVE(ftruncate); RESOLVE(ftruncate64); RESOLVE(truncate); RESOLVE(truncate64);
    RESOLVE(fsync); RESOLVE(fdatasync); RESOLVE(sync_file_range); RESOLVE(syncfs); RESOLVE(sync);
    RESOLVE(rename); RESOLVE(renameat); RESOLVE(renameat2); RESOLVE(unlink); RESOLVE(unlinkat); RESOLVE(close);
}

/* A child forked while another thread held the lock must not wait for it forever. */
static void reset_in_child(void) {
    pthread_mutex_t fresh = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    memcpy(&lock, &fresh, sizeof lock);
}

__attribute__((constructor)) static void init(void) {
    resolve_all();
    pthread_atfork(NULL, NULL, reset_in_child);
    const char *dir = getenv("LADDA_POWERCUT_DIR"), *log = getenv("LADDA_POWERCUT_LOG");
    if (!dir || !log || !realpath(dir, root)) return;
    root_len = strlen(root);
    log_fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static int under_root(const char *path) {
    return log_fd >= 0 && strncmp(path, root, root_len) == 0 && (path[root_len] == '/' || path[root_len] == 0);
}

static int is_watched(int fd) { return log_fd >= 0 && fd >= 0 && fd < MAX_FD && watched[fd]; }

/* Append one record with a single write(2): O_APPEND keeps records of several
 * processes whole. Called with the lock held. */
static void record(int op, int fd, int64_t a, int64_t b, const char *path, size_t path_len,
                   const void *data, size_t data_len) {
    unsigned char head[36];
    uint32_t size = (uint32_t)(sizeof head + path_len + data_len), plen = (uint32_t)path_len;
    int32_t pid = (int32_t)getpid(), fd32 = fd;
    memcpy(head, &size, 4); head[4] = (unsigned char)op; head[5] = head[6] = head[7] = 0;
    memcpy(head + 8, &pid, 4); memcpy(head + 12, &fd32, 4); memcpy(head + 16, &a, 8); memcpy(head + 24, &b, 8);
    memcpy(head + 32, &plen, 4);
    unsigned char *buf = malloc(size);
    if (!buf) return;
    memcpy(buf, head, sizeof head);
    if (path_len) memcpy(buf + sizeof head, path, path_len);
    if (data_len) memcpy(buf + sizeof head + path_len, data, data_len);
    size_t done = 0;
    while (done < size) {
        ssize_t n = syscall(SYS_write, log_fd, buf + done, size - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    free(buf);
}

/* The canonical path of an open fd (the kernel's view, symlinks resolved). */
static int fd_path(int fd, char *out) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, PATH_MAX - 1);
    if (n < 0) return -1;
    out[n] = 0;
    return 0;
}

/* The canonical path a name refers to (its directory resolved; the name itself may not
 * exist yet, or any more). */
static int name_path(int dirfd, const char *name, char *out) {
    char joined[PATH_MAX * 2], dir[PATH_MAX], parent[PATH_MAX];
    if (name[0] == '/') snprintf(joined, sizeof joined, "%s", name);
    else {
        if (dirfd == AT_FDCWD) { if (!getcwd(dir, sizeof dir)) return -1; }
        else if (fd_path(dirfd, dir) < 0) return -1;
        snprintf(joined, sizeof joined, "%s/%s", dir, name);
    }
    if (strlen(joined) >= PATH_MAX) return -1;
    char *slash = strrchr(joined, '/');
    const char *base = slash + 1;
    *slash = 0;
    if (!realpath(joined[0] ? joined : "/", parent)) return -1;
    if (strlen(parent) + strlen(base) + 2 > PATH_MAX) return -1;
    strcpy(out, parent); strcat(out, "/"); strcat(out, base);
    return 0;
}

static void after_open(int fd, int flags) {
    char path[PATH_MAX];
    if (log_fd < 0 || fd < 0 || fd >= MAX_FD || fd_path(fd, path) < 0 || !under_root(path)) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) return;
    pthread_mutex_lock(&lock);
    watched[fd] = 1;
    record(OP_OPEN, fd, flags, 0, path, strlen(path), NULL, 0);
    pthread_mutex_unlock(&lock);
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = mode_arg(flags, ap); va_end(ap);
    RESOLVE(open);
    int fd = real_open(path, flags, mode);
    after_open(fd, flags);
    return fd;
}
int open64(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = mode_arg(flags, ap); va_end(ap);
    RESOLVE(open);
    int fd = real_open(path, flags | O_LARGEFILE, mode);
    after_open(fd, flags);
    return fd;
}
int openat(int dirfd, const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = mode_arg(flags, ap); va_end(ap);
    RESOLVE(openat);
    int fd = real_openat(dirfd, path, flags, mode);
    after_open(fd, flags);
    return fd;
}
int openat64(int dirfd, const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = mode_arg(flags, ap); va_end(ap);
    RESOLVE(openat);
    int fd = real_openat(dirfd, path, flags | O_LARGEFILE, mode);
    after_open(fd, flags);
    return fd;
}
int __open_2(const char *path, int flags) { return open(path, flags); }
int __open64_2(const char *path, int flags) { return open64(path, flags); }
int __openat_2(int dirfd, const char *path, int flags) { return openat(dirfd, path, flags); }
int __openat64_2(int dirfd, const char *path, int flags) { return openat64(dirfd, path, flags); }
int creat(const char *path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int creat64(const char *path, mode_t mode) { return open64(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

ssize_t write(int fd, const void *buf, size_t count) {
    RESOLVE(write);
    if (!is_watched(fd)) return real_write(fd, buf, count);
    pthread_mutex_lock(&lock);
    ssize_t n = real_write(fd, buf, count);
    int saved = errno;
    if (n > 0) {
        off_t end = lseek(fd, 0, SEEK_CUR);
        if (end >= 0) record(OP_WRITE, fd, (int64_t)end - n, 0, NULL, 0, buf, (size_t)n);
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}

static ssize_t logged_pwrite(int fd, const void *buf, size_t count, int64_t offset) {
    pthread_mutex_lock(&lock);
    RESOLVE(pwrite64);
    ssize_t n = real_pwrite64(fd, buf, count, offset);
    int saved = errno;
    if (n > 0) record(OP_WRITE, fd, offset, 0, NULL, 0, buf, (size_t)n);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}
ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    RESOLVE(pwrite);
    return is_watched(fd) ? logged_pwrite(fd, buf, count, offset) : real_pwrite(fd, buf, count, offset);
}
ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset) {
    RESOLVE(pwrite64);
    return is_watched(fd) ? logged_pwrite(fd, buf, count, offset) : real_pwrite64(fd, buf, count, offset);
}

/* The first n bytes of an iovec array, as one buffer (the caller frees it). */
static unsigned char *gather(const struct iovec *iov, int iovcnt, size_t n) {
    unsigned char *out = malloc(n ? n : 1);
    size_t done = 0;
    for (int i = 0; out && i < iovcnt && done < n; i++) {
        size_t take = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
        memcpy(out + done, iov[i].iov_base, take);
        done += take;
    }
    return out;
}
ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    RESOLVE(writev);
    if (!is_watched(fd)) return real_writev(fd, iov, iovcnt);
    pthread_mutex_lock(&lock);
    ssize_t n = real_writev(fd, iov, iovcnt);
    int saved = errno;
    if (n > 0) {
        off_t end = lseek(fd, 0, SEEK_CUR);
        unsigned char *data = gather(iov, iovcnt, (size_t)n);
        if (data && end >= 0) record(OP_WRITE, fd, (int64_t)end - n, 0, NULL, 0, data, (size_t)n);
        free(data);
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}
ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    RESOLVE(pwritev);
    if (!is_watched(fd)) return real_pwritev(fd, iov, iovcnt, offset);
    pthread_mutex_lock(&lock);
    ssize_t n = real_pwritev(fd, iov, iovcnt, offset);
    int saved = errno;
    if (n > 0) {
        unsigned char *data = gather(iov, iovcnt, (size_t)n);
        if (data) record(OP_WRITE, fd, offset, 0, NULL, 0, data, (size_t)n);
        free(data);
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}
ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t offset) { return pwritev(fd, iov, iovcnt, offset); }

static int logged_fd_op(int op, int fd, int64_t a, int64_t b, int rc) {
    if (rc == 0) record(op, fd, a, b, NULL, 0, NULL, 0);
    return rc;
}
#define FD_OP(op, call, a, b) do { \
    if (!is_watched(fd)) return call; \
    pthread_mutex_lock(&lock); int rc = call; int saved = errno; logged_fd_op(op, fd, a, b, rc); \
    pthread_mutex_unlock(&lock); errno = saved; return rc; } while (0)

int ftruncate(int fd, off_t length) { RESOLVE(ftruncate); FD_OP(OP_FTRUNCATE, real_ftruncate(fd, length), length, 0); }
int ftruncate64(int fd, off64_t length) { RESOLVE(ftruncate64); FD_OP(OP_FTRUNCATE, real_ftruncate64(fd, length), length, 0); }
int fsync(int fd) { RESOLVE(fsync); FD_OP(OP_FSYNC, real_fsync(fd), 0, 0); }
int fdatasync(int fd) { RESOLVE(fdatasync); FD_OP(OP_FDATASYNC, real_fdatasync(fd), 0, 0); }
int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
    RESOLVE(sync_file_range); FD_OP(OP_SYNC_RANGE, real_sync_file_range(fd, offset, nbytes, flags), offset, nbytes);
}

int syncfs(int fd) {
    RESOLVE(syncfs);
    int rc = real_syncfs(fd);
    if (rc == 0 && log_fd >= 0) { pthread_mutex_lock(&lock); record(OP_SYNCFS, fd, 0, 0, NULL, 0, NULL, 0); pthread_mutex_unlock(&lock); }
    return rc;
}
void sync(void) {
    RESOLVE(sync);
    real_sync();
    if (log_fd >= 0) { pthread_mutex_lock(&lock); record(OP_SYNC, -1, 0, 0, NULL, 0, NULL, 0); pthread_mutex_unlock(&lock); }
}

int close(int fd) {
    RESOLVE(close);
    if (!is_watched(fd)) return real_close(fd);
    pthread_mutex_lock(&lock);
    record(OP_CLOSE, fd, 0, 0, NULL, 0, NULL, 0);
    watched[fd] = 0;
    int rc = real_close(fd);
    int saved = errno;
    pthread_mutex_unlock(&lock);
    errno = saved;
    return rc;
}

/* Path operations: resolved before the call (an unlinked name cannot be resolved after). */
static int path_truncate(int64_t length, int rc_of_call, const char *resolved) {
    if (rc_of_call == 0 && resolved) record(OP_TRUNCATE, -1, length, 0, resolved, strlen(resolved), NULL, 0);
    return rc_of_call;
}
#define PATH_TRUNC(call) do { \
    char p[PATH_MAX]; int ok = log_fd >= 0 && name_path(AT_FDCWD, path, p) == 0 && under_root(p); \
    if (!ok) return call; \
    pthread_mutex_lock(&lock); int rc = call; int saved = errno; path_truncate(length, rc, p); \
    pthread_mutex_unlock(&lock); errno = saved; return rc; } while (0)
int truncate(const char *path, off_t length) { RESOLVE(truncate); PATH_TRUNC(real_truncate(path, length)); }
int truncate64(const char *path, off64_t length) { RESOLVE(truncate64); PATH_TRUNC(real_truncate64(path, length)); }

static int logged_rename(int olddir, const char *oldpath, int newdir, const char *newpath, unsigned int flags) {
    char a[PATH_MAX], b[PATH_MAX];
    RESOLVE(renameat2);
    int ok = log_fd >= 0 && name_path(olddir, oldpath, a) == 0 && name_path(newdir, newpath, b) == 0
             && (under_root(a) || under_root(b));
    if (!ok) return real_renameat2(olddir, oldpath, newdir, newpath, flags);
    pthread_mutex_lock(&lock);
    int rc = real_renameat2(olddir, oldpath, newdir, newpath, flags);
    int saved = errno;
    if (rc == 0) {
        char both[PATH_MAX * 2 + 1];
        size_t la = strlen(a), lb = strlen(b);
        memcpy(both, a, la); both[la] = 0; memcpy(both + la + 1, b, lb);
        record(OP_RENAME, -1, (int64_t)flags, 0, both, la + 1 + lb, NULL, 0);
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return rc;
}
int rename(const char *oldpath, const char *newpath) { return logged_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0); }
int renameat(int olddir, const char *oldpath, int newdir, const char *newpath) {
    return logged_rename(olddir, oldpath, newdir, newpath, 0);
}
int renameat2(int olddir, const char *oldpath, int newdir, const char *newpath, unsigned int flags) {
    return logged_rename(olddir, oldpath, newdir, newpath, flags);
}

static int logged_unlink(int dirfd, const char *path, int flags) {
    char p[PATH_MAX];
    RESOLVE(unlinkat);
    int ok = log_fd >= 0 && !(flags & AT_REMOVEDIR) && name_path(dirfd, path, p) == 0 && under_root(p);
    if (!ok) return real_unlinkat(dirfd, path, flags);
    pthread_mutex_lock(&lock);
    int rc = real_unlinkat(dirfd, path, flags);
    int saved = errno;
    if (rc == 0) record(OP_UNLINK, -1, 0, 0, p, strlen(p), NULL, 0);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return rc;
}
int unlink(const char *path) { return logged_unlink(AT_FDCWD, path, 0); }
int unlinkat(int dirfd, const char *path, int flags) { return logged_unlink(dirfd, path, flags); }
