/*
 * loadgen.c - fan-out load generator for the pushwire benchmark harness.
 *
 * One process, one thread, one epoll loop.  It opens N subscriber connections
 * (WebSocket with an RFC 6455 client handshake and masked client frames, or
 * SSE over HTTP/1.1), performs a server-specific subscribe step, and publishes
 * 64-byte JSON payloads itself (keep-alive HTTP POSTs or a WebSocket publisher
 * connection), so that the publish timestamp in each payload and the receive
 * timestamp come from the same CLOCK_MONOTONIC.
 *
 * Payload (exactly --payload-size bytes, default 64):
 *     {"r":<run id>,"s":<seq>,"t":<monotonic ns>,"p":"xxxx..."}
 * seq 0 is a warm-up message (barrier before measuring); seq >= 1 is measured.
 *
 * Every subscriber keeps a seen-bitmap over the sequence numbers, so
 * duplicates and losses are exact.  Latency is recorded on first delivery into
 * a log-bucketed histogram (HDR style, 1/64 relative bucket width).
 *
 * Modes:
 *   open    publish at --rate per second, evenly paced (timerfd), for
 *           --duration seconds; the payload timestamp is the *scheduled* send
 *           time, so a publisher that falls behind shows up as latency
 *           (no coordinated omission).
 *   closed  keep --window publishes in flight; a publish is in flight until
 *           every subscriber received it (or --msg-timeout passed).  The
 *           payload timestamp is the actual send time.
 *   idle    connect everything, wait --idle-settle seconds, sample server RSS.
 *   storm   connect, publish --storm-pre messages, drop every subscriber at
 *           once, publish --storm-missed messages, reconnect everyone at once
 *           resuming from the last cursor each saw; measure until all whole.
 *
 * Output: one JSON object on stdout.  Diagnostics go to stderr.
 * Everything is bounded in count and time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_SUBS 100000
#define MAX_PUBS 64
#define MAX_PIDS 32
#define RECV_CHUNK (256 * 1024)
#define MAX_LEFTOVER (16 * 1024 * 1024)
#define MAX_HEADER 32768
#define WBUF_LIMIT (4 * 1024 * 1024)

/* ------------------------------------------------------------------ time */

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ns_to_s(uint64_t ns) { return (double)ns / 1e9; }

/* ------------------------------------------------------------- histogram */

/* Values below 2^SB are exact; above, each power of two is split into 2^(SB-1)
 * buckets, so a bucket is at most 1/64 of its value wide. */
#define HSB 7
#define HHALF (1 << (HSB - 1))
#define HBUCKETS ((64 - HSB + 2) * HHALF)

typedef struct {
    uint64_t c[HBUCKETS];
    uint64_t n, max;
    long double sum;
} hist_t;

static inline int hist_index(uint64_t v) {
    if (v < (1u << HSB)) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - HSB + 1;
    return (msb - HSB + 2) * HHALF + (int)(v >> shift) - HHALF;
}

/* Midpoint of the bucket: the value reported for percentiles. */
static uint64_t hist_value(int idx) {
    if (idx < (1 << HSB)) return (uint64_t)idx;
    int k = idx / HHALF, r = idx % HHALF;
    int msb = k + HSB - 2;
    int shift = msb - HSB + 1;
    uint64_t m = (uint64_t)(r + HHALF);
    return (m << shift) + ((1ull << shift) >> 1);
}

static inline void hist_add(hist_t *h, uint64_t v) {
    h->c[hist_index(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max) h->max = v;
}

static uint64_t hist_pct(const hist_t *h, double p) {
    if (h->n == 0) return 0;
    uint64_t target = (uint64_t)(p * (double)h->n + 0.999999);
    if (target < 1) target = 1;
    uint64_t acc = 0;
    for (int i = 0; i < HBUCKETS; i++) {
        acc += h->c[i];
        if (acc >= target) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ------------------------------------------------------------ sha1/base64 */

typedef struct {
    uint32_t h[5];
    uint64_t len;
    uint8_t buf[64];
    size_t blen;
} sha1_t;

#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void sha1_block(sha1_t *s, const uint8_t *p) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
        else { f = b ^ c ^ d; k = 0xCA62C1D6; }
        uint32_t t = ROL(a, 5) + f + e + k + w[i];
        e = d; d = c; c = ROL(b, 30); b = a; a = t;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}

static void sha1(const void *data, size_t n, uint8_t out[20]) {
    sha1_t s = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
    const uint8_t *p = data;
    s.len = n;
    while (n >= 64) { sha1_block(&s, p); p += 64; n -= 64; }
    memcpy(s.buf, p, n);
    s.blen = n;
    s.buf[s.blen++] = 0x80;
    if (s.blen > 56) { memset(s.buf + s.blen, 0, 64 - s.blen); sha1_block(&s, s.buf); s.blen = 0; }
    memset(s.buf + s.blen, 0, 56 - s.blen);
    uint64_t bits = s.len * 8;
    for (int i = 0; i < 8; i++) s.buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_block(&s, s.buf);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = s.h[i] >> 24; out[4 * i + 1] = s.h[i] >> 16;
        out[4 * i + 2] = s.h[i] >> 8; out[4 * i + 3] = s.h[i];
    }
}

static void b64(const uint8_t *in, size_t n, char *out) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = T[(v >> 18) & 63];
        out[o++] = T[(v >> 12) & 63];
        out[o++] = i + 1 < n ? T[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? T[v & 63] : '=';
    }
    out[o] = 0;
}

/* ------------------------------------------------------------------ rng */

static uint64_t rng_state;
static inline uint64_t rng(void) {
    uint64_t x = rng_state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return rng_state = x;
}

/* --------------------------------------------------------------- config */

enum { PROTO_WS, PROTO_SSE };
enum { MODE_OPEN, MODE_CLOSED, MODE_IDLE, MODE_STORM };
enum { PUB_HTTP, PUB_WS };

static struct {
    const char *host;
    int port;
    int pub_port;        /* 0: same as port */
    int proto;
    const char *sub_path;
    const char *hello;
    const char *ready_match;
    const char *resume_key;
    const char *ping_match;
    const char *ping_reply;
    int nsubs;
    int src_addrs;
    int connect_conc;
    double connect_timeout;
    int mode;
    double rate;
    double duration;
    int window;
    long max_msgs;
    double drain_timeout;  /* cap */
    double drain_idle;     /* stop draining after this long without a new delivery */
    double msg_timeout;
    int pub_kind;
    const char *pub_path;
    const char *pub_body;
    char pub_headers[4096];
    const char *pub_hello;
    int pub_conns;
    int payload_size;
    pid_t pids[MAX_PIDS];
    int npids;
    double idle_settle;
    int storm_pre;
    int storm_missed;
    double storm_timeout;
    int track_cursor;
    long bitmap_mb;
    int verbose;
} cfg = {
    .host = "127.0.0.1", .port = 0, .proto = PROTO_WS, .sub_path = "/", .resume_key = "chat",
    .nsubs = 10, .src_addrs = 8, .connect_conc = 256, .connect_timeout = 60, .mode = MODE_OPEN,
    .rate = 100, .duration = 5, .window = 1, .max_msgs = 0, .drain_timeout = 60, .drain_idle = 2, .msg_timeout = 20,
    .pub_kind = PUB_HTTP, .pub_path = "/publish", .pub_body = "%P", .pub_conns = 4, .payload_size = 64,
    .idle_settle = 2, .storm_pre = 10, .storm_missed = 100, .storm_timeout = 30, .bitmap_mb = 512,
};

/* ----------------------------------------------------------- connections */

enum { K_SUB = 1, K_PUB = 2, K_TIMER = 3 };
enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_SUBSCRIBING, ST_READY, ST_CLOSED, ST_FAILED };
enum { CH_SIZE, CH_DATA, CH_CRLF, CH_DONE };

typedef struct conn {
    int kind;            /* must be first: epoll data points here */
    int fd;
    int state;
    int idx;
    uint32_t events;
    char *rbuf;          /* unparsed raw bytes kept between recv()s */
    size_t rlen, rcap;
    char *wbuf;          /* bytes the kernel did not take yet */
    size_t wlen, woff, wcap;
    char *frag;          /* WebSocket fragmented message */
    size_t flen, fcap;
    char *line;          /* SSE partial line */
    size_t llen, lcap;
    char key[32];
    uint8_t chunked, chunk_state, identity, warm;
    uint64_t chunk_rem;
    /* subscriber */
    uint8_t *seen;
    uint64_t got, dup, ooo, maxseq;
    int64_t cursor;      /* last stream cursor seen (pushwire), -1 none */
    uint64_t whole_ns;
    int connects;
    /* publisher */
    int busy;            /* HTTP request outstanding */
    long cur_seq;
    size_t resp_need;    /* bytes expected for the current response, 0 unknown */
    uint64_t retry_at;   /* publisher: no reconnect before this */
} conn_t;

static int ep;
static conn_t *subs;
static conn_t pubs[MAX_PUBS];
static int timer_kind = K_TIMER;
static int timer_fd = -1;
static char *gbuf;
static size_t gcap;
static uint32_t run_id;
static uint64_t uuid_hi, uuid_lo;
static char first_error[512];

/* counters */
static int n_meas_subs;  /* subscribers ready when measuring started */
static int n_ready, n_failed, n_warm, n_closed_unexpected, n_connecting_pending, n_whole;
static uint64_t c_recvs, c_rx_bytes;   /* subscriber recv() calls and bytes: frames per recv */
static uint64_t c_other, c_foreign, c_bogus, c_deliv, c_dup, c_ooo, c_pings, c_ws_close;
static uint64_t t_last_deliv, t_first_deliv;
static hist_t lat;

/* messages */
enum { MS_SENT = 1, MS_OK = 2, MS_FAIL = 4, MS_DONE = 8 };
static uint32_t *m_deliv;
static uint8_t *m_state;
static uint64_t *m_ts;
static long pub_next = 1;        /* next seq to publish */
static long pub_allowed = 0;     /* highest seq that may be published now */
static long n_pub_ok, n_pub_fail, n_done, n_abandoned, oldest_open = 1;
static int warm_pending;
static uint64_t t_pub_start, t_interval, t_last_pub;
static size_t bitmap_stride;
static uint8_t *bitmaps;
static int stopping_pub;
static long pub_reconnects;

static void errf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (!first_error[0]) vsnprintf(first_error, sizeof first_error, fmt, ap);
    va_end(ap);
    if (cfg.verbose) {
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) die("out of memory (%zu bytes)", n);
    return q;
}

static void buf_append(char **b, size_t *len, size_t *cap, const void *src, size_t n) {
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < *len + n) nc *= 2;
        *b = xrealloc(*b, nc);
        *cap = nc;
    }
    memcpy(*b + *len, src, n);
    *len += n;
}

static void ep_set(conn_t *c, uint32_t ev) {
    if (c->events == ev) return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e) < 0) die("epoll_ctl: %s", strerror(errno));
    c->events = ev;
}

static void conn_reset(conn_t *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->events = 0;
    c->rlen = c->wlen = c->woff = c->flen = c->llen = 0;
    c->chunked = c->identity = 0;
    c->chunk_state = CH_SIZE;
    c->chunk_rem = 0;
    c->busy = 0;
    c->resp_need = 0;
}

/* Send now if possible; keep the rest and wait for EPOLLOUT. */
static int conn_send(conn_t *c, const void *data, size_t n) {
    if (c->fd < 0) return -1;
    if (c->wlen == c->woff) {
        c->wlen = c->woff = 0;
        while (n > 0) {
            ssize_t k = send(c->fd, data, n, MSG_NOSIGNAL);
            if (k < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == EINTR) continue;
                return -1;
            }
            data = (const char *)data + k;
            n -= (size_t)k;
        }
    }
    if (n > 0) {
        if (c->wlen - c->woff + n > WBUF_LIMIT) return -1;
        buf_append(&c->wbuf, &c->wlen, &c->wcap, data, n);
        ep_set(c, EPOLLIN | EPOLLOUT);
    }
    return 0;
}

static int conn_flush(conn_t *c) {
    while (c->woff < c->wlen) {
        ssize_t k = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            if (errno == EINTR) continue;
            return -1;
        }
        c->woff += (size_t)k;
    }
    c->wlen = c->woff = 0;
    ep_set(c, EPOLLIN);
    return 0;
}

/* ------------------------------------------------------------ websocket */

static void ws_key(conn_t *c) {
    uint8_t raw[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rng();
        memcpy(raw + i, &r, 8);
    }
    b64(raw, 16, c->key);
}

static int ws_accept_ok(const conn_t *c, const char *hdr, size_t hlen) {
    char buf[128], want[64];
    uint8_t dig[20];
    int n = snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
    sha1(buf, (size_t)n, dig);
    b64(dig, 20, want);
    const char *name = "sec-websocket-accept:";
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl < hlen; i++) {
        if ((i == 0 || hdr[i - 1] == '\n') && strncasecmp(hdr + i, name, nl) == 0) {
            const char *v = hdr + i + nl;
            while (*v == ' ' || *v == '\t') v++;
            size_t wl = strlen(want);
            return strncmp(v, want, wl) == 0 && (v[wl] == '\r' || v[wl] == ' ' || v[wl] == '\n');
        }
    }
    return 0;
}

/* One masked client frame. */
static int ws_send(conn_t *c, int opcode, const char *p, size_t n) {
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = 0x80 | (uint8_t)opcode;
    if (n < 126) hdr[h++] = 0x80 | (uint8_t)n;
    else if (n < 65536) { hdr[h++] = 0x80 | 126; hdr[h++] = n >> 8; hdr[h++] = n & 255; }
    else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) hdr[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint32_t mask = (uint32_t)rng();
    uint8_t mk[4];
    memcpy(mk, &mask, 4);
    memcpy(hdr + h, mk, 4);
    h += 4;
    char stackbuf[1024];
    char *out = n + h <= sizeof stackbuf ? stackbuf : xrealloc(NULL, n + h);
    memcpy(out, hdr, h);
    for (size_t i = 0; i < n; i++) out[h + i] = p[i] ^ mk[i & 3];
    int rc = conn_send(c, out, n + h);
    if (out != stackbuf) free(out);
    return rc;
}

/* ------------------------------------------------------------ templates */

static void uuid_for(int idx, char out[37]) {
    uint64_t hi = uuid_hi, lo = uuid_lo ^ (uint64_t)idx;
    hi = (hi & ~0xF000ull) | 0x4000ull;                    /* version 4 */
    lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull; /* variant */
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32), (unsigned)(hi >> 16) & 0xFFFF,
             (unsigned)hi & 0xFFFF, (unsigned)(lo >> 48), (unsigned long long)(lo & 0xFFFFFFFFFFFFull));
}

/* Expand %u (client uuid), %R (resume map) and %% in a template. */
static size_t expand(const char *tpl, const conn_t *c, char *out, size_t cap) {
    size_t o = 0;
    char u[37];
    uuid_for(c->idx, u);
    for (const char *p = tpl; *p && o + 64 < cap; p++) {
        if (p[0] == '%' && p[1] == 'u') { o += (size_t)snprintf(out + o, cap - o, "%s", u); p++; }
        else if (p[0] == '%' && p[1] == 'R') {
            if (c->cursor >= 0)
                o += (size_t)snprintf(out + o, cap - o, "{\"%s\":%" PRId64 "}", cfg.resume_key, c->cursor);
            else o += (size_t)snprintf(out + o, cap - o, "{}");
            p++;
        } else if (p[0] == '%' && p[1] == '%') { out[o++] = '%'; p++; }
        else out[o++] = *p;
    }
    out[o] = 0;
    return o;
}

/* ------------------------------------------------------- proc sampling */

typedef struct {
    uint64_t utime, stime;   /* clock ticks */
    uint64_t rss_kb;
    uint64_t pss_kb;         /* proportional: shared pages split between master and worker */
    int nproc;
    uint64_t sys_busy, sys_total;  /* whole machine, /proc/stat, clock ticks */
} proc_sample_t;

static void read_proc_stat(uint64_t *busy, uint64_t *total) {
    char buf[512];
    *busy = *total = 0;
    int fd = open("/proc/stat", O_RDONLY);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    unsigned long long v[8] = {0};
    if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
               &v[7]) < 4)
        return;
    for (int i = 0; i < 8; i++) *total += v[i];
    *busy = *total - v[3] - v[4];
}

static int read_stat(pid_t pid, pid_t *ppid, uint64_t *ut, uint64_t *st) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    char state;
    int pp;
    unsigned long u, s;
    if (sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &state, &pp, &u, &s) != 4) return -1;
    *ppid = pp;
    *ut = u;
    *st = s;
    return 0;
}

static uint64_t read_rss_kb(pid_t pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    unsigned long size, res;
    if (sscanf(buf, "%lu %lu", &size, &res) != 2) return 0;
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

static uint64_t read_pss_kb(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *p = strstr(buf, "\nPss:");
    return p ? strtoull(p + 5, NULL, 10) : 0;
}

/* The given pids plus all their descendants (nginx master + worker). */
static proc_sample_t sample_procs(void) {
    proc_sample_t s = {0};
    read_proc_stat(&s.sys_busy, &s.sys_total);
    if (cfg.npids == 0) return s;
    pid_t set[256];
    int n = 0;
    for (int i = 0; i < cfg.npids; i++) set[n++] = cfg.pids[i];
    DIR *d = opendir("/proc");
    pid_t all[8192], par[8192];
    int na = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && na < 8192) {
            if (!isdigit((unsigned char)e->d_name[0])) continue;
            pid_t pid = atoi(e->d_name), pp;
            uint64_t u, st;
            if (read_stat(pid, &pp, &u, &st) == 0) { all[na] = pid; par[na] = pp; na++; }
        }
        closedir(d);
    }
    for (int grew = 1; grew && n < 256;) {
        grew = 0;
        for (int i = 0; i < na && n < 256; i++) {
            int in = 0, parent_in = 0;
            for (int j = 0; j < n; j++) {
                if (set[j] == all[i]) in = 1;
                if (set[j] == par[i]) parent_in = 1;
            }
            if (!in && parent_in) { set[n++] = all[i]; grew = 1; }
        }
    }
    for (int i = 0; i < n; i++) {
        pid_t pp;
        uint64_t u, st;
        if (read_stat(set[i], &pp, &u, &st) == 0) {
            s.utime += u;
            s.stime += st;
            s.rss_kb += read_rss_kb(set[i]);
            s.pss_kb += read_pss_kb(set[i]);
            s.nproc++;
        }
    }
    return s;
}

/* ------------------------------------------------------------- sockets */

static struct sockaddr_in dst, pub_dst;

static int open_socket_to(int src_index, const struct sockaddr_in *to) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cfg.src_addrs > 0) {
        /* Several 127.0.0.x sources: each gives its own ephemeral port range. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
        src.sin_addr.s_addr = htonl(0x7F000001u + (uint32_t)(src_index % cfg.src_addrs));
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { close(fd); return -1; }
    }
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static int open_socket(int src_index) { return open_socket_to(src_index, &dst); }

static void sub_start(conn_t *c) {
    conn_reset(c);
    c->fd = open_socket(c->idx);
    c->connects++;
    if (c->fd < 0) {
        errf("connect sub %d: %s", c->idx, strerror(errno));
        c->state = ST_FAILED;
        n_failed++;
        return;
    }
    c->state = ST_CONNECTING;
    n_connecting_pending++;
    ep_set(c, EPOLLOUT);
}

static void sub_send_request(conn_t *c) {
    char path[2048], req[4096];
    expand(cfg.sub_path, c, path, sizeof path);
    int n;
    if (cfg.proto == PROTO_WS) {
        ws_key(c);
        n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, cfg.host, cfg.port, c->key);
    } else {
        n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
                     path, cfg.host, cfg.port);
    }
    c->state = ST_HANDSHAKE;
    ep_set(c, EPOLLIN);
    if (conn_send(c, req, (size_t)n) < 0) {
        errf("send handshake: %s", strerror(errno));
        c->state = ST_FAILED;
    }
}

/* ------------------------------------------------------------ messages */

static inline const char *find_key(const char *p, size_t n, const char *key, size_t klen) {
    const char *q = memmem(p, n, key, klen);
    return q ? q + klen : NULL;
}

static inline int parse_u64(const char *p, const char *end, uint64_t *out) {
    uint64_t v = 0;
    int d = 0;
    while (p < end && *p >= '0' && *p <= '9') { v = v * 10 + (uint64_t)(*p - '0'); p++; d++; }
    *out = v;
    return d > 0;
}

static void mark_done(long seq) {
    if (m_state[seq] & MS_DONE) return;
    m_state[seq] |= MS_DONE;
    n_done++;
}

static void sub_ready(conn_t *c) {
    if (c->state == ST_READY) return;
    c->state = ST_READY;
    n_ready++;
    n_connecting_pending--;
}

static void on_message(conn_t *c, const char *p, size_t n, uint64_t t_recv) {
    const char *end = p + n;
    if (c->state == ST_SUBSCRIBING) {
        if (!cfg.ready_match || memmem(p, n, cfg.ready_match, strlen(cfg.ready_match))) sub_ready(c);
    }
    /* One scan for the payload's start; the publisher writes {"r":R,"s":S,"t":T,...} in that order, so the
       rest is read in place (one memmem per delivery, not four: this loop runs millions of times a second). */
    const char *q = find_key(p, n, "{\"r\":", 5);
    uint64_t r, seq, ts;
    if (!q) {
        if (cfg.ping_match && cfg.proto == PROTO_WS && memmem(p, n, cfg.ping_match, strlen(cfg.ping_match))) {
            c_pings++;
            if (cfg.ping_reply) ws_send(c, 1, cfg.ping_reply, strlen(cfg.ping_reply));
            return;
        }
        c_other++;
        return;
    }
    if (!parse_u64(q, end, &r)) { c_other++; return; }
    if (r != run_id) { c_foreign++; return; }
    while (q < end && *q >= '0' && *q <= '9') q++;
    if (end - q < 5 || memcmp(q, ",\"s\":", 5) != 0 || !parse_u64(q + 5, end, &seq)) { c_other++; return; }
    q += 5;
    while (q < end && *q >= '0' && *q <= '9') q++;
    if (end - q < 5 || memcmp(q, ",\"t\":", 5) != 0 || !parse_u64(q + 5, end, &ts)) { c_other++; return; }
    if (cfg.track_cursor) {
        const char *qc = find_key(p, n, "\"cursor\":", 9);
        uint64_t cur;
        if (qc && parse_u64(qc, end, &cur) && (int64_t)cur > c->cursor) c->cursor = (int64_t)cur;
    }
    if (seq == 0) {
        if (!c->warm) { c->warm = 1; n_warm++; }
        return;
    }
    if ((long)seq > cfg.max_msgs || !(m_state[seq] & MS_SENT)) { c_bogus++; return; }
    uint8_t *bm = c->seen;
    uint8_t bit = (uint8_t)(1u << (seq & 7));
    if (bm[seq >> 3] & bit) { c->dup++; c_dup++; return; }
    bm[seq >> 3] |= bit;
    if (seq < c->maxseq) { c->ooo++; c_ooo++; } else c->maxseq = seq;
    c->got++;
    c_deliv++;
    if (!t_first_deliv) t_first_deliv = t_recv;
    t_last_deliv = t_recv;
    hist_add(&lat, t_recv > ts ? t_recv - ts : 0);
    if (++m_deliv[seq] >= (uint32_t)n_ready && n_ready > 0) mark_done((long)seq);
    if (cfg.mode == MODE_STORM && c->whole_ns == 0 && (long)c->got >= n_pub_ok && n_pub_ok > 0 && stopping_pub) {
        c->whole_ns = t_recv;
        n_whole++;
    }
}

static void sub_lost(conn_t *c, const char *why) {
    if (c->state == ST_CLOSED || c->state == ST_FAILED) return;
    if (c->state == ST_READY) { n_ready--; n_closed_unexpected++; }
    else { n_connecting_pending--; n_failed++; }
    c->state = ST_CLOSED;
    errf("subscriber %d closed: %s", c->idx, why);
    conn_reset(c);
}

/* WebSocket frames from the server: returns bytes consumed. */
static size_t ws_parse(conn_t *c, char *buf, size_t len, uint64_t t_recv) {
    size_t pos = 0;
    while (len - pos >= 2) {
        uint8_t *b = (uint8_t *)buf + pos;
        int fin = b[0] & 0x80, op = b[0] & 0x0F, masked = b[1] & 0x80;
        uint64_t plen = b[1] & 0x7F;
        size_t h = 2;
        if (plen == 126) {
            if (len - pos < 4) break;
            plen = (uint64_t)b[2] << 8 | b[3];
            h = 4;
        } else if (plen == 127) {
            if (len - pos < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = plen << 8 | b[2 + i];
            h = 10;
        }
        if (masked) h += 4;
        if (plen > MAX_LEFTOVER) { sub_lost(c, "frame too large"); return len; }
        if (len - pos < h + plen) break;
        char *pl = buf + pos + h;
        if (masked) for (uint64_t i = 0; i < plen; i++) pl[i] ^= b[h - 4 + (i & 3)];
        pos += h + plen;
        switch (op) {
        case 0x1: case 0x2:
            if (c->kind != K_SUB) break;
            if (fin) on_message(c, pl, plen, t_recv);
            else { c->flen = 0; buf_append(&c->frag, &c->flen, &c->fcap, pl, plen); }
            break;
        case 0x0:
            if (c->kind != K_SUB) break;
            buf_append(&c->frag, &c->flen, &c->fcap, pl, plen);
            if (fin) { on_message(c, c->frag, c->flen, t_recv); c->flen = 0; }
            break;
        case 0x8:
            c_ws_close++;
            if (c->kind == K_SUB) { sub_lost(c, "websocket close frame"); return len; }
            return len;
        case 0x9:
            c_pings++;
            ws_send(c, 0xA, pl, plen);
            break;
        default:
            break;
        }
        if (c->fd < 0) return len;
    }
    return pos;
}

static void sse_line(conn_t *c, const char *p, size_t n, uint64_t t_recv) {
    if (n && p[n - 1] == '\r') n--;
    if (n >= 5 && memcmp(p, "data:", 5) == 0) {
        size_t s = (n > 5 && p[5] == ' ') ? 6 : 5;
        on_message(c, p + s, n - s, t_recv);
    }
}

static void sse_feed(conn_t *c, const char *p, size_t n, uint64_t t_recv) {
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        if (!nl) {
            if (c->llen + n > MAX_LEFTOVER) { sub_lost(c, "sse line too long"); return; }
            buf_append(&c->line, &c->llen, &c->lcap, p, n);
            return;
        }
        size_t k = (size_t)(nl - p);
        if (c->llen) {
            buf_append(&c->line, &c->llen, &c->lcap, p, k);
            sse_line(c, c->line, c->llen, t_recv);
            c->llen = 0;
        } else {
            sse_line(c, p, k, t_recv);
        }
        if (c->fd < 0) return;
        p = nl + 1;
        n -= k + 1;
    }
}

/* SSE body (chunked or identity): returns bytes consumed. */
static size_t sse_parse(conn_t *c, char *buf, size_t len, uint64_t t_recv) {
    if (!c->chunked) { sse_feed(c, buf, len, t_recv); return len; }
    size_t pos = 0;
    while (pos < len && c->fd >= 0) {
        if (c->chunk_state == CH_SIZE) {
            char *crlf = memmem(buf + pos, len - pos, "\r\n", 2);
            if (!crlf) break;
            c->chunk_rem = strtoull(buf + pos, NULL, 16);
            pos = (size_t)(crlf - buf) + 2;
            if (c->chunk_rem == 0) { c->chunk_state = CH_DONE; sub_lost(c, "sse stream ended"); return len; }
            c->chunk_state = CH_DATA;
        } else if (c->chunk_state == CH_DATA) {
            size_t k = len - pos < c->chunk_rem ? len - pos : (size_t)c->chunk_rem;
            sse_feed(c, buf + pos, k, t_recv);
            pos += k;
            c->chunk_rem -= k;
            if (c->chunk_rem == 0) c->chunk_state = CH_CRLF;
        } else if (c->chunk_state == CH_CRLF) {
            if (len - pos < 2) break;
            pos += 2;
            c->chunk_state = CH_SIZE;
        } else {
            return len;
        }
    }
    return pos;
}

/* Case-insensitive search of needle in [p, p+n). */
static int memcase_has(const char *p, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(p + i, needle, k) == 0) return 1;
    return 0;
}

/* Value of header `name` (with the colon) in a header block; NULL when absent. */
static const char *header_value(const char *h, size_t n, const char *name, size_t *vlen) {
    size_t nl = strlen(name);
    for (size_t i = 1; i + nl < n; i++) {
        if (h[i - 1] == '\n' && strncasecmp(h + i, name, nl) == 0) {
            const char *v = h + i + nl;
            const char *e = memchr(v, '\r', n - i - nl);
            if (!e) return NULL;
            while (v < e && (*v == ' ' || *v == '\t')) v++;
            *vlen = (size_t)(e - v);
            return v;
        }
    }
    return NULL;
}

static int header_has(const char *h, size_t n, const char *name, const char *value) {
    size_t vl;
    const char *v = header_value(h, n, name, &vl);
    return v && memcase_has(v, vl, value);
}

/* Response headers for a subscriber: returns bytes consumed, 0 when incomplete. */
static size_t sub_handshake(conn_t *c, char *buf, size_t len) {
    char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) {
        if (len > MAX_HEADER) sub_lost(c, "response header too large");
        return 0;
    }
    size_t hl = (size_t)(end - buf) + 4;
    int status = 0;
    if (len < 12 || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) { sub_lost(c, "bad status line"); return len; }
    if (cfg.proto == PROTO_WS) {
        if (status != 101) { errf("ws handshake status %d", status); sub_lost(c, "ws handshake refused"); return len; }
        if (!ws_accept_ok(c, buf, hl)) { sub_lost(c, "bad Sec-WebSocket-Accept"); return len; }
        if (cfg.hello) {
            char msg[8192];
            size_t n = expand(cfg.hello, c, msg, sizeof msg);
            ws_send(c, 1, msg, n);
        }
    } else {
        if (status != 200) { errf("sse status %d", status); sub_lost(c, "sse refused"); return len; }
        c->chunked = (uint8_t)header_has(buf, hl, "transfer-encoding:", "chunked");
        c->chunk_state = CH_SIZE;
    }
    c->state = ST_SUBSCRIBING;
    if (!cfg.ready_match) sub_ready(c);
    return hl;
}

static void sub_readable(conn_t *c) {
    if (c->rlen + RECV_CHUNK > gcap) {
        gcap = c->rlen + RECV_CHUNK;
        gbuf = xrealloc(gbuf, gcap);
    }
    if (c->rlen) memcpy(gbuf, c->rbuf, c->rlen);
    ssize_t k = recv(c->fd, gbuf + c->rlen, RECV_CHUNK, 0);
    if (k == 0) { sub_lost(c, "eof"); return; }
    if (k < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        sub_lost(c, strerror(errno));
        return;
    }
    uint64_t t_recv = now_ns();   /* one timestamp per recv(): many frames share it */
    c_recvs++;
    c_rx_bytes += (uint64_t)k;
    size_t len = c->rlen + (size_t)k, pos = 0;
    if (c->state == ST_HANDSHAKE) {
        pos = sub_handshake(c, gbuf, len);
        if (c->fd < 0) return;
        if (pos == 0) goto keep;
    }
    if (cfg.proto == PROTO_WS) pos += ws_parse(c, gbuf + pos, len - pos, t_recv);
    else pos += sse_parse(c, gbuf + pos, len - pos, t_recv);
    if (c->fd < 0) return;
keep:
    c->rlen = 0;
    if (pos < len) {
        if (len - pos > MAX_LEFTOVER) { sub_lost(c, "leftover too large"); return; }
        buf_append(&c->rbuf, &c->rlen, &c->rcap, gbuf + pos, len - pos);
    }
}

/* ------------------------------------------------------------ publisher */

static void make_payload(char *out, long seq, uint64_t ts) {
    int n = snprintf(out, 512, "{\"r\":%u,\"s\":%ld,\"t\":%" PRIu64 ",\"p\":\"", run_id, seq, ts);
    int pad = cfg.payload_size - n - 2;
    for (int i = 0; i < pad && n < 500; i++) out[n++] = 'x';
    out[n++] = '"';
    out[n++] = '}';
    out[n] = 0;
}

static size_t make_body(char *out, size_t cap, const char *payload) {
    size_t o = 0;
    for (const char *p = cfg.pub_body; *p && o + 600 < cap; p++) {
        if (p[0] == '%' && p[1] == 'P') { o += (size_t)snprintf(out + o, cap - o, "%s", payload); p++; }
        else out[o++] = *p;
    }
    out[o] = 0;
    return o;
}

static void pub_start(conn_t *c) {
    conn_reset(c);
    c->fd = open_socket_to(0, &pub_dst);
    if (c->fd < 0) { errf("publisher connect: %s", strerror(errno)); c->state = ST_FAILED; return; }
    c->state = ST_CONNECTING;
    ep_set(c, EPOLLOUT);
}

static void pub_result(conn_t *c, int ok) {
    long seq = c->cur_seq;
    c->busy = 0;
    if (seq < 0) return;
    if (seq == 0) return;   /* warm-up */
    if (ok) { m_state[seq] |= MS_OK; n_pub_ok++; }
    else { m_state[seq] |= MS_FAIL; n_pub_fail++; mark_done(seq); }
}

static void pub_send(conn_t *c, long seq, uint64_t ts) {
    char payload[600], body[4096], req[8192];
    make_payload(payload, seq, ts);
    size_t bl = make_body(body, sizeof body, payload);
    if (seq > 0) { m_state[seq] |= MS_SENT; m_ts[seq] = ts; }
    c->cur_seq = seq;
    if (cfg.pub_kind == PUB_HTTP) {
        int n = snprintf(req, sizeof req,
                         "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n%s"
                         "Content-Length: %zu\r\n\r\n%s",
                         cfg.pub_path, cfg.host, cfg.pub_port, cfg.pub_headers, bl, body);
        c->busy = 1;
        if (conn_send(c, req, (size_t)n) < 0) { errf("publish send: %s", strerror(errno)); pub_result(c, 0); conn_reset(c); c->state = ST_CLOSED; }
    } else {
        if (ws_send(c, 1, body, bl) < 0) { errf("publish ws send failed"); pub_result(c, 0); conn_reset(c); c->state = ST_CLOSED; }
        else pub_result(c, 1);
    }
    t_last_pub = now_ns();
}

static int pub_has_work(void) { return warm_pending || (pub_next <= pub_allowed && !stopping_pub) ; }

static void pub_pump(void) {
    for (int i = 0; i < cfg.pub_conns && pub_has_work(); i++) {
        conn_t *c = &pubs[i];
        if (c->state == ST_CLOSED || c->state == ST_IDLE) {
            uint64_t now = now_ns();
            if (now >= c->retry_at && pub_reconnects++ < 10000) {
                c->retry_at = now + 20000000ull;  /* at most 50 connects/s per publisher slot */
                pub_start(c);
            }
            continue;
        }
        if (c->state != ST_READY) continue;
        while (pub_has_work()) {
            if (cfg.pub_kind == PUB_HTTP && c->busy) break;
            if (cfg.pub_kind == PUB_WS && c->wlen - c->woff > 65536) break;
            long seq;
            uint64_t ts;
            if (warm_pending) { warm_pending = 0; seq = 0; ts = now_ns(); }
            else {
                seq = pub_next++;
                ts = cfg.mode == MODE_OPEN ? t_pub_start + (uint64_t)(seq - 1) * t_interval : now_ns();
            }
            pub_send(c, seq, ts);
            if (c->fd < 0) break;
        }
    }
}

/* HTTP response to a publish: returns bytes consumed. */
static size_t pub_parse_http(conn_t *c, char *buf, size_t len, int *close_after) {
    size_t pos = 0;
    while (pos < len) {
        char *end = memmem(buf + pos, len - pos, "\r\n\r\n", 4);
        if (!end) break;
        size_t hl = (size_t)(end - (buf + pos)) + 4;
        int status = 0;
        sscanf(buf + pos, "HTTP/1.%*d %d", &status);
        size_t body = 0;
        int chunked = header_has(buf + pos, hl, "transfer-encoding:", "chunked");
        if (header_has(buf + pos, hl, "connection:", "close")) *close_after = 1;
        if (chunked) {
            char *term = memmem(buf + pos + hl, len - pos - hl, "0\r\n\r\n", 5);
            if (!term) break;
            body = (size_t)(term - (buf + pos + hl)) + 5;
        } else {
            size_t vl;
            const char *v = header_value(buf + pos, hl, "content-length:", &vl);
            if (v) body = strtoul(v, NULL, 10);
            if (len - pos < hl + body) break;
        }
        pos += hl + body;
        if (status >= 200 && status < 300) pub_result(c, 1);
        else {
            errf("publish HTTP status %d", status);
            pub_result(c, 0);
        }
    }
    return pos;
}

static void pub_readable(conn_t *c) {
    char tmp[65536];
    size_t have = c->rlen;
    if (have > sizeof tmp / 2) have = 0;  /* should not happen: responses are tiny */
    memcpy(tmp, c->rbuf, have);
    ssize_t k = recv(c->fd, tmp + have, sizeof tmp - have, 0);
    if (k <= 0) {
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (c->busy) { errf("publisher connection closed with a request outstanding"); pub_result(c, 0); }
        conn_reset(c);
        c->state = ST_CLOSED;
        return;
    }
    size_t len = have + (size_t)k, pos = 0;
    if (c->state == ST_HANDSHAKE) {
        char *end = memmem(tmp, len, "\r\n\r\n", 4);
        if (!end) { c->rlen = 0; buf_append(&c->rbuf, &c->rlen, &c->rcap, tmp, len); return; }
        int status = 0;
        sscanf(tmp, "HTTP/1.%*d %d", &status);
        if (status != 101 || !ws_accept_ok(c, tmp, (size_t)(end - tmp) + 4)) {
            errf("publisher ws handshake failed (status %d)", status);
            conn_reset(c);
            c->state = ST_FAILED;
            return;
        }
        pos = (size_t)(end - tmp) + 4;
        c->state = ST_READY;
        if (cfg.pub_hello) ws_send(c, 1, cfg.pub_hello, strlen(cfg.pub_hello));
    }
    int close_after = 0;
    if (cfg.pub_kind == PUB_HTTP) pos += pub_parse_http(c, tmp + pos, len - pos, &close_after);
    else pos += ws_parse(c, tmp + pos, len - pos, now_ns());
    c->rlen = 0;
    if (c->fd < 0) return;
    if (pos < len) buf_append(&c->rbuf, &c->rlen, &c->rcap, tmp + pos, len - pos);
    if (close_after && !c->busy) { conn_reset(c); c->state = ST_CLOSED; }
}

static void pub_connected(conn_t *c) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) { errf("publisher connect: %s", strerror(err)); conn_reset(c); c->state = ST_CLOSED; return; }
    ep_set(c, EPOLLIN);
    if (cfg.pub_kind == PUB_HTTP) { c->state = ST_READY; return; }
    char req[2048];
    ws_key(c);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     cfg.pub_path, cfg.host, cfg.pub_port, c->key, cfg.pub_headers);
    c->state = ST_HANDSHAKE;
    conn_send(c, req, (size_t)n);
}

/* ------------------------------------------------------------ the loop */

static uint64_t timer_ticks;

static void handle_event(struct epoll_event *e) {
    int kind = *(int *)e->data.ptr;
    if (kind == K_TIMER) {
        uint64_t x;
        if (read(timer_fd, &x, sizeof x) == sizeof x) timer_ticks += x;
        return;
    }
    conn_t *c = e->data.ptr;
    if (c->fd < 0) return;
    if (kind == K_SUB) {
        if (c->state == ST_CONNECTING) {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err || (e->events & (EPOLLERR | EPOLLHUP))) {
                errf("connect sub %d: %s", c->idx, strerror(err ? err : ECONNREFUSED));
                n_connecting_pending--;
                n_failed++;
                c->state = ST_FAILED;
                conn_reset(c);
                return;
            }
            sub_send_request(c);
            return;
        }
        if (e->events & EPOLLOUT) {
            if (conn_flush(c) < 0) { sub_lost(c, "write failed"); return; }
        }
        if (e->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) sub_readable(c);
    } else {
        if (c->state == ST_CONNECTING) { pub_connected(c); return; }
        if (e->events & EPOLLOUT) {
            if (conn_flush(c) < 0) { if (c->busy) pub_result(c, 0); conn_reset(c); c->state = ST_CLOSED; return; }
        }
        if (e->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) pub_readable(c);
    }
}

static int next_to_connect;

static void connect_more(void) {
    while (next_to_connect < cfg.nsubs && n_connecting_pending < cfg.connect_conc) {
        sub_start(&subs[next_to_connect++]);
    }
}

static void loop_once(int timeout_ms) {
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++) handle_event(&evs[i]);
    connect_more();
}

static void start_timer(void) {
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {0};
    its.it_interval.tv_sec = (time_t)(t_interval / 1000000000ull);
    its.it_interval.tv_nsec = (long)(t_interval % 1000000000ull);
    its.it_value = its.it_interval;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    timerfd_settime(timer_fd, 0, &its, NULL);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &timer_kind};
    epoll_ctl(ep, EPOLL_CTL_ADD, timer_fd, &e);
}

static void stop_timer(void) {
    if (timer_fd >= 0) { close(timer_fd); timer_fd = -1; }
}

/* Give up on messages in flight longer than --msg-timeout (closed loop). */
static void reap_old(uint64_t now) {
    uint64_t lim = (uint64_t)(cfg.msg_timeout * 1e9);
    while (oldest_open < pub_next) {
        if (m_state[oldest_open] & MS_DONE) { oldest_open++; continue; }
        if ((m_state[oldest_open] & MS_SENT) && now - m_ts[oldest_open] > lim) {
            n_abandoned++;
            mark_done(oldest_open);
            oldest_open++;
            continue;
        }
        break;
    }
}

static int all_sent_done(void) {
    for (int i = 0; i < cfg.pub_conns; i++) if (pubs[i].busy || pubs[i].wlen > pubs[i].woff) return 0;
    return 1;
}

/* Publish a warm-up message until every ready subscriber saw one. */
static int warm_barrier(double timeout_s) {
    uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9), next = 0;
    while (n_warm < n_ready && now_ns() < deadline) {
        if (now_ns() >= next) { warm_pending = 1; next = now_ns() + 500000000ull; }
        pub_pump();
        loop_once(5);
    }
    return n_warm >= n_ready;
}

static void run_connect(uint64_t deadline) {
    while (n_ready + n_failed + n_closed_unexpected < cfg.nsubs && now_ns() < deadline) loop_once(10);
}

static void run_publish_phase(void) {
    uint64_t dur = (uint64_t)(cfg.duration * 1e9);
    t_pub_start = now_ns();
    if (cfg.mode == MODE_OPEN) { start_timer(); pub_allowed = 1; }
    for (;;) {
        uint64_t now = now_ns();
        if (now - t_pub_start >= dur || pub_next > cfg.max_msgs) break;
        if (cfg.mode == MODE_OPEN) {
            long due = (long)((now - t_pub_start) / t_interval) + 1;
            pub_allowed = due < cfg.max_msgs ? due : cfg.max_msgs;
        } else {
            reap_old(now);
            long allowed = n_done + cfg.window;
            pub_allowed = allowed < cfg.max_msgs ? allowed : cfg.max_msgs;
        }
        pub_pump();
        loop_once(cfg.mode == MODE_OPEN ? 2 : 1);
        if (n_ready == 0) break;
    }
    stop_timer();
    stopping_pub = 1;
}

/* Wait for outstanding deliveries while they keep coming (a slow server is not a lossy one), bounded. */
static double drain_s;
static void run_drain(void) {
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(cfg.drain_timeout * 1e9);
    uint64_t idle = (uint64_t)(cfg.drain_idle * 1e9), last_progress = t0, last_deliv = c_deliv;
    while (now_ns() < deadline) {
        long sent = pub_next - 1;
        int deliveries_done = n_done >= sent;
        if (!deliveries_done) {
            /* Fallback: count completion directly (n_ready may have changed). */
            long d = 0;
            for (long s = oldest_open; s <= sent; s++) if (!(m_state[s] & MS_DONE) && m_deliv[s] < (uint32_t)n_ready) d++;
            deliveries_done = d == 0;
        }
        if (deliveries_done && all_sent_done()) break;
        uint64_t now = now_ns();
        if (c_deliv != last_deliv) { last_deliv = c_deliv; last_progress = now; }
        else if (now - last_progress > idle && all_sent_done()) break;
        loop_once(5);
    }
    drain_s = ns_to_s(now_ns() - t0);
}

/* ------------------------------------------------------------------ main */

static void usage(void) {
    fprintf(stderr,
        "usage: loadgen --port P [options]      (prints one JSON line on stdout)\n"
        "subscribers:\n"
        "  --host A            server address (127.0.0.1)\n"
        "  --port P            server port\n"
        "  --proto ws|sse      subscriber protocol (ws)\n"
        "  --sub-path T        request path; %%u = client uuid (/)\n"
        "  --hello T           WebSocket text message sent after the handshake; %%u uuid, %%R resume map\n"
        "  --ready-match S     subscribed once a message containing S arrives (default: after the handshake)\n"
        "  --ping-match S      application ping: a message containing S ...\n"
        "  --ping-reply T      ... is answered with T\n"
        "  --resume-key K      stream name used in %%R, e.g. {\"chat\":41} (chat)\n"
        "  --track-cursor      remember the last \"cursor\" seen per subscriber (implied by --mode storm)\n"
        "  --subs N            subscriber connections (10, at most 100000)\n"
        "  --src-addrs K       bind to 127.0.0.1 .. 127.0.0.K before connecting (8; 0 = no bind)\n"
        "  --connect-conc C    connections in progress at once (256)\n"
        "  --connect-timeout S bound for connecting everyone (60)\n"
        "workload:\n"
        "  --mode open|closed|idle|storm (open)\n"
        "  --rate R            open loop publishes/s, evenly paced (100)\n"
        "  --duration S        publishing phase (5)\n"
        "  --window K          closed loop publishes in flight (1)\n"
        "  --max-msgs M        bound on published messages (default from rate x duration, memory-capped)\n"
        "  --msg-timeout S     closed loop: give up on a publish after S (20)\n"
        "  --drain-idle S      stop draining after S without a delivery (2)\n"
        "  --drain-timeout S   drain cap (60)\n"
        "  --idle-settle S     idle mode: wait before sampling memory (2)\n"
        "  --storm-pre N       storm: messages before the drop (10)\n"
        "  --storm-missed N    storm: messages published while everyone is away (100)\n"
        "  --storm-timeout S   storm: bound per phase (30)\n"
        "  --payload-size B    payload bytes (64)\n"
        "  --bitmap-mb MB      memory cap of the per-subscriber seen-bitmaps (512)\n"
        "publisher:\n"
        "  --pub http|ws       POST per message on keep-alive connections, or WebSocket text frames (http)\n"
        "  --pub-port P        publisher port (same as --port)\n"
        "  --pub-path P        POST target or WebSocket path (/publish)\n"
        "  --pub-body T        body/message; %%P = the JSON payload (%%P)\n"
        "  --pub-header H      extra request header, repeatable (e.g. 'Authorization: Bearer KEY')\n"
        "  --pub-hello T       first WebSocket message of a ws publisher\n"
        "  --pub-conns C       publisher connections (4)\n"
        "measurement:\n"
        "  --server-pid PID    sample CPU and memory of PID and its descendants, repeatable\n"
        "  --verbose           print errors to stderr as they happen\n");
    exit(2);
}

static void print_result(uint64_t t_conn0, uint64_t t_conn1, proc_sample_t s0, proc_sample_t s1, proc_sample_t s2,
                         uint64_t t_meas0, uint64_t t_meas1, struct rusage *ru0, struct rusage *ru1,
                         uint64_t t_run0, uint64_t t_run1, double storm_all_s, double storm_p50, double storm_p99) {
    long ticks = sysconf(_SC_CLK_TCK);
    double meas = ns_to_s(t_meas1 - t_meas0);
    double su = (double)(s2.utime - s1.utime) / ticks, ss = (double)(s2.stime - s1.stime) / ticks;
    double lu = (double)(ru1->ru_utime.tv_sec - ru0->ru_utime.tv_sec) + (ru1->ru_utime.tv_usec - ru0->ru_utime.tv_usec) / 1e6;
    double ls = (double)(ru1->ru_stime.tv_sec - ru0->ru_stime.tv_sec) + (ru1->ru_stime.tv_usec - ru0->ru_stime.tv_usec) / 1e6;
    double run = ns_to_s(t_run1 - t_run0);
    long sent = pub_next - 1;
    uint64_t expected = (uint64_t)n_pub_ok * (uint64_t)n_meas_subs;
    /* lost: for every acknowledged publish, ready subscribers that never got it */
    uint64_t lost = 0;
    if (m_state) {
        for (long s = 1; s <= sent; s++) {
            if (!(m_state[s] & MS_OK)) continue;
            uint32_t d = m_deliv[s];
            if (d < (uint32_t)n_meas_subs) lost += (uint64_t)n_meas_subs - d;
        }
    }
    double span = t_last_deliv > t_pub_start ? ns_to_s(t_last_deliv - t_pub_start) : 0;
    /* open loop: the publishing phase; otherwise the same window as deliveries/s (to the last delivery) */
    double pub_span = cfg.mode == MODE_OPEN ? cfg.duration : span;
    const char *modes[] = {"open", "closed", "idle", "storm"};
    printf("{\"mode\":\"%s\",\"proto\":\"%s\",\"subs\":%d,\"subs_ready\":%d,\"subs_failed\":%d,"
           "\"disconnects\":%d,\"connect_s\":%.4f,",
           modes[cfg.mode], cfg.proto == PROTO_WS ? "ws" : "sse", cfg.nsubs, n_ready, n_failed,
           n_closed_unexpected, ns_to_s(t_conn1 - t_conn0));
    printf("\"offered_rate\":%.1f,\"window\":%d,\"duration_s\":%.3f,\"published\":%ld,\"pub_ok\":%ld,"
           "\"pub_errors\":%ld,\"pub_rate\":%.1f,\"expected\":%" PRIu64 ",\"deliveries\":%" PRIu64 ","
           "\"lost\":%" PRIu64 ",\"dup\":%" PRIu64 ",\"out_of_order\":%" PRIu64 ",\"abandoned\":%ld,"
           "\"foreign\":%" PRIu64 ",\"other_frames\":%" PRIu64 ",\"bogus\":%" PRIu64 ",\"pings\":%" PRIu64 ","
           "\"deliv_rate\":%.1f,\"drain_s\":%.3f,",
           cfg.mode == MODE_OPEN ? cfg.rate : 0.0, cfg.mode == MODE_CLOSED ? cfg.window : 0, span, sent, n_pub_ok,
           n_pub_fail, pub_span > 0 ? n_pub_ok / pub_span : 0.0, expected, c_deliv, lost, c_dup, c_ooo, n_abandoned,
           c_foreign, c_other, c_bogus, c_pings, span > 0 ? c_deliv / span : 0.0, drain_s);
    printf("\"lat_us\":{\"n\":%" PRIu64 ",\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f},",
           lat.n, hist_pct(&lat, 0.5) / 1e3, hist_pct(&lat, 0.9) / 1e3, hist_pct(&lat, 0.99) / 1e3,
           hist_pct(&lat, 0.999) / 1e3, lat.max / 1e3, lat.n ? (double)(lat.sum / lat.n) / 1e3 : 0.0);
    printf("\"loadgen\":{\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"wall_s\":%.3f,\"cpu_pct\":%.1f,"
           "\"recvs\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"deliveries_per_recv\":%.2f},",
           lu, ls, run, run > 0 ? 100 * (lu + ls) / run : 0.0, c_recvs, c_rx_bytes,
           c_recvs ? (double)c_deliv / (double)c_recvs : 0.0);
    printf("\"server\":{\"procs\":%d,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"measured_s\":%.3f,\"cpu_pct\":%.1f,"
           "\"rss_before_kb\":%" PRIu64 ",\"rss_connected_kb\":%" PRIu64 ",\"rss_end_kb\":%" PRIu64 ","
           "\"pss_before_kb\":%" PRIu64 ",\"pss_connected_kb\":%" PRIu64 ",\"pss_end_kb\":%" PRIu64 ","
           "\"rss_per_conn_kb\":%.2f},",
           s2.nproc, su, ss, meas, meas > 0 ? 100 * (su + ss) / meas : 0.0, s0.rss_kb, s1.rss_kb, s2.rss_kb,
           s0.pss_kb, s1.pss_kb, s2.pss_kb,
           n_ready > 0 ? ((double)s1.rss_kb - (double)s0.rss_kb) / n_ready : 0.0);
    if (cfg.mode == MODE_STORM)
        printf("\"storm\":{\"missed\":%d,\"whole\":%d,\"all_whole_s\":%.4f,\"p50_whole_s\":%.4f,\"p99_whole_s\":%.4f},",
               cfg.storm_missed, n_whole, storm_all_s, storm_p50, storm_p99);
    {
        /* How busy the whole machine was while measuring, and how much of it was neither us nor the server. */
        double tot = (double)(s2.sys_total - s1.sys_total), busy = (double)(s2.sys_busy - s1.sys_busy);
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        double busy_pct = tot > 0 ? 100.0 * busy / tot * ncpu : 0;  /* percent of one core, like top */
        double ours = meas > 0 ? 100.0 * (su + ss) / meas : 0;
        double lg_meas = run > 0 ? 100.0 * (lu + ls) / run : 0;
        double others = busy_pct - ours - lg_meas;
        printf("\"machine\":{\"cpus\":%ld,\"busy_pct\":%.1f,\"others_pct\":%.1f},", ncpu, busy_pct,
               others > 0 ? others : 0.0);
    }
    printf("\"run_id\":%u,\"error\":", run_id);
    if (first_error[0]) {
        putchar('"');
        for (char *p = first_error; *p; p++) {
            if (*p == '"' || *p == '\\') putchar('\\');
            if ((unsigned char)*p >= 32) putchar(*p);
        }
        putchar('"');
    } else {
        printf("null");
    }
    printf("}\n");
    fflush(stdout);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run_storm(uint64_t *t_storm0) {
    /* 1. a few messages every subscriber sees, so each has a cursor */
    t_pub_start = now_ns();
    pub_allowed = cfg.storm_pre;
    uint64_t deadline = now_ns() + (uint64_t)(cfg.storm_timeout * 1e9);
    while ((n_done < cfg.storm_pre || !all_sent_done()) && now_ns() < deadline) { pub_pump(); loop_once(2); }
    /* 2. everyone drops at once */
    for (int i = 0; i < cfg.nsubs; i++) {
        conn_t *c = &subs[i];
        if (c->state == ST_READY) { n_ready--; c->state = ST_CLOSED; conn_reset(c); }
    }
    /* 3. messages they miss */
    pub_allowed = cfg.storm_pre + cfg.storm_missed;
    while ((pub_next <= pub_allowed || !all_sent_done()) && now_ns() < deadline) { pub_pump(); loop_once(2); }
    /* 4. everyone reconnects at once, resuming from its cursor */
    stopping_pub = 1;
    *t_storm0 = now_ns();
    for (int i = 0; i < cfg.nsubs; i++) {
        conn_t *c = &subs[i];
        if (c->state == ST_CLOSED) { c->warm = 0; sub_start(c); }
    }
    deadline = now_ns() + (uint64_t)(cfg.storm_timeout * 1e9);
    int target = 0;
    for (int i = 0; i < cfg.nsubs; i++) if (subs[i].state != ST_FAILED) target++;
    while (n_whole < target && now_ns() < deadline) loop_once(5);
    /* subscribers that already had everything before the storm cannot exist: they missed storm_missed */
}

int main(int argc, char **argv) {
    static struct option opts[] = {
        {"host", 1, 0, 'H'}, {"port", 1, 0, 'p'}, {"pub-port", 1, 0, 'Q'}, {"proto", 1, 0, 'P'}, {"sub-path", 1, 0, 'S'},
        {"hello", 1, 0, 'h'}, {"ready-match", 1, 0, 'r'}, {"subs", 1, 0, 'n'}, {"src-addrs", 1, 0, 'a'},
        {"connect-conc", 1, 0, 'C'}, {"connect-timeout", 1, 0, 'T'}, {"mode", 1, 0, 'm'}, {"rate", 1, 0, 'R'},
        {"duration", 1, 0, 'd'}, {"window", 1, 0, 'w'}, {"max-msgs", 1, 0, 'M'}, {"drain-timeout", 1, 0, 'D'}, {"drain-idle", 1, 0, 'E'},
        {"msg-timeout", 1, 0, 'o'}, {"pub", 1, 0, 'k'}, {"pub-path", 1, 0, 'u'}, {"pub-body", 1, 0, 'b'},
        {"pub-header", 1, 0, 'x'}, {"pub-hello", 1, 0, 'y'}, {"pub-conns", 1, 0, 'c'},
        {"payload-size", 1, 0, 'z'}, {"server-pid", 1, 0, 'i'}, {"idle-settle", 1, 0, 'I'},
        {"storm-pre", 1, 0, 'e'}, {"storm-missed", 1, 0, 'f'}, {"storm-timeout", 1, 0, 'g'},
        {"track-cursor", 0, 0, 't'}, {"resume-key", 1, 0, 'K'}, {"ping-match", 1, 0, 'j'},
        {"ping-reply", 1, 0, 'J'}, {"bitmap-mb", 1, 0, 'B'}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, '?'},
        {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'H': cfg.host = optarg; break;
        case 'p': cfg.port = atoi(optarg); break;
        case 'Q': cfg.pub_port = atoi(optarg); break;
        case 'P': cfg.proto = strcmp(optarg, "sse") == 0 ? PROTO_SSE : PROTO_WS; break;
        case 'S': cfg.sub_path = optarg; break;
        case 'h': cfg.hello = optarg; break;
        case 'r': cfg.ready_match = optarg; break;
        case 'n': cfg.nsubs = atoi(optarg); break;
        case 'a': cfg.src_addrs = atoi(optarg); break;
        case 'C': cfg.connect_conc = atoi(optarg); break;
        case 'T': cfg.connect_timeout = atof(optarg); break;
        case 'm':
            cfg.mode = !strcmp(optarg, "open") ? MODE_OPEN : !strcmp(optarg, "closed") ? MODE_CLOSED
                     : !strcmp(optarg, "idle") ? MODE_IDLE : !strcmp(optarg, "storm") ? MODE_STORM : -1;
            if (cfg.mode < 0) usage();
            break;
        case 'R': cfg.rate = atof(optarg); break;
        case 'd': cfg.duration = atof(optarg); break;
        case 'w': cfg.window = atoi(optarg); break;
        case 'M': cfg.max_msgs = atol(optarg); break;
        case 'D': cfg.drain_timeout = atof(optarg); break;
        case 'E': cfg.drain_idle = atof(optarg); break;
        case 'o': cfg.msg_timeout = atof(optarg); break;
        case 'k': cfg.pub_kind = strcmp(optarg, "ws") == 0 ? PUB_WS : PUB_HTTP; break;
        case 'u': cfg.pub_path = optarg; break;
        case 'b': cfg.pub_body = optarg; break;
        case 'x':
            if (strlen(cfg.pub_headers) + strlen(optarg) + 3 >= sizeof cfg.pub_headers) usage();
            strcat(cfg.pub_headers, optarg);
            strcat(cfg.pub_headers, "\r\n");
            break;
        case 'y': cfg.pub_hello = optarg; break;
        case 'c': cfg.pub_conns = atoi(optarg); break;
        case 'z': cfg.payload_size = atoi(optarg); break;
        case 'i': if (cfg.npids < MAX_PIDS) cfg.pids[cfg.npids++] = atoi(optarg); break;
        case 'I': cfg.idle_settle = atof(optarg); break;
        case 'e': cfg.storm_pre = atoi(optarg); break;
        case 'f': cfg.storm_missed = atoi(optarg); break;
        case 'g': cfg.storm_timeout = atof(optarg); break;
        case 't': cfg.track_cursor = 1; break;
        case 'K': cfg.resume_key = optarg; break;
        case 'j': cfg.ping_match = optarg; break;
        case 'J': cfg.ping_reply = optarg; break;
        case 'B': cfg.bitmap_mb = atol(optarg); break;
        case 'v': cfg.verbose = 1; break;
        default: usage();
        }
    }
    if (cfg.port <= 0 || cfg.nsubs < 1 || cfg.nsubs > MAX_SUBS) usage();
    if (cfg.pub_conns < 1) cfg.pub_conns = 1;
    if (cfg.pub_conns > MAX_PUBS) cfg.pub_conns = MAX_PUBS;
    if (cfg.window < 1) cfg.window = 1;
    if (cfg.rate <= 0) cfg.rate = 1;
    if (cfg.duration > 600) cfg.duration = 600;
    if (cfg.drain_timeout > 120) cfg.drain_timeout = 120;
    if (cfg.connect_timeout > 600) cfg.connect_timeout = 600;
    if (cfg.storm_timeout > 600) cfg.storm_timeout = 600;
    if (cfg.mode == MODE_STORM) cfg.track_cursor = 1;

    /* Bound the message count: every subscriber keeps a bitmap over it. */
    long budget = (long)((uint64_t)cfg.bitmap_mb * 1024 * 1024 * 8 / (uint64_t)cfg.nsubs);
    long want = cfg.max_msgs;
    if (want <= 0) {
        if (cfg.mode == MODE_OPEN) want = (long)(cfg.rate * cfg.duration) + 1;
        else if (cfg.mode == MODE_STORM) want = cfg.storm_pre + cfg.storm_missed;
        else if (cfg.mode == MODE_IDLE) want = 1;
        else want = 2000000;
    }
    if (want > budget) want = budget;
    if (want > 20000000) want = 20000000;
    cfg.max_msgs = want;
    t_interval = (uint64_t)(1e9 / cfg.rate);
    if (t_interval == 0) t_interval = 1;

    /* Raise our own descriptor limit (root may raise the hard limit too). */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = (rlim_t)cfg.nsubs + MAX_PUBS + 256;
    if (rl.rlim_cur < need) {
        struct rlimit nr = {need, rl.rlim_max > need ? rl.rlim_max : need};
        if (setrlimit(RLIMIT_NOFILE, &nr) < 0) {
            nr.rlim_cur = nr.rlim_max = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &nr);
            if (rl.rlim_max < need) die("RLIMIT_NOFILE hard limit %lu < %lu", (unsigned long)rl.rlim_max, (unsigned long)need);
        }
    }
    signal(SIGPIPE, SIG_IGN);

    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = now_ns();
    rng_state = seed | 1;
    run_id = (uint32_t)(rng() % 900000) + 100000;
    uuid_hi = rng();
    uuid_lo = rng();

    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)cfg.port);
    if (inet_pton(AF_INET, cfg.host, &dst.sin_addr) != 1) die("bad --host %s", cfg.host);
    if (cfg.pub_port <= 0) cfg.pub_port = cfg.port;
    pub_dst = dst;
    pub_dst.sin_port = htons((uint16_t)cfg.pub_port);

    ep = epoll_create1(EPOLL_CLOEXEC);
    gcap = RECV_CHUNK * 2;
    gbuf = xrealloc(NULL, gcap);
    subs = calloc((size_t)cfg.nsubs, sizeof *subs);
    m_deliv = calloc((size_t)cfg.max_msgs + 2, sizeof *m_deliv);
    m_state = calloc((size_t)cfg.max_msgs + 2, 1);
    m_ts = calloc((size_t)cfg.max_msgs + 2, sizeof *m_ts);
    bitmap_stride = ((size_t)cfg.max_msgs + 8) / 8 + 1;
    bitmaps = calloc((size_t)cfg.nsubs, bitmap_stride);  /* pages are touched only when used */
    if (!subs || !m_deliv || !m_state || !m_ts || !bitmaps) die("out of memory");
    for (int i = 0; i < cfg.nsubs; i++) {
        subs[i].kind = K_SUB;
        subs[i].fd = -1;
        subs[i].idx = i;
        subs[i].cursor = -1;
        subs[i].chunk_state = CH_SIZE;
        subs[i].seen = bitmaps + (size_t)i * bitmap_stride;
    }
    for (int i = 0; i < MAX_PUBS; i++) { pubs[i].kind = K_PUB; pubs[i].fd = -1; pubs[i].state = ST_IDLE; pubs[i].idx = -1 - i; }

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t t_run0 = now_ns();
    proc_sample_t s0 = sample_procs();

    /* connect every subscriber (bounded concurrency, bounded time) */
    uint64_t t_conn0 = now_ns();
    connect_more();
    run_connect(t_conn0 + (uint64_t)(cfg.connect_timeout * 1e9));
    uint64_t t_conn1 = now_ns();
    if (n_ready < cfg.nsubs) errf("only %d of %d subscribers ready", n_ready, cfg.nsubs);

    proc_sample_t s1, s2;
    uint64_t t_meas0, t_meas1, t_storm0 = 0;
    double storm_all = -1, storm_p50 = -1, storm_p99 = -1;
    if (cfg.mode == MODE_IDLE) {
        n_meas_subs = n_ready;
        uint64_t until = now_ns() + (uint64_t)(cfg.idle_settle * 1e9);
        while (now_ns() < until) loop_once(10);
        s1 = sample_procs();
        t_meas0 = t_meas1 = now_ns();
        s2 = s1;
        /* the CPU a server spent while accepting everything */
        s2.utime = s1.utime; s2.stime = s1.stime;
        s1.utime = s0.utime; s1.stime = s0.stime;
        s1.sys_busy = s0.sys_busy; s1.sys_total = s0.sys_total;
        t_meas0 = t_conn0;
    } else {
        /* publisher connections, then a warm-up barrier so no subscriber is half-registered */
        int npub = cfg.mode == MODE_STORM ? 1 : cfg.pub_conns;
        cfg.pub_conns = npub;
        if (n_ready > 0 && !warm_barrier(10.0)) errf("warm-up: only %d of %d subscribers got the warm-up message", n_warm, n_ready);
        s1 = sample_procs();
        t_meas0 = now_ns();
        n_meas_subs = n_ready;
        if (cfg.mode == MODE_STORM) {
            run_storm(&t_storm0);
            t_pub_start = t_storm0;   /* latency of replayed frames is not meaningful; whole-time is */
        } else if (n_ready > 0) {
            run_publish_phase();
            run_drain();
        }
        t_meas1 = now_ns();
        s2 = sample_procs();
        if (cfg.mode == MODE_STORM) {
            uint64_t *w = calloc((size_t)cfg.nsubs, sizeof *w);
            int nw = 0;
            for (int i = 0; i < cfg.nsubs; i++) if (subs[i].whole_ns) w[nw++] = subs[i].whole_ns - t_storm0;
            qsort(w, (size_t)nw, sizeof *w, cmp_u64);
            if (nw > 0) {
                storm_all = nw == cfg.nsubs ? ns_to_s(w[nw - 1]) : -1;
                storm_p50 = ns_to_s(w[(size_t)(nw * 0.5)]);
                storm_p99 = ns_to_s(w[(size_t)(nw * 0.99) < (size_t)nw ? (size_t)(nw * 0.99) : (size_t)nw - 1]);
            }
            if (nw < cfg.nsubs) errf("storm: only %d of %d subscribers whole", nw, cfg.nsubs);
            free(w);
        }
    }
    uint64_t t_run1 = now_ns();
    getrusage(RUSAGE_SELF, &ru1);
    if (cfg.mode == MODE_STORM) {
        /* ready count was reset by the drop; expected deliveries are per subscriber */
        n_ready = 0;
        for (int i = 0; i < cfg.nsubs; i++) if (subs[i].state == ST_READY) n_ready++;
    }
    print_result(t_conn0, t_conn1, s0, s1, s2, t_meas0, t_meas1, &ru0, &ru1, t_run0, t_run1, storm_all, storm_p50,
                 storm_p99);
    return 0;
}
