/* RTP load generator and baseline reflector for scripts/bench/media.py.
 *
 * A Python generator spends about 10 us of CPU per packet sent or received, so at 500 calls
 * (50,000 packets/s each way) it would need a whole core of the two this benchmark shares
 * with the workers it measures. This one needs a fraction of that, so the figures say what
 * the workers can do. Build: cc -O2 -o rtpgen rtpgen.c (media.py does it when cc exists).
 *
 * Generator (no argument)
 *   stdin: line 1 the number of calls N; line 2 a JSON object
 *     {"targets": [2N ports], "warmup": s, "seconds": s}
 *   stdout: line 1 the 2N phone ports as a JSON array (two distinct: see below); at the end
 *   one JSON object of results.
 *   Every 0.5 ms one group of legs (1/40) sends its packet, stamped with the send time
 *   (CLOCK_REALTIME). Arrivals are timed by the kernel (SO_TIMESTAMPNS: when the packet
 *   reached the phone's socket), not by when this process gets round to reading them, so
 *   the generator's own scheduling delays (it shares the cores with what it measures) are
 *   not counted as jitter. For the same reason it never waits for arrivals: it sleeps until
 *   the next group is due, then reads everything that came meanwhile.
 *   The phones share two UDP sockets (one per worker at the default two: calls are dealt
 *   round-robin), and each leg announces its socket's port: a group leaves in one sendmmsg
 *   per socket, arrivals come in with recvmmsg (each with its own kernel stamp) and go to
 *   the leg whose worker port sent them. A socket per phone cost a sendto, an epoll entry
 *   and two recvmsg per packet (36-47 % of a core at 500 calls, now 27-38 %); the workers
 *   do the same per packet either way (they send to the address the leg announced, so they
 *   do not latch). A batch's stamps are taken before its sendmmsg, so a packet's transit
 *   includes sending the ones before it in the batch (a few us; the same for a leg in
 *   every period).
 *   Extra result keys: "short_legs" (legs that received fewer packets than their peer
 *   sent), "socket_drops" (dropped by the full receive buffer: counted as loss too),
 *   "strangers" (packets from ports that are no leg's).
 *
 * Reflector ("reflect"): a relay with nothing else to do, for the baseline.
 *   stdin: line 1 the number of legs L (even); line 2 a JSON array of L phone ports.
 *   stdout: line 1 the L local ports. Every 2 ms, like a worker, a packet received on leg
 *   i leaves from leg i^1 to phone i^1, unchanged. Runs until stdin closes.
 */
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
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
/* Legs send in 40 groups 0.5 ms apart: phones are not in step, and their phases spread
 * over the workers' 2 ms poll interval as well (groups 2 ms apart would all share one
 * phase against it, so how a run's start fell against the polls would swing the result).
 * 80 groups 0.25 ms apart cost the generator 0.15 core more at 500 calls (wake-ups). */
#define GROUPS 40
#define POLL_S 0.002

static double clock_s(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

static void sleep_until(double when) { /* CLOCK_REALTIME, absolute */
    struct timespec t = {.tv_sec = (time_t)when};
    t.tv_nsec = (long)((when - (double)t.tv_sec) * 1e9);
    if (t.tv_nsec >= 1000000000L) t.tv_nsec = 999999999L;
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &t, NULL) == EINTR) {}
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

/* Bind n UDP sockets on 127.0.0.1 and print their ports as a JSON array. */
static int *open_sockets(int n, int timestamps) {
    int *socks = calloc(n, sizeof(int));
    printf("[");
    for (int i = 0; i < n; i++) {
        socks[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000001)};
        if (socks[i] < 0 || bind(socks[i], (struct sockaddr *)&a, sizeof a) < 0) exit(3);
        int size = 1 << 16, on = 1;
        setsockopt(socks[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        if (timestamps) setsockopt(socks[i], SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
        socklen_t len = sizeof a;
        getsockname(socks[i], (struct sockaddr *)&a, &len);
        printf("%s%d", i ? "," : "", ntohs(a.sin_port));
    }
    printf("]\n");
    fflush(stdout);
    return socks;
}

/* Parse the first n integers of the JSON array starting at the first '[' of line. */
static void parse_ports(const char *line, int n, struct sockaddr_in *out) {
    const char *p = strchr(line, '[');
    for (int i = 0; i < n && p; i++) {
        char *end;
        out[i].sin_family = AF_INET;
        out[i].sin_addr.s_addr = htonl(0x7F000001);
        out[i].sin_port = htons((uint16_t)strtol(p + 1, &end, 10));
        p = end;
    }
}

static char line[1 << 20];

static int reflect(void) {
    int n;
    if (scanf("%d", &n) != 1 || n <= 0 || n % 2) return 2;
    int *socks = open_sockets(n, 0);
    struct sockaddr_in *phones = calloc(n, sizeof(struct sockaddr_in));
    while (fgets(line, sizeof line, stdin) && !strchr(line, '[')) {}
    parse_ports(line, n, phones);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)n};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev); /* stdin: closed = stop */
    for (int i = 0; i < n; i++) {
        ev.data.u32 = (uint32_t)i;
        epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &ev);
    }
    unsigned char buf[2048];
    struct epoll_event events[1024];
    /* Like the workers: every 2 ms on an exact grid, relay whatever came. */
    double next = clock_s(CLOCK_REALTIME);
    for (;;) {
        next += POLL_S;
        sleep_until(next);
        int ready;
        while ((ready = epoll_wait(ep, events, 1024, 0)) > 0) {
            for (int e = 0; e < ready; e++) {
                int i = (int)events[e].data.u32;
                if (i == n) {
                    if (read(0, buf, sizeof buf) <= 0) return 0;
                    continue;
                }
                ssize_t got;
                while ((got = recv(socks[i], buf, sizeof buf, 0)) >= 0)
                    sendto(socks[i ^ 1], buf, (size_t)got, 0, (struct sockaddr *)&phones[i ^ 1],
                           sizeof phones[i ^ 1]);
            }
        }
    }
}

/* A UDP socket for phones: bound to 127.0.0.1, kernel arrival stamps, a receive
 * buffer for 150 ms of the largest load (the generator shares the cores with the workers and
 * may not run for a while; packets the socket drops show as loss) and the count of them. */
static int open_phone_socket(int *port) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7F000001)};
    if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof a) < 0) exit(3);
    int size = 16 << 20, on = 1;
    /* FORCE passes net.core.rmem_max when allowed (root); the plain one is capped there. */
    if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
        setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(sock, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    setsockopt(sock, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
    socklen_t len = sizeof a;
    getsockname(sock, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return sock;
}

/* Leg i's socket: media.py deals calls round-robin to the workers, so with two workers
 * each sends to a socket of its own (no lock shared between them on the way back). */
#define SOCKETS 2
#define SOCKET_OF(i) (((i) >> 1) % SOCKETS)
#define BATCH 256 /* datagrams per recvmmsg */
#define CONTROL_SIZE (CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t)))

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "reflect") == 0) return reflect();
    int calls;
    if (scanf("%d", &calls) != 1 || calls <= 0) return 2;
    int n = 2 * calls;
    /* Every leg announces the one socket's port, so the workers send every leg's audio
     * there from the start: no latching, the same work per packet as with a socket per
     * phone. Received packets are told apart by their source, the worker's leg port. */
    int port[SOCKETS], sock[SOCKETS];
    for (int k = 0; k < SOCKETS; k++) sock[k] = open_phone_socket(&port[k]);
    printf("[");
    for (int i = 0; i < n; i++) printf("%s%d", i ? "," : "", port[SOCKET_OF(i)]);
    printf("]\n");
    fflush(stdout);
    struct sockaddr_in *targets = calloc(n, sizeof(struct sockaddr_in));
    /* {"targets": [p, p, ...], "warmup": w, "seconds": s} -- parsed loosely */
    double warmup = 1, seconds = 5;
    while (fgets(line, sizeof line, stdin) && !strchr(line, '{')) {}
    parse_ports(line, n, targets);
    char *w = strstr(line, "\"warmup\"");
    if (w) warmup = strtod(strchr(w, ':') + 1, NULL);
    char *s = strstr(line, "\"seconds\"");
    if (s) seconds = strtod(strchr(s, ':') + 1, NULL);
    int *leg_of_port = malloc(65536 * sizeof(int)); /* source port -> receiving leg */
    for (int p = 0; p < 65536; p++) leg_of_port[p] = -1;
    for (int i = 0; i < n; i++) leg_of_port[ntohs(targets[i].sin_port)] = i;

    unsigned char body[152];
    for (int k = 0; k < 152; k++)
        body[k] = ulaw((int)lrint(6000 * sin(2 * M_PI * 440 * (k + 8) / 8000.0)));
    uint16_t *seq = calloc(n, 2);
    uint32_t *ts = calloc(n, 4), *ssrc = calloc(n, 4);
    long *sent_by = calloc(n, sizeof(long)), *received_by = calloc(n, sizeof(long));
    srand(1);
    for (int i = 0; i < n; i++) {
        seq[i] = (uint16_t)rand();
        ts[i] = (uint32_t)rand();
        ssrc[i] = (uint32_t)rand() * 2654435761u + (uint32_t)i;
    }
    size_t cap = (size_t)(n * (seconds + 1) / PERIOD) + 1024, count = 0;
    double *transit = malloc(cap * sizeof(double));
    int *leg = malloc(cap * sizeof(int));
    double start = clock_s(CLOCK_REALTIME) + 0.05, from = start + warmup, to = from + seconds;
    double stop_at = to + 0.3, cpu0 = cpu_s();
    long sent = 0, received = 0, step = 0, strangers = 0;
    uint32_t dropped[SOCKETS] = {0}; /* by each socket, buffer full (SO_RXQ_OVFL) */
    /* One group's packets, sent with one sendmmsg. */
    int per_group = (n + GROUPS - 1) / GROUPS;
    unsigned char(*out)[172] = malloc((size_t)per_group * 172);
    struct iovec *out_iov = calloc(per_group, sizeof(struct iovec));
    struct mmsghdr *out_msg = calloc(per_group, sizeof(struct mmsghdr));
    /* Received packets, BATCH per recvmmsg, each with its own arrival stamp. */
    static unsigned char in[BATCH][2048];
    static char in_control[BATCH][CONTROL_SIZE];
    static struct iovec in_iov[BATCH];
    static struct mmsghdr in_msg[BATCH];
    static struct sockaddr_in in_from[BATCH];
    for (int k = 0; k < BATCH; k++) {
        in_iov[k] = (struct iovec){.iov_base = in[k], .iov_len = sizeof in[k]};
        in_msg[k].msg_hdr.msg_iov = &in_iov[k];
        in_msg[k].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
        double due = start + step * PERIOD / GROUPS;
        int sending = due < to;
        double wake = sending ? due : stop_at;
        sleep_until(wake);
        if (sending) {
            for (int k = 0; k < SOCKETS; k++) {
                int m = 0;
                for (int i = (int)(step % GROUPS); i < n; i += GROUPS) {
                    if (SOCKET_OF(i) != k) continue;
                    unsigned char *pkt = out[m];
                    double stamp = clock_s(CLOCK_REALTIME);
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
                    out_iov[m] = (struct iovec){.iov_base = pkt, .iov_len = 172};
                    out_msg[m].msg_hdr = (struct msghdr){
                        .msg_name = &targets[i], .msg_namelen = sizeof targets[i],
                        .msg_iov = &out_iov[m], .msg_iovlen = 1};
                    seq[i]++;
                    ts[i] += 160;
                    if (stamp >= from && stamp < to) {
                        sent++;
                        sent_by[i]++;
                    }
                    m++;
                }
                /* A datagram the kernel refuses is skipped, as a failed sendto was. */
                for (int done = 0; done < m;) {
                    int r = sendmmsg(sock[k], out_msg + done, (unsigned)(m - done), 0);
                    done += r > 0 ? r : 1;
                }
            }
            step++;
        }
        /* Everything that arrived meanwhile, each with the kernel's arrival time. */
        for (int q = 0; q < SOCKETS; q++) {
            for (;;) {
                for (int k = 0; k < BATCH; k++) {
                    in_msg[k].msg_hdr.msg_name = &in_from[k];
                    in_msg[k].msg_hdr.msg_namelen = sizeof in_from[k];
                    in_msg[k].msg_hdr.msg_control = in_control[k];
                    in_msg[k].msg_hdr.msg_controllen = sizeof in_control[k];
                }
                int got = recvmmsg(sock[q], in_msg, BATCH, MSG_DONTWAIT, NULL);
                if (got <= 0) break;
                for (int k = 0; k < got; k++) {
                    struct msghdr *msg = &in_msg[k].msg_hdr;
                    const unsigned char *buf = in[k];
                    double arrived = -1, stamp;
                    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                        if (c->cmsg_level != SOL_SOCKET) continue;
                        if (c->cmsg_type == SCM_TIMESTAMPNS) {
                            struct timespec t;
                            memcpy(&t, CMSG_DATA(c), sizeof t);
                            arrived = t.tv_sec + t.tv_nsec / 1e9;
                        } else if (c->cmsg_type == SO_RXQ_OVFL) {
                            memcpy(&dropped[q], CMSG_DATA(c), sizeof dropped[q]);
                        }
                    }
                    int i = leg_of_port[ntohs(in_from[k].sin_port)];
                    if (i < 0 || in_msg[k].msg_len < 20) {
                        strangers++;
                        continue;
                    }
                    if (arrived < 0) arrived = clock_s(CLOCK_REALTIME);
                    uint64_t bits = 0;
                    for (int b = 0; b < 8; b++) bits = (bits << 8) | buf[12 + b];
                    memcpy(&stamp, &bits, 8);
                    if (stamp >= from && stamp < to && count < cap) {
                        received++;
                        received_by[i]++;
                        transit[count] = arrived - stamp;
                        leg[count++] = i;
                    }
                }
                if (got < BATCH) break; /* the queue was empty */
            }
        }
        if (!sending) break;
    }
    double cpu = cpu_s() - cpu0;
    uint32_t total_dropped = 0;
    for (int k = 0; k < SOCKETS; k++) total_dropped += dropped[k];
    /* Leg i hears what leg i^1 said: legs that heard less than their peer sent. */
    long short_legs = 0;
    for (int i = 0; i < n; i++) short_legs += received_by[i] < sent_by[i ^ 1];
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
    double worst = count ? added[count - 1] * 1000 : INFINITY;
    printf("{\"sent\": %ld, \"received\": %ld, \"jitter_p99_ms\": %.4f, "
           "\"jitter_max_ms\": %.4f, \"transit_p50_ms\": %.4f, \"generator_cpu\": %.4f, "
           "\"short_legs\": %ld, \"socket_drops\": %u, \"strangers\": %ld}\n",
           sent, received, isinf(p99) ? 1e9 : p99, isinf(worst) ? 1e9 : worst,
           isinf(p50) ? 1e9 : p50, cpu / (stop_at - start), short_legs, total_dropped, strangers);
    fflush(stdout);
    return 0;
}
