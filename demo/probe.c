/*
 * Guest-side UDP request/response probe for the migration demo.
 *
 * Sends a request every INTERVAL ms to SERVER:PORT and waits for the echo.
 * Whenever the time between two answered requests exceeds 3 intervals it
 * prints "probe: gap_ms=G lost=N" on stdout (the serial console), so the
 * host can see how long the guest lost its network across a migration.
 * Every 5 s it prints a "probe: alive" line with its counters.
 *
 * Usage: probe SERVER PORT [INTERVAL_MS]
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    double interval, last_ok, next_send, next_alive;
    uint32_t seq = 0, answered = 0, last_ok_seq = 0;
    int fd;

    if (argc < 3) {
        fprintf(stderr, "usage: probe SERVER PORT [INTERVAL_MS]\n");
        return 2;
    }
    interval = argc > 3 ? atof(argv[3]) : 10;
    sa.sin_port = htons(atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "probe: bad address %s\n", argv[1]);
        return 2;
    }
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("probe: socket");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("probe: started, %s:%s every %.0f ms\n", argv[1], argv[2], interval);

    last_ok = next_send = now_ms();
    next_alive = last_ok + 5000;
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        double t = now_ms();
        int timeout = next_send > t ? (int)(next_send - t) + 1 : 0;
        uint32_t buf[2];

        if (t >= next_send) {
            buf[0] = htonl(++seq);
            buf[1] = 0;
            send(fd, buf, sizeof(buf), MSG_DONTWAIT);  /* loss is measured */
            next_send += interval;
            if (next_send < t) {
                next_send = t + interval;   /* we were not scheduled */
            }
            continue;
        }
        if (t >= next_alive) {
            printf("probe: alive sent=%u answered=%u\n", seq, answered);
            next_alive = t + 5000;
        }
        if (poll(&pfd, 1, timeout) <= 0) {
            continue;
        }
        if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != sizeof(buf)) {
            continue;
        }
        t = now_ms();
        answered++;
        if (t - last_ok > 3 * interval) {
            printf("probe: gap_ms=%.1f lost=%u\n", t - last_ok,
                   ntohl(buf[0]) - last_ok_seq - 1);
        }
        last_ok = t;
        last_ok_seq = ntohl(buf[0]);
    }
}
