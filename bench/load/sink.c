// sink: the load harness's upstream, the same for every contender.
//
// One thread, epoll, non-blocking sockets, HTTP/1.1 keep-alive (what nginx, HAProxy and
// FastProxy all speak upstream). Like any real server it closes the connection after the answer
// when the request says "Connection: close", or is HTTP/1.0 without "Connection: keep-alive": a
// proxy that forgot to keep its upstream connections alive pays for it here as it would in front
// of Azure Monitor. It
//   - reads every request body in full (Content-Length or chunked) and answers 204;
//   - answers GET /big?bytes=N (default 1 MiB) with N bytes and a Content-Length, written from
//     one static buffer, so a "large streamed response" costs the sink almost nothing;
//   - answers GET /metadata/identity/oauth2/token like Azure IMDS (400 without "Metadata: true"),
//     so FastProxy's real ManagedIdentityCredential gets a token from
//     AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:PORT.
// One thread keeps the sink's CPU cost predictable and equal for all contenders; it is not the
// bottleneck here (direct runs reach well above any proxy).
//
// Build: cc -O2 -o sink sink.c      Run: ./sink PORT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define MAXBIG (16 * 1024 * 1024)

enum state { HEADERS, BODY_LEN, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS };

typedef struct conn {
    int fd;
    enum state st;
    long long remaining;      // body bytes (or chunk bytes) still to read
    char hdr[16384];          // header (or chunk-size line) accumulator
    int hlen;
    // pending output
    char out[1024];
    int outlen, outoff;
    long long bigleft;        // bytes of /big body still to send
    int hold;                 // response prepared, held until the request body is fully read
    int close_after;          // the client asked not to keep the connection alive
} conn;

static char *bigbuf;

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static const char *find_header(const char *h, int len, const char *name) {
    size_t n = strlen(name);
    const char *p = h, *end = h + len;
    while (p < end) {
        const char *eol = memmem(p, end - p, "\r\n", 2);
        if (!eol) break;
        if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            while (*p == ' ' || *p == '\t') p++;
            return p;
        }
        p = eol + 2;
    }
    return NULL;
}

// Returns 0 on success, -1 if the connection must close.
static int flush_out(conn *c) {
    if (c->hold) return 0;
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        c->outoff += w;
    }
    while (c->bigleft > 0) {
        size_t n = c->bigleft > MAXBIG ? MAXBIG : (size_t)c->bigleft;
        ssize_t w = send(c->fd, bigbuf, n, MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        c->bigleft -= w;
    }
    return 0;
}

static int pending(conn *c) { return !c->hold && (c->outoff < c->outlen || c->bigleft > 0); }

// The request is read and its answer sent, on a connection the client asked to close.
static int done_closing(conn *c) { return c->close_after && c->st == HEADERS && !c->hold && !pending(c); }

// "Connection: close", or HTTP/1.0 without "Connection: keep-alive".
static int wants_close(const char *reqline, const char *h, int hlen) {
    const char *conn_value = find_header(h, hlen, "Connection");
    const char *eol = strstr(reqline, "\r\n");
    int http10 = eol && eol - reqline >= 8 && strncmp(eol - 8, "HTTP/1.0", 8) == 0;
    if (conn_value && strncasecmp(conn_value, "close", 5) == 0) return 1;
    return http10 && !(conn_value && strncasecmp(conn_value, "keep-alive", 10) == 0);
}

static void respond(conn *c, const char *reqline, const char *h, int hlen) {
    c->outoff = 0;
    c->close_after = wants_close(reqline, h, hlen);
    const char *connection = c->close_after ? "Connection: close\r\n" : "";
    if (strncmp(reqline, "GET /big", 8) == 0) {
        long long n = 1048576;
        const char *q = strstr(reqline, "bytes=");
        if (q) n = atoll(q + 6);
        if (n < 0 || n > MAXBIG) n = MAXBIG;
        c->outlen = snprintf(c->out, sizeof c->out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %lld\r\n%s\r\n", n, connection);
        c->bigleft = n;
    } else if (strncmp(reqline, "GET /metadata/identity/oauth2/token", 35) == 0) {
        if (!find_header(h, hlen, "Metadata")) {
            c->outlen = snprintf(c->out, sizeof c->out, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n%s\r\n", connection);
            return;
        }
        char body[512];
        int bl = snprintf(body, sizeof body,
            "{\"access_token\":\"bench-token-0123456789abcdef\",\"expires_in\":\"3600\",\"expires_on\":\"%lld\","
            "\"resource\":\"https://monitor.azure.com\",\"token_type\":\"Bearer\"}", (long long)time(NULL) + 3600);
        c->outlen = snprintf(c->out, sizeof c->out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s", bl, connection, body);
    } else {
        c->outlen = snprintf(c->out, sizeof c->out, "HTTP/1.1 204 No Content\r\n%s\r\n", connection);
    }
}

// Consumes input; returns -1 to close.
static int consume(conn *c, char *p, int n) {
    while (n > 0) {
        switch (c->st) {
        case HEADERS: {
            int take = n;
            if (c->hlen + take > (int)sizeof c->hdr) take = sizeof c->hdr - c->hlen;
            if (take <= 0) return -1;
            memcpy(c->hdr + c->hlen, p, take);
            int old = c->hlen;
            c->hlen += take;
            char *end = memmem(c->hdr, c->hlen, "\r\n\r\n", 4);
            if (!end) { p += take; n -= take; break; }
            int used = (int)(end + 4 - c->hdr) - old;
            p += used; n -= used;
            int hl = (int)(end + 4 - c->hdr);
            c->hdr[hl - 1] = 0;
            respond(c, c->hdr, c->hdr, hl);
            const char *te = find_header(c->hdr, hl, "Transfer-Encoding");
            const char *cl = find_header(c->hdr, hl, "Content-Length");
            c->hlen = 0;
            if (te && strncasecmp(te, "chunked", 7) == 0) c->st = CHUNK_SIZE;
            else if (cl && (c->remaining = atoll(cl)) > 0) c->st = BODY_LEN;
            else c->st = HEADERS;
            c->hold = c->st != HEADERS;
            break;
        }
        case BODY_LEN: {
            int take = n < c->remaining ? n : (int)c->remaining;
            c->remaining -= take; p += take; n -= take;
            if (c->remaining == 0) c->st = HEADERS, c->hold = 0;
            break;
        }
        case CHUNK_SIZE: case TRAILERS: {
            char *nl = memchr(p, '\n', n);
            int take = nl ? (int)(nl - p) + 1 : n;
            if (c->hlen + take < (int)sizeof c->hdr) memcpy(c->hdr + c->hlen, p, take);
            c->hlen += take; p += take; n -= take;
            if (!nl) break;
            if (c->st == CHUNK_SIZE) {
                c->hdr[c->hlen < (int)sizeof c->hdr ? c->hlen - 1 : sizeof c->hdr - 1] = 0;
                c->remaining = strtoll(c->hdr, NULL, 16);
                c->st = c->remaining > 0 ? CHUNK_DATA : TRAILERS;
            } else if (c->hlen <= 2) {
                c->st = HEADERS, c->hold = 0;   // empty line ends the trailers
            }
            c->hlen = 0;
            break;
        }
        case CHUNK_DATA: {
            int take = n < c->remaining ? n : (int)c->remaining;
            c->remaining -= take; p += take; n -= take;
            if (c->remaining == 0) c->st = CHUNK_CRLF, c->hlen = 0;
            break;
        }
        case CHUNK_CRLF: {
            char *nl = memchr(p, '\n', n);
            if (!nl) { n = 0; break; }
            n -= (int)(nl - p) + 1; p = nl + 1;
            c->st = CHUNK_SIZE;
            break;
        }
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 18080;
    signal(SIGPIPE, SIG_IGN);
    bigbuf = malloc(MAXBIG);
    memset(bigbuf, 'x', MAXBIG);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) { perror("bind/listen"); return 1; }
    set_nonblock(ls);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    fprintf(stderr, "sink listening on 127.0.0.1:%d\n", port);
    static char rbuf[BUF];
    struct epoll_event evs[256];
    for (;;) {
        int k = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            int dead = 0;
            if (evs[i].events & EPOLLOUT) {
                if (flush_out(c) < 0 || done_closing(c)) dead = 1;
            }
            if (!dead && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !pending(c)) {
                for (;;) {
                    ssize_t r = recv(c->fd, rbuf, BUF, 0);
                    if (r == 0) { dead = 1; break; }
                    if (r < 0) { if (errno != EAGAIN) dead = 1; break; }
                    if (consume(c, rbuf, (int)r) < 0 || flush_out(c) < 0 || done_closing(c)) { dead = 1; break; }
                    if (pending(c)) break;   // stop reading until the response is out
                    if (r < BUF) break;
                }
            }
            if (!dead) {
                struct epoll_event e = { .events = (pending(c) ? EPOLLOUT : EPOLLIN | EPOLLRDHUP), .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
            } else {
                close(c->fd);
                free(c);
            }
        }
    }
}
