/* RTP load generator for scripts/bench/media.py (the Python generator's protocol, in C).
 *
 * A Python generator spends about 10 us of CPU per packet sent or received, so at 500 calls
 * (50,000 packets/s each way) it would need a whole core of the two this benchmark shares
 * with the workers it measures. This one needs a fraction of that, so the figures say what
 * the workers can do. Build: cc -O2 -o rtpgen rtpgen.c (media.py does it when cc exists).
 *
 * stdin: line 1 the number of calls N; line 2 a JSON object
 *   {"targets": [2N ports], "warmup": s, "seconds": s}
 * stdout: line 1 the 2N local ports as a JSON array; at the end one JSON object of results.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PERIOD 0.02
#define GROUPS 10

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static unsigned char ulaw(int pcm) { /* G.711 u-law, as media.g711 */
    int sign = pcm < 0 ? 0x00 : 0x80, mag = pcm < 0 ? ~pcm : pcm, seg = 0;
    mag = (mag >> 2);
    if (mag > 0x1FFF - 33) mag = 0x1FFF - 33;
    mag += 33;
    for (int t = 0x40; seg < 7 && mag >= t; t <<= 1) seg++;
    seg += 1;
    return (unsigned char)((((8 - seg) << 4) | (0x0F - ((mag >> seg) & 0x0F))) | sign);
}

int main(void) {
    int calls;
    if (scanf("%d", &calls) != 1 || calls <= 0) return 2;
    int n = 2 * calls;
    int *socks = calloc(n, sizeof(int));
    struct sockaddr_in *targets = calloc(n, sizeof(struct sockaddr_in));
    printf("[");
    for (int i = 0; i < n; i++) {
        socks[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000001)};
        if (bind(socks[i], (struct sockaddr *)&a, sizeof a) < 0) return 3;
        int size = 1 << 16;
        setsockopt(socks[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        socklen_t len = sizeof a;
        getsockname(socks[i], (struct sockaddr *)&a, &len);
        printf("%s%d", i ? "," : "", ntohs(a.sin_port));
    }
    printf("]\n");
    fflush(stdout);
    /* {"targets": [p, p, ...], "warmup": w, "seconds": s} -- parsed loosely */
    static char line[1 << 20];
    double warmup = 1, seconds = 5;
    while (fgets(line, sizeof line, stdin) && !strchr(line, '{')) {}
    char *p = strchr(line, '[');
    for (int i = 0; i < n && p; i++) {
        targets[i].sin_family = AF_INET;
        targets[i].sin_addr.s_addr = htonl(0x7F000001);
        targets[i].sin_port = htons((uint16_t)strtol(p + 1, &p, 10));
    }
    char *w = strstr(line, "\"warmup\"");
    if (w) warmup = strtod(strchr(w, ':') + 1, NULL);
    char *s = strstr(line, "\"seconds\"");
    if (s) seconds = strtod(strchr(s, ':') + 1, NULL);

    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &ev);
    }
    unsigned char body[152];
    for (int k = 0; k < 152; k++)
        body[k] = ulaw((int)lrint(6000 * sin(2 * M_PI * 440 * (k + 8) / 8000.0)));
    uint16_t *seq = calloc(n, 2);
    uint32_t *ts = calloc(n, 4), *ssrc = calloc(n, 4);
    srand(1);
    for (int i = 0; i < n; i++) {
        seq[i] = (uint16_t)rand();
        ts[i] = (uint32_t)rand();
        ssrc[i] = (uint32_t)rand() * 2654435761u + (uint32_t)i;
    }
    size_t cap = (size_t)(n * (seconds + 1) / PERIOD) + 1024, count = 0;
    double *transit = malloc(cap * sizeof(double));
    int *leg = malloc(cap * sizeof(int));
    double start = now_s() + 0.05, from = start + warmup, to = from + seconds;
    double stop_at = to + 0.3, cpu0 = cpu_s();
    long sent = 0, received = 0, step = 0;
    unsigned char pkt[172], buf[2048];
    struct epoll_event events[1024];
    for (;;) {
        double t = now_s();
        if (t >= stop_at) break;
        double due = start + step * PERIOD / GROUPS;
        if (due <= t && due < to) {
            for (int i = (int)(step % GROUPS); i < n; i += GROUPS) {
                double stamp = now_s();
                pkt[0] = 0x80;
                pkt[1] = 0;
                uint16_t sq = htons(seq[i]);
                uint32_t tt = htonl(ts[i]), ss = htonl(ssrc[i]);
                memcpy(pkt + 2, &sq, 2);
                memcpy(pkt + 4, &tt, 4);
                memcpy(pkt + 8, &ss, 4);
                uint64_t bits;
                memcpy(&bits, &stamp, 8);
                for (int b = 0; b < 8; b++) pkt[12 + b] = (unsigned char)(bits >> (56 - 8 * b));
                memcpy(pkt + 20, body, 152);
                sendto(socks[i], pkt, sizeof pkt, 0, (struct sockaddr *)&targets[i],
                       sizeof targets[i]);
                seq[i]++;
                ts[i] += 160;
                if (stamp >= from && stamp < to) sent++;
            }
            step++;
            continue;
        }
        double until = (due < to ? due : stop_at) - t;
        int ms = until > 0 ? (int)ceil(until * 1000) : 0; /* never spin */
        int ready = epoll_wait(ep, events, 1024, ms);
        for (int e = 0; e < ready; e++) {
            int i = (int)events[e].data.u32;
            for (;;) {
                ssize_t got = recv(socks[i], buf, sizeof buf, 0);
                if (got < 20) break;
                double arrived = now_s(), stamp;
                uint64_t bits = 0;
                for (int b = 0; b < 8; b++) bits = (bits << 8) | buf[12 + b];
                memcpy(&stamp, &bits, 8);
                if (stamp >= from && stamp < to && count < cap) {
                    received++;
                    transit[count] = arrived - stamp;
                    leg[count++] = i;
                }
            }
        }
    }
    double cpu = cpu_s() - cpu0;
    double *fastest = malloc(n * sizeof(double));
    for (int i = 0; i < n; i++) fastest[i] = INFINITY;
    for (size_t k = 0; k < count; k++)
        if (transit[k] < fastest[leg[k]]) fastest[leg[k]] = transit[k];
    double *added = malloc((count + 1) * sizeof(double));
    for (size_t k = 0; k < count; k++) added[k] = transit[k] - fastest[leg[k]];
    qsort(added, count, sizeof(double), cmp_double);
    qsort(transit, count, sizeof(double), cmp_double);
    double p99 = count ? added[(size_t)(0.99 * (count - 1))] * 1000 : INFINITY;
    double p50 = count ? transit[count / 2] * 1000 : INFINITY;
    printf("{\"sent\": %ld, \"received\": %ld, \"jitter_p99_ms\": %.4f, "
           "\"transit_p50_ms\": %.4f, \"generator_cpu\": %.4f}\n",
           sent, received, isinf(p99) ? 1e9 : p99, isinf(p50) ? 1e9 : p50,
           cpu / (stop_at - start));
    fflush(stdout);
    return 0;
}
