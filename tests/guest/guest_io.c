/*
 * guest_io - deterministic block/file I/O exerciser for the vblk guest tests.
 *
 * Built twice by tests/guest/mkinitramfs.sh:
 *   - static (gcc -static -O2) and shipped inside the guest initramfs, where it
 *     writes and reads back data on /dev/vda and on files of the mounted ext4;
 *   - for the host, where it re-checks the image file after the guest exits.
 *
 * Data pattern: every byte is a pure function of (entry seed, absolute byte
 * offset), so the host can regenerate exactly what the guest wrote, and data
 * that lands at the wrong offset never matches by accident.
 *
 * Commands (OFF/LEN accept K/M/G suffixes; SEED is a decimal/hex number):
 *   guest_io write  [-d] [-y] [-c] PATH OFF LEN SEED
 *        write LEN pattern bytes at OFF. -d O_DIRECT (aligned bounce buffer),
 *        -y O_DSYNC, -c create/truncate a regular file. Without -d the write
 *        is followed by fsync().
 *   guest_io verify [-d] PATH OFF LEN SEED
 *        read back and compare (-d: O_DIRECT, range widened to the alignment).
 *   guest_io plan-show   [-s SEED] PLAN SIZE
 *        print the entries of the named plan for a device of SIZE bytes.
 *   guest_io plan-run    [-s SEED] [-j JOBS] PLAN PATH
 *        execute the plan on PATH (block device or file): every entry is
 *        written with its mode and immediately read back with O_DIRECT.
 *   guest_io plan-verify [-s SEED] [-r direct|buffered] [-z] PLAN PATH
 *        re-read the plan's region and compare with the final expected
 *        content (later entries overwrite earlier ones). -z: bytes of the
 *        region not covered by any entry must be zero (fresh image).
 *
 *   guest_io stress [-s SEED] [-j JOBS] [-t SECS] PATH
 *        write-and-verify loop for SECS seconds (default 30): JOBS processes
 *        (default 8), each owning every JOBS-th 128 KiB slot of PATH, write
 *        seeded O_DIRECT data at pseudo-random places and read each write
 *        back at once. At the end every job re-verifies all its slots and
 *        prints "VBLK_STRESS job=J iterations=K". Any I/O error or mismatch
 *        fails. Used by the backend kill/restart test (workloads/reconnect.sh).
 *   guest_io stress-verify [-s SEED] [-a UNIT] -j JOBS -n K0,K1,... PATH
 *        on the host: PATH must hold exactly what the stress run wrote, job J
 *        having completed KJ iterations; bytes no job wrote must be zero.
 *        UNIT: the block size the run printed (VBLK_STRESS_UNIT, default 512).
 *
 *   guest_io hotbuf [-s SEED] PATH OFF LO HI
 *        memory hotplug (workloads/hotplug.sh): allocate user memory until
 *        at least 256 of its pages lie in guest-physical [LO, HI) (the
 *        memory just hot-added; /proc/self/pagemap says where each page
 *        is), then write those pages to PATH at OFF with O_DIRECT (one page
 *        per request, and 16 pages per pwritev), read them back with
 *        O_DIRECT into other pages of that range and compare. Prints
 *        "VBLK_HOTBUF pages=N verified".
 *
 * Plans: "basic" - raw I/O confined to the upper half of the device
 * [region_start(SIZE), SIZE); the lower half is left for a filesystem.
 *
 * Exit status: 0 ok, 1 data mismatch / I/O error, 2 usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define CHUNK (1 * MiB)
#define MAX_ENTRIES 256
#define DEFAULT_SEED 0x5eed1234ULL

/* ---------------------------------------------------------------- pattern */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static inline uint64_t pattern_word(uint64_t seed, uint64_t word_index)
{
    return splitmix64(seed ^ splitmix64(word_index));
}

/* Fill buf with the pattern bytes for absolute offsets [off, off+len). */
static void pattern_fill(uint8_t *buf, uint64_t seed, uint64_t off, size_t len)
{
    size_t i = 0;
    while (i < len && ((off + i) & 7)) {
        uint64_t o = off + i;
        buf[i++] = (uint8_t)(pattern_word(seed, o >> 3) >> ((o & 7) * 8));
    }
    while (len - i >= 8) {
        uint64_t w = pattern_word(seed, (off + i) >> 3);
        for (int b = 0; b < 8; b++)
            buf[i + b] = (uint8_t)(w >> (b * 8)); /* little-endian, host-independent */
        i += 8;
    }
    while (i < len) {
        uint64_t o = off + i;
        buf[i++] = (uint8_t)(pattern_word(seed, o >> 3) >> ((o & 7) * 8));
    }
}

/* ------------------------------------------------------------------ utils */

static const char *prog = "guest_io";

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "%s: ", prog);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s)
        return -1;
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static void *xalloc_aligned(size_t len)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, len ? len : 4096)) {
        msg("out of memory (%zu bytes)", len);
        exit(1);
    }
    return p;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += n; len -= (size_t)n; off += (uint64_t)n;
    }
    return 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO; /* short read: past end of device/file */
            return -1;
        }
        p += n; len -= (size_t)n; off += (uint64_t)n;
    }
    return 0;
}

/* Size of a block device or regular file, and its direct-I/O alignment. */
static int dev_geometry(int fd, uint64_t *size, unsigned *align)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (S_ISBLK(st.st_mode)) {
        uint64_t sz;
        int lbs = 512;
        if (ioctl(fd, BLKGETSIZE64, &sz) < 0)
            return -1;
        if (ioctl(fd, BLKSSZGET, &lbs) < 0)
            lbs = 512;
        *size = sz;
        *align = (unsigned)lbs;
    } else {
        *size = (uint64_t)st.st_size;
        *align = 4096; /* safe for O_DIRECT on any fs we use */
    }
    return 0;
}

/* -------------------------------------------------------------- plans */

enum mode {
    M_DIRECT = 'D',   /* O_DIRECT write */
    M_BUFFERED = 'B', /* buffered write + fsync */
    M_DSYNC = 'Y',    /* buffered write with O_DSYNC */
    M_PAR_DIRECT = 'P',   /* O_DIRECT, executed concurrently with its group */
    M_PAR_BUFFERED = 'Q', /* buffered + fsync, executed concurrently */
};

struct entry {
    char mode;
    uint64_t off;
    uint64_t len;
    uint64_t seed;
};

struct plan {
    const char *name;
    uint64_t size;        /* device size */
    uint64_t region_start;
    uint64_t region_end;
    int n;
    struct entry e[MAX_ENTRIES];
};

static uint64_t basic_region_start(uint64_t size)
{
    return (size / 2) & ~(MiB - 1);
}

static void add(struct plan *p, char mode, uint64_t off, uint64_t len, uint64_t base_seed)
{
    if (p->n >= MAX_ENTRIES) {
        msg("plan too large");
        exit(2);
    }
    struct entry *e = &p->e[p->n];
    e->mode = mode;
    e->off = off;
    e->len = len;
    e->seed = splitmix64(base_seed ^ (0xA5A5ULL + (uint64_t)p->n * 0x10001ULL));
    p->n++;
}

static int build_plan(struct plan *p, const char *name, uint64_t size, uint64_t seed)
{
    memset(p, 0, sizeof(*p));
    p->name = name;
    p->size = size;
    if (strcmp(name, "basic") != 0) {
        msg("unknown plan '%s' (known: basic)", name);
        return -1;
    }
    uint64_t B = basic_region_start(size);
    uint64_t S = size;
    p->region_start = B;
    p->region_end = S;
    if (S % 512 || S - B < 64 * MiB) {
        msg("plan basic needs a device of >= 128 MiB, multiple of 512 (got %" PRIu64 ")", S);
        return -1;
    }

    /* O_DIRECT at assorted sizes, sector-aligned offsets. */
    add(p, M_DIRECT, B + 0, 512, seed);
    add(p, M_DIRECT, B + 4 * KiB, 4 * KiB, seed);
    add(p, M_DIRECT, B + 64 * KiB, 64 * KiB, seed);
    add(p, M_DIRECT, B + 1 * MiB, 1 * MiB, seed);
    add(p, M_DIRECT, B + 3 * MiB + 7 * 512, 3584, seed);        /* odd multi-sector */
    add(p, M_DIRECT, B + 4 * MiB, 4 * MiB, seed);               /* gets split by the guest */
    add(p, M_DIRECT, B + 9 * MiB + 512, 64 * KiB + 512, seed);  /* not 4K aligned */
    add(p, M_DIRECT, B + 10 * MiB + 12 * KiB, 128 * KiB + 4 * KiB, seed);

    /* Buffered + fsync, including sub-sector / unaligned byte ranges
     * (these make the guest kernel do read-modify-write of pages). */
    add(p, M_BUFFERED, B + 16 * MiB, 512, seed);
    add(p, M_BUFFERED, B + 16 * MiB + 8 * KiB, 4 * KiB, seed);
    add(p, M_BUFFERED, B + 17 * MiB, 64 * KiB, seed);
    add(p, M_BUFFERED, B + 18 * MiB, 1 * MiB, seed);
    add(p, M_BUFFERED, B + 20 * MiB + 1536, 3584, seed);
    add(p, M_BUFFERED, B + 21 * MiB + 123, 1000, seed);
    add(p, M_BUFFERED, B + 22 * MiB + 4095, 5000, seed);
    add(p, M_BUFFERED, B + 23 * MiB, 3 * MiB + 17, seed);

    /* O_DSYNC buffered writes. */
    add(p, M_DSYNC, B + 27 * MiB + 512, 4 * KiB, seed);
    add(p, M_DSYNC, B + 27 * MiB + 64 * KiB + 7, 70000, seed);

    /* Overwrites: later entries replace parts of earlier ones. */
    add(p, M_DIRECT, B + 30 * MiB, 64 * KiB, seed);
    add(p, M_BUFFERED, B + 30 * MiB + 3000, 1000, seed);        /* RMW inside direct data */
    add(p, M_DIRECT, B + 30 * MiB + 32 * KiB, 4 * KiB, seed);
    add(p, M_BUFFERED, B + 31 * MiB, 8 * KiB, seed);
    add(p, M_DIRECT, B + 31 * MiB + 4 * KiB, 512, seed);

    /* Concurrent O_DIRECT requests (several in flight on the queue). */
    static const uint64_t psz[8] = { 4 * KiB, 8 * KiB, 64 * KiB, 128 * KiB + 512,
                                     3584, 512, 192 * KiB, 16 * KiB };
    for (int i = 0; i < 16; i++)
        add(p, M_PAR_DIRECT, B + 32 * MiB + (uint64_t)i * 256 * KiB, psz[i % 8], seed);
    /* Concurrent buffered writers with fsync. */
    for (int i = 0; i < 8; i++)
        add(p, M_PAR_BUFFERED, B + 40 * MiB + (uint64_t)i * 64 * KiB + 100,
            3000 + (uint64_t)i * 1000, seed);

    /* Near / at the end of the device. */
    add(p, M_DIRECT, S - 2 * MiB, 1 * MiB, seed);
    add(p, M_BUFFERED, S - 1 * MiB + 1000, 12289, seed);
    add(p, M_BUFFERED, S - 16 * KiB - 100, 50, seed);
    add(p, M_DIRECT, S - 4 * KiB - 512, 4 * KiB, seed);
    add(p, M_DIRECT, S - 512, 512, seed);                       /* last sector */

    for (int i = 0; i < p->n; i++) {
        struct entry *e = &p->e[i];
        if (e->off < B || e->off + e->len > S || e->len == 0) {
            msg("internal: plan entry %d out of region", i);
            return -1;
        }
    }
    return 0;
}

static bool is_direct(char m) { return m == M_DIRECT || m == M_PAR_DIRECT; }
static bool is_par(char m) { return m == M_PAR_DIRECT || m == M_PAR_BUFFERED; }

/* ------------------------------------------------------------ primitives */

struct io_opts {
    bool direct;
    bool dsync;
    bool create;
};

/* Write one pattern range; buffered writes get fsync(). */
static int do_write(const char *path, uint64_t off, uint64_t len, uint64_t seed,
                    struct io_opts o, unsigned align_hint)
{
    int flags = O_WRONLY | (o.direct ? O_DIRECT : 0) | (o.dsync ? O_DSYNC : 0);
    if (o.create)
        flags |= O_CREAT | O_TRUNC;
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        msg("open %s: %s", path, strerror(errno));
        return -1;
    }
    if (o.direct) {
        uint64_t size; unsigned align;
        if (dev_geometry(fd, &size, &align) < 0)
            align = align_hint;
        if (align_hint > align)
            align = align_hint;
        if ((off | len) % align) {
            msg("O_DIRECT write off=%" PRIu64 " len=%" PRIu64 " not %u-aligned", off, len, align);
            close(fd);
            return -1;
        }
    }
    uint8_t *buf = xalloc_aligned(len);
    pattern_fill(buf, seed, off, len);
    int rc = pwrite_full(fd, buf, len, off);
    if (rc < 0)
        msg("pwrite %s off=%" PRIu64 " len=%" PRIu64 ": %s", path, off, len, strerror(errno));
    if (rc == 0 && !o.direct && !o.dsync && fsync(fd) < 0) {
        msg("fsync %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (close(fd) < 0 && rc == 0) {
        msg("close %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(buf);
    return rc;
}

/*
 * Expected content for [off, off+len): zeros (only meaningful with strict),
 * overlaid in order by every plan entry < upto that intersects the range.
 * covered[] (optional) marks bytes that belong to some entry.
 */
static void expected_overlay(const struct plan *p, int upto, uint64_t off, size_t len,
                             uint8_t *exp, uint8_t *covered)
{
    memset(exp, 0, len);
    if (covered)
        memset(covered, 0, len);
    for (int i = 0; i < upto; i++) {
        const struct entry *e = &p->e[i];
        uint64_t s = e->off > off ? e->off : off;
        uint64_t t = e->off + e->len < off + len ? e->off + e->len : off + len;
        if (s >= t)
            continue;
        pattern_fill(exp + (s - off), e->seed, s, t - s);
        if (covered)
            memset(covered + (s - off), 1, t - s);
    }
}

struct cmp_stats {
    uint64_t bad;
    uint64_t first_bad;
};

static void compare(const uint8_t *got, const uint8_t *exp, const uint8_t *mask,
                    uint64_t base, size_t len, struct cmp_stats *st)
{
    if (!mask && memcmp(got, exp, len) == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        if (mask && !mask[i])
            continue;
        if (got[i] != exp[i]) {
            if (!st->bad) {
                st->first_bad = base + i;
                msg("  first mismatch at offset %" PRIu64 " (0x%" PRIx64 "): got 0x%02x expected 0x%02x",
                    base + i, base + i, got[i], exp[i]);
            }
            st->bad++;
        }
    }
}

/*
 * Read [off, off+len) from path and compare with the plan overlay (entries
 * < upto) or, if p == NULL, with the single pattern `seed`. With direct the
 * read range is widened to the alignment and only [off, off+len) compared.
 * strict: compare every byte (uncovered ones must be zero); otherwise only
 * bytes covered by the overlay / the single range.
 */
static int verify_range(const char *path, bool direct, const struct plan *p, int upto,
                        uint64_t seed, uint64_t off, uint64_t len, bool strict)
{
    int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
    if (fd < 0) {
        msg("open %s: %s", path, strerror(errno));
        return -1;
    }
    uint64_t size; unsigned align = 1;
    if (dev_geometry(fd, &size, &align) < 0) {
        msg("geometry %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!direct)
        align = 1;
    uint64_t a0 = off / align * align;
    uint64_t a1 = (off + len + align - 1) / align * align;
    uint8_t *got = xalloc_aligned(CHUNK);
    uint8_t *exp = xalloc_aligned(CHUNK);
    uint8_t *cov = xalloc_aligned(CHUNK);
    struct cmp_stats st = { 0, 0 };
    int rc = 0;

    for (uint64_t pos = a0; pos < a1; ) {
        size_t n = (size_t)((a1 - pos) < CHUNK ? (a1 - pos) : CHUNK);
        if (pread_full(fd, got, n, pos) < 0) {
            msg("pread %s off=%" PRIu64 " len=%zu: %s", path, pos, n, strerror(errno));
            rc = -1;
            break;
        }
        /* window of interest inside this chunk */
        uint64_t w0 = pos > off ? pos : off;
        uint64_t w1 = pos + n < off + len ? pos + n : off + len;
        if (w0 < w1) {
            size_t wo = (size_t)(w0 - pos), wl = (size_t)(w1 - w0);
            if (p) {
                expected_overlay(p, upto, w0, wl, exp + wo, cov + wo);
                compare(got + wo, exp + wo, strict ? NULL : cov + wo, w0, wl, &st);
            } else {
                pattern_fill(exp + wo, seed, w0, wl);
                compare(got + wo, exp + wo, NULL, w0, wl, &st);
            }
        }
        pos += n;
    }
    if (rc == 0 && st.bad) {
        msg("  %" PRIu64 " mismatching bytes in [%" PRIu64 ", %" PRIu64 ")", st.bad, off, off + len);
        rc = -1;
    }
    free(got); free(exp); free(cov);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------ hotbuf */

#define HB_PAGE 4096u
#define HB_NEED 256u   /* pages in [lo, hi) we insist on */
#define HB_CHUNK (64u << 20)

/* Guest-physical address of the page at va (root: pagemap shows PFNs), or 0. */
static uint64_t hb_phys(int pm, const void *va)
{
    uint64_t e;
    if (pread(pm, &e, sizeof(e), (off_t)((uintptr_t)va / HB_PAGE * 8)) != sizeof(e))
        return 0;
    if (!(e >> 63))
        return 0;
    return (e & ((1ull << 55) - 1)) * HB_PAGE;
}

/* O_DIRECT write or read of the given pages (an iovec each) at off. */
static int hb_io(int fd, uint8_t **pages, unsigned n, uint64_t off, bool wr)
{
    struct iovec iov[16];
    for (unsigned i = 0; i < n; i++)
        iov[i] = (struct iovec){ pages[i], HB_PAGE };
    ssize_t r = wr ? pwritev(fd, iov, (int)n, (off_t)off) : preadv(fd, iov, (int)n, (off_t)off);
    if (r != (ssize_t)(n * HB_PAGE)) {
        msg("hotbuf: %s of %u pages at %" PRIu64 ": %s", wr ? "write" : "read", n, off,
            r < 0 ? strerror(errno) : "short");
        return -1;
    }
    return 0;
}

static int cmd_hotbuf(const char *path, uint64_t off, uint64_t lo, uint64_t hi, uint64_t seed)
{
    uint8_t **hot = calloc(2 * HB_NEED, sizeof(*hot));
    unsigned n = 0, chunks = 0, total = 0;
    int pm = open("/proc/self/pagemap", O_RDONLY);
    if (!hot || pm < 0) {
        msg("hotbuf: pagemap: %s", strerror(errno));
        return 1;
    }
    /* Movable user memory lands in the highest zone first: the hot-added ZONE_MOVABLE. */
    while (n < 2 * HB_NEED && chunks < 16) {
        uint8_t *m = mmap(NULL, HB_CHUNK, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED)
            break;
        chunks++;
        for (size_t o = 0; o < HB_CHUNK && n < 2 * HB_NEED; o += HB_PAGE, total++) {
            uint64_t pa = hb_phys(pm, m + o);
            if (pa >= lo && pa < hi)
                hot[n++] = m + o;
        }
    }
    msg("hotbuf: %u of %u pages allocated lie in [%#" PRIx64 ", %#" PRIx64 ")", n, total, lo, hi);
    if (n < 2 * HB_NEED) {
        msg("hotbuf: too few pages in the new memory");
        return 1;
    }
    if (mlockall(MCL_CURRENT) != 0)
        msg("hotbuf: mlockall: %s (pages may move)", strerror(errno));
    int fd = open(path, O_RDWR | O_DIRECT);
    if (fd < 0) {
        msg("hotbuf: open %s: %s", path, strerror(errno));
        return 1;
    }
    uint8_t **src = hot, **dst = hot + HB_NEED;
    for (unsigned i = 0; i < HB_NEED; i++)
        pattern_fill(src[i], seed, off + (uint64_t)i * HB_PAGE, HB_PAGE);
    int rc = 0;
    /* First one page per request, then 16 scattered pages per request. */
    for (unsigned i = 0; i < HB_NEED && !rc; i++)
        rc = hb_io(fd, &src[i], 1, off + (uint64_t)i * HB_PAGE, true);
    for (unsigned i = 0; i < HB_NEED && !rc; i += 16)
        rc = hb_io(fd, &src[i], 16, off + (uint64_t)(HB_NEED + i) * HB_PAGE, true);
    for (unsigned pass = 0; pass < 2 && !rc; pass++) {
        for (unsigned i = 0; i < HB_NEED; i++)
            memset(dst[i], 0xa5, HB_PAGE);
        for (unsigned i = 0; i < HB_NEED && !rc; i += 16)
            rc = hb_io(fd, &dst[i], 16, off + (uint64_t)(pass * HB_NEED + i) * HB_PAGE, false);
        for (unsigned i = 0; i < HB_NEED && !rc; i++)
            if (memcmp(dst[i], src[i], HB_PAGE)) {
                msg("hotbuf: page %u of pass %u read back wrong", i, pass);
                rc = 1;
            }
    }
    /* Still where they were: the I/O really went through the new memory. */
    for (unsigned i = 0; i < 2 * HB_NEED && !rc; i++) {
        uint64_t pa = hb_phys(pm, hot[i]);
        if (pa < lo || pa >= hi) {
            msg("hotbuf: page %u moved out of the new memory during the test", i);
            rc = 1;
        }
    }
    close(fd);
    close(pm);
    if (rc)
        return 1;
    msg("VBLK_HOTBUF pages=%u verified", 2 * HB_NEED);
    return 0;
}

/* ------------------------------------------------------------ commands */

static void usage(void)
{
    fprintf(stderr,
            "usage: guest_io write  [-d] [-y] [-c] PATH OFF LEN SEED\n"
            "       guest_io verify [-d] PATH OFF LEN SEED\n"
            "       guest_io plan-show   [-s SEED] PLAN SIZE\n"
            "       guest_io plan-run    [-s SEED] [-j JOBS] PLAN PATH\n"
            "       guest_io plan-verify [-s SEED] [-r direct|buffered] [-z] PLAN PATH\n"
            "       guest_io stress [-s SEED] [-j JOBS] [-t SECS] PATH\n"
            "       guest_io stress-verify [-s SEED] [-a UNIT] -j JOBS -n K0,K1,... PATH\n"
            "       guest_io zeroout DEVICE OFF LEN   (BLKZEROOUT, like util-linux blkdiscard -z)\n"
            "       guest_io punch DEVICE OFF LEN     (fallocate PUNCH_HOLE: write zeroes, unmap allowed)\n"
            "       guest_io hotbuf [-s SEED] PATH OFF LO HI   (O_DIRECT through pages in [LO, HI))\n");
    exit(2);
}

static int run_entry(const struct plan *p, int i, const char *path, unsigned align)
{
    const struct entry *e = &p->e[i];
    struct io_opts o = { 0 };
    char mode = e->mode;
    o.direct = is_direct(mode);
    o.dsync = mode == M_DSYNC;
    const char *note = "";
    if (o.direct && ((e->off | e->len) % align)) {
        /* logical block size > 512: keep the layout, write buffered instead */
        o.direct = false;
        note = " (not aligned to logical block size: written buffered)";
    }
    if (do_write(path, e->off, e->len, e->seed, o, align) < 0) {
        msg("entry %2d %c off=%" PRIu64 " len=%" PRIu64 ": WRITE FAILED", i, mode, e->off, e->len);
        return -1;
    }
    /* read back straight from the device */
    if (verify_range(path, true, NULL, 0, e->seed, e->off, e->len, false) < 0) {
        msg("entry %2d %c off=%" PRIu64 " len=%" PRIu64 ": READBACK MISMATCH", i, mode, e->off, e->len);
        return -1;
    }
    msg("entry %2d %c off=%" PRIu64 " len=%" PRIu64 ": ok%s", i, mode, e->off, e->len, note);
    return 0;
}

static int open_geometry(const char *path, uint64_t *size, unsigned *align)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        msg("open %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = dev_geometry(fd, size, align);
    if (rc < 0)
        msg("geometry %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

static int cmd_plan_run(const char *name, const char *path, uint64_t seed, int jobs)
{
    static struct plan p;
    uint64_t size; unsigned align;
    if (open_geometry(path, &size, &align) < 0)
        return 1;
    if (build_plan(&p, name, size, seed) < 0)
        return 2;
    msg("plan-run %s on %s: size=%" PRIu64 " lbs=%u region=[%" PRIu64 ",%" PRIu64 ") entries=%d jobs=%d seed=0x%" PRIx64,
        name, path, size, align, p.region_start, p.region_end, p.n, jobs, seed);
    int failed = 0;
    for (int i = 0; i < p.n; ) {
        if (!is_par(p.e[i].mode)) {
            if (run_entry(&p, i, path, align) < 0)
                failed++;
            i++;
            continue;
        }
        int g0 = i, g1 = i;
        char gm = p.e[i].mode;
        while (g1 < p.n && p.e[g1].mode == gm)
            g1++;
        pid_t pids[64];
        int nj = jobs < 64 ? jobs : 64;
        msg("group %c entries %d..%d with %d concurrent workers", gm, g0, g1 - 1, nj);
        for (int j = 0; j < nj; j++) {
            pid_t pid = fork();
            if (pid < 0) {
                msg("fork: %s", strerror(errno));
                return 1;
            }
            if (pid == 0) {
                int f = 0;
                for (int k = g0 + j; k < g1; k += nj)
                    if (run_entry(&p, k, path, align) < 0)
                        f++;
                _exit(f ? 1 : 0);
            }
            pids[j] = pid;
        }
        for (int j = 0; j < nj; j++) {
            int status;
            while (waitpid(pids[j], &status, 0) < 0 && errno == EINTR)
                ;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                failed++;
        }
        i = g1;
    }
    msg("plan-run %s: %s (%d failures)", name, failed ? "FAILED" : "ok", failed);
    return failed ? 1 : 0;
}

static int cmd_plan_verify(const char *name, const char *path, uint64_t seed, bool direct, bool strict)
{
    static struct plan p;
    uint64_t size; unsigned align;
    if (open_geometry(path, &size, &align) < 0)
        return 1;
    if (build_plan(&p, name, size, seed) < 0)
        return 2;
    int rc = verify_range(path, direct, &p, p.n, 0, p.region_start,
                          p.region_end - p.region_start, strict);
    msg("plan-verify %s on %s (%s read%s) region=[%" PRIu64 ",%" PRIu64 "): %s", name, path,
        direct ? "direct" : "buffered", strict ? ", gaps must be zero" : "",
        p.region_start, p.region_end, rc ? "MISMATCH" : "ok");
    return rc ? 1 : 0;
}

static int cmd_plan_show(const char *name, uint64_t size, uint64_t seed)
{
    static struct plan p;
    if (build_plan(&p, name, size, seed) < 0)
        return 2;
    printf("# plan %s size=%" PRIu64 " region=[%" PRIu64 ",%" PRIu64 ")\n# idx mode offset length seed\n",
           name, size, p.region_start, p.region_end);
    for (int i = 0; i < p.n; i++)
        printf("%d %c %" PRIu64 " %" PRIu64 " 0x%016" PRIx64 "\n", i, p.e[i].mode, p.e[i].off,
               p.e[i].len, p.e[i].seed);
    return 0;
}

/* ------------------------------------------------------------ stress */

/*
 * The stress plan is a pure function of (seed, jobs, job, iteration) and the
 * device size, so the host can replay it from the iteration counts alone.
 */
#define STRESS_SLOT (128 * KiB)
#define STRESS_MAX_JOBS 64

struct stress_geo {
    uint64_t size;
    unsigned align;
    unsigned jobs;
    uint64_t nslots; /* slots of the device; job j owns slots j, j+jobs, ... */
};

struct stress_write {
    uint64_t slot;
    uint64_t off; /* absolute */
    uint64_t len;
    uint64_t seed;
};

static uint64_t stress_job_slots(const struct stress_geo *g, unsigned j)
{
    return g->nslots / g->jobs + (j < g->nslots % g->jobs ? 1 : 0);
}

static void stress_plan(const struct stress_geo *g, uint64_t seed, unsigned j, uint64_t k,
                        struct stress_write *w)
{
    uint64_t h = splitmix64(seed ^ splitmix64(((uint64_t)j << 40) ^ k ^ 0x57e55ULL));
    uint64_t units = STRESS_SLOT / g->align;
    /* 1 .. half a slot, in logical blocks; most writes small, a few large. */
    uint64_t nb = (h & 3) == 0 ? 1 + (h >> 8) % (units / 2) : 1 + (h >> 8) % 16;
    uint64_t idx = (h >> 24) % stress_job_slots(g, j);

    w->slot = j + idx * g->jobs;
    w->len = nb * g->align;
    w->off = w->slot * STRESS_SLOT + ((h >> 40) % (units - nb + 1)) * g->align;
    w->seed = splitmix64(h ^ 0xdecafULL);
}

/* Expected content of one slot after iterations [0, k) of job j (zeros where nothing wrote). */
static void stress_expected_slot(const struct stress_geo *g, uint64_t seed, unsigned j,
                                 uint64_t k, uint64_t slot, uint8_t *buf)
{
    memset(buf, 0, STRESS_SLOT);
    for (uint64_t i = 0; i < k; i++) {
        struct stress_write w;
        stress_plan(g, seed, j, i, &w);
        if (w.slot == slot)
            pattern_fill(buf + (w.off - slot * STRESS_SLOT), w.seed, w.off, w.len);
    }
}

/*
 * unit: the plan's block size (offsets and lengths are multiples of it). The
 * guest uses the device's logical block size (O_DIRECT needs it) and prints
 * it; the host passes the same value, whatever its own file reports.
 */
static int stress_geo_init(struct stress_geo *g, const char *path, unsigned jobs, unsigned unit)
{
    if (open_geometry(path, &g->size, &g->align) < 0)
        return -1;
    if (unit)
        g->align = unit;
    if (g->align < 512)
        g->align = 512;
    g->jobs = jobs;
    g->nslots = g->size / STRESS_SLOT;
    if (jobs < 1 || jobs > STRESS_MAX_JOBS || g->nslots < jobs || STRESS_SLOT % g->align) {
        msg("stress: %u jobs on %" PRIu64 " slots of %llu bytes (lbs %u) is not possible",
            jobs, g->nslots, (unsigned long long)STRESS_SLOT, g->align);
        return -1;
    }
    return 0;
}

/* Compare every slot of job j with the replay of k iterations; fd opened with O_DIRECT. */
static int stress_check_job(int fd, const struct stress_geo *g, uint64_t seed, unsigned j,
                            uint64_t k, uint8_t *got, uint8_t *exp)
{
    for (uint64_t s = j; s < g->nslots; s += g->jobs) {
        if (pread_full(fd, got, STRESS_SLOT, s * STRESS_SLOT) < 0) {
            msg("stress: job %u: read slot %" PRIu64 ": %s", j, s, strerror(errno));
            return -1;
        }
        stress_expected_slot(g, seed, j, k, s, exp);
        if (memcmp(got, exp, STRESS_SLOT)) {
            struct cmp_stats st = { 0, 0 };
            compare(got, exp, NULL, s * STRESS_SLOT, STRESS_SLOT, &st);
            msg("stress: job %u: slot %" PRIu64 " differs after %" PRIu64 " iterations (%" PRIu64
                " bytes)", j, s, k, st.bad);
            return -1;
        }
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int stress_job(const char *path, const struct stress_geo *g, uint64_t seed, unsigned j,
                      double secs)
{
    int fd = open(path, O_RDWR | O_DIRECT);
    if (fd < 0) {
        msg("stress: open %s: %s", path, strerror(errno));
        return 1;
    }
    uint8_t *buf = xalloc_aligned(STRESS_SLOT);
    uint8_t *got = xalloc_aligned(STRESS_SLOT);
    uint8_t *exp = xalloc_aligned(STRESS_SLOT);
    double end = now_s() + secs;
    uint64_t k = 0;
    int rc = 0;

    while (now_s() < end) {
        struct stress_write w;
        stress_plan(g, seed, j, k, &w);
        pattern_fill(buf, w.seed, w.off, w.len);
        if (pwrite_full(fd, buf, w.len, w.off) < 0) {
            msg("stress: job %u iteration %" PRIu64 ": pwrite off=%" PRIu64 " len=%" PRIu64
                ": %s", j, k, w.off, w.len, strerror(errno));
            rc = 1;
            break;
        }
        k++; /* acknowledged: from now on it must be on the disk */
        if (pread_full(fd, got, w.len, w.off) < 0) {
            msg("stress: job %u: pread off=%" PRIu64 ": %s", j, w.off, strerror(errno));
            rc = 1;
            break;
        }
        if (memcmp(got, buf, w.len)) {
            msg("stress: job %u iteration %" PRIu64 ": read-back mismatch at off=%" PRIu64
                " len=%" PRIu64, j, k - 1, w.off, w.len);
            rc = 1;
            break;
        }
    }
    if (rc == 0 && stress_check_job(fd, g, seed, j, k, got, exp) < 0)
        rc = 1;
    printf("VBLK_STRESS job=%u iterations=%" PRIu64 " %s\n", j, k, rc ? "FAILED" : "ok");
    fflush(stdout);
    free(buf); free(got); free(exp);
    close(fd);
    return rc;
}

static int cmd_stress(const char *path, uint64_t seed, unsigned jobs, double secs)
{
    struct stress_geo g;
    pid_t pids[STRESS_MAX_JOBS];
    int failed = 0;

    if (stress_geo_init(&g, path, jobs, 0) < 0)
        return 2;
    printf("VBLK_STRESS_UNIT %u\n", g.align);
    msg("stress %s: size=%" PRIu64 " lbs=%u jobs=%u slots=%" PRIu64 " secs=%.0f seed=0x%" PRIx64,
        path, g.size, g.align, jobs, g.nslots, secs, seed);
    for (unsigned j = 0; j < jobs; j++) {
        pid_t pid = fork();
        if (pid < 0) {
            msg("fork: %s", strerror(errno));
            return 1;
        }
        if (pid == 0)
            _exit(stress_job(path, &g, seed, j, secs));
        pids[j] = pid;
    }
    for (unsigned j = 0; j < jobs; j++) {
        int status;
        while (waitpid(pids[j], &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++;
    }
    msg("stress: %s (%d of %u jobs failed)", failed ? "FAILED" : "ok", failed, jobs);
    return failed ? 1 : 0;
}

static int cmd_stress_verify(const char *path, uint64_t seed, unsigned jobs, const char *counts,
                             unsigned unit)
{
    struct stress_geo g;
    uint64_t k[STRESS_MAX_JOBS];
    unsigned n = 0;
    const char *c = counts;

    if (stress_geo_init(&g, path, jobs, unit ? unit : 512) < 0)
        return 2;
    while (*c && n < STRESS_MAX_JOBS) {
        char *end;
        errno = 0;
        k[n++] = strtoull(c, &end, 10);
        if (errno || end == c || (*end && *end != ','))
            usage();
        c = *end ? end + 1 : end;
    }
    if (n != jobs) {
        msg("stress-verify: %u counts for %u jobs", n, jobs);
        return 2;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        msg("open %s: %s", path, strerror(errno));
        return 1;
    }
    uint8_t *got = xalloc_aligned(STRESS_SLOT);
    uint8_t *exp = xalloc_aligned(STRESS_SLOT);
    int rc = 0;
    uint64_t total = 0;
    for (unsigned j = 0; j < jobs; j++) {
        total += k[j];
        if (stress_check_job(fd, &g, seed, j, k[j], got, exp) < 0)
            rc = 1;
    }
    /* The tail that is no job's slot must be untouched. */
    for (uint64_t off = g.nslots * STRESS_SLOT; off < g.size; off += 512) {
        uint8_t z[512];
        size_t len = g.size - off < 512 ? (size_t)(g.size - off) : 512;
        if (pread_full(fd, z, len, off) < 0)
            break;
        for (size_t i = 0; i < len; i++)
            if (z[i]) {
                msg("stress-verify: byte %" PRIu64 " outside every slot is not zero", off + i);
                rc = 1;
                off = g.size;
                break;
            }
    }
    msg("stress-verify %s: %u jobs, %" PRIu64 " acknowledged writes: %s", path, jobs, total,
        rc ? "MISMATCH" : "ok");
    free(got); free(exp);
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    struct io_opts o = { 0 };
    uint64_t seed = DEFAULT_SEED;
    int jobs = 4;
    bool jobs_given = false;
    bool direct_read = true, strict = false;
    double secs = 30;
    const char *counts = NULL;
    unsigned unit = 0;
    int c;
    optind = 2;
    while ((c = getopt(argc, argv, "dycs:j:r:zt:n:a:")) != -1) {
        switch (c) {
        case 'd': o.direct = true; break;
        case 'y': o.dsync = true; break;
        case 'c': o.create = true; break;
        case 's': if (parse_u64(optarg, &seed) < 0) usage(); break;
        case 'j': jobs = atoi(optarg); if (jobs < 1) jobs = 1; jobs_given = true; break;
        case 't': secs = atof(optarg); if (secs <= 0) usage(); break;
        case 'n': counts = optarg; break;
        case 'a': unit = (unsigned)atoi(optarg); break;
        case 'r':
            if (!strcmp(optarg, "direct")) direct_read = true;
            else if (!strcmp(optarg, "buffered")) direct_read = false;
            else usage();
            break;
        case 'z': strict = true; break;
        default: usage();
        }
    }
    int na = argc - optind;
    char **a = argv + optind;

    if (!strcmp(cmd, "write") || !strcmp(cmd, "verify")) {
        uint64_t off, len, s;
        if (na != 4 || parse_u64(a[1], &off) || parse_u64(a[2], &len) || parse_u64(a[3], &s))
            usage();
        if (!strcmp(cmd, "write")) {
            int rc = do_write(a[0], off, len, s, o, 1);
            if (rc == 0)
                msg("write %s off=%" PRIu64 " len=%" PRIu64 "%s: ok", a[0], off, len,
                    o.direct ? " direct" : o.dsync ? " dsync" : " buffered+fsync");
            return rc ? 1 : 0;
        }
        int rc = verify_range(a[0], o.direct, NULL, 0, s, off, len, false);
        msg("verify %s off=%" PRIu64 " len=%" PRIu64 "%s: %s", a[0], off, len,
            o.direct ? " direct" : "", rc ? "MISMATCH" : "ok");
        return rc ? 1 : 0;
    }
    if (!strcmp(cmd, "punch")) {
        /* On a block device Linux turns this into REQ_OP_WRITE_ZEROES without
         * REQ_NOUNMAP: virtio_blk sets VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP. */
        uint64_t off, len;
        if (na != 3 || parse_u64(a[1], &off) || parse_u64(a[2], &len))
            usage();
        int fd = open(a[0], O_WRONLY);
        if (fd < 0 || fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                                (off_t)len) != 0) {
            msg("punch %s: %s", a[0], strerror(errno));
            return 1;
        }
        close(fd);
        msg("punch %s off=%" PRIu64 " len=%" PRIu64 ": ok", a[0], off, len);
        return 0;
    }
    if (!strcmp(cmd, "zeroout")) {
        /* busybox blkdiscard has no -z: the ioctl behind it becomes
         * VIRTIO_BLK_T_WRITE_ZEROES in the guest's virtio_blk. */
        uint64_t range[2];
        if (na != 3 || parse_u64(a[1], &range[0]) || parse_u64(a[2], &range[1]))
            usage();
        int fd = open(a[0], O_WRONLY);
        if (fd < 0 || ioctl(fd, BLKZEROOUT, range) != 0) {
            msg("zeroout %s: %s", a[0], strerror(errno));
            return 1;
        }
        close(fd);
        msg("zeroout %s off=%" PRIu64 " len=%" PRIu64 ": ok", a[0], range[0], range[1]);
        return 0;
    }
    if (!strcmp(cmd, "hotbuf")) {
        uint64_t off, lo, hi;
        if (na != 4 || parse_u64(a[1], &off) || parse_u64(a[2], &lo) || parse_u64(a[3], &hi))
            usage();
        return cmd_hotbuf(a[0], off, lo, hi, seed);
    }
    if (!strcmp(cmd, "plan-show")) {
        uint64_t size;
        if (na != 2 || parse_u64(a[1], &size))
            usage();
        return cmd_plan_show(a[0], size, seed);
    }
    if (!strcmp(cmd, "plan-run")) {
        if (na != 2)
            usage();
        return cmd_plan_run(a[0], a[1], seed, jobs);
    }
    if (!strcmp(cmd, "stress")) {
        if (na != 1)
            usage();
        return cmd_stress(a[0], seed, jobs_given ? (unsigned)jobs : 8, secs);
    }
    if (!strcmp(cmd, "stress-verify")) {
        if (na != 1 || !jobs_given || !counts)
            usage();
        return cmd_stress_verify(a[0], seed, (unsigned)jobs, counts, unit);
    }
    if (!strcmp(cmd, "plan-verify")) {
        if (na != 2)
            usage();
        return cmd_plan_verify(a[0], a[1], seed, direct_read, strict);
    }
    usage();
    return 2;
}
