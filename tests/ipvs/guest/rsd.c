/* rsd: a stand-in real server for the IPVS tests (built static by tests/ipvs-vm.sh).
 *
 *   rsd tcp  ADDR PORT   accept TCP connections, read until the peer closes, close
 *   rsd smtp ADDR PORT   accept, send "220", answer HELO/EHLO with 250, QUIT with 221
 *   rsd udp  ADDR PORT   echo every datagram back
 *
 * ADDR is an IPv4 or IPv6 literal (bind needs the address to be local, or
 * net.ipv[46].ip_nonlocal_bind=1). One process, no fork per connection: busybox
 * has no TCP server that binds one address. Prints "rsd: listening" when ready.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 256

static int mode_smtp;

static void reply(int fd, const char *s) { (void)!write(fd, s, strlen(s)); }

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: rsd tcp|smtp|udp ADDR PORT\n");
        return 2;
    }
    int udp = strcmp(argv[1], "udp") == 0;
    mode_smtp = strcmp(argv[1], "smtp") == 0;
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    int port = atoi(argv[3]);
    struct sockaddr_in *s4 = (void *)&ss;
    struct sockaddr_in6 *s6 = (void *)&ss;
    if (inet_pton(AF_INET, argv[2], &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, argv[2], &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        sl = sizeof *s6;
    } else {
        fprintf(stderr, "rsd: bad address %s\n", argv[2]);
        return 2;
    }
    int one = 1;
    int ls = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls < 0 || bind(ls, (void *)&ss, sl) < 0 || (!udp && listen(ls, 128) < 0)) {
        perror("rsd: bind/listen");
        return 1;
    }
    printf("rsd: listening %s %s %s\n", argv[1], argv[2], argv[3]);
    fflush(stdout);

    struct pollfd p[MAXC + 1];
    char buf[4096];
    int n = 1;
    p[0].fd = ls;
    p[0].events = POLLIN;
    for (;;) {
        if (poll(p, n, -1) < 0)
            continue;
        if (p[0].revents & POLLIN) {
            if (udp) {
                struct sockaddr_storage from;
                socklen_t fl = sizeof from;
                ssize_t r = recvfrom(ls, buf, sizeof buf, 0, (void *)&from, &fl);
                if (r >= 0)
                    sendto(ls, buf, r, 0, (void *)&from, fl);
            } else {
                int c = accept(ls, NULL, NULL);
                if (c >= 0 && n > MAXC) {
                    close(c);
                } else if (c >= 0) {
                    p[n].fd = c;
                    p[n].events = POLLIN;
                    p[n].revents = 0;
                    n++;
                    if (mode_smtp)
                        reply(c, "220 rsd ESMTP\r\n");
                }
            }
        }
        for (int i = 1; i < n; i++) {
            if (!p[i].revents)
                continue;
            ssize_t r = read(p[i].fd, buf, sizeof buf - 1);
            int done = r <= 0;
            if (!done && mode_smtp) {
                buf[r] = 0;
                if (strncasecmp(buf, "QUIT", 4) == 0) {
                    reply(p[i].fd, "221 bye\r\n");
                    done = 1;
                } else if (strncasecmp(buf, "HELO", 4) == 0 || strncasecmp(buf, "EHLO", 4) == 0) {
                    reply(p[i].fd, "250 rsd\r\n");
                } else {
                    reply(p[i].fd, "250 ok\r\n");
                }
            }
            if (done) {
                close(p[i].fd);
                p[i] = p[--n];
                i--;
            }
        }
    }
}
