/* acceptd: the benchmark's real servers — accepts TCP connections on one port of every
 * address routed to it (AnyIP) and closes them at once, counting them; the count is written
 * to COUNTFILE every 100 ms. One epoll loop, no fork: 2,000 connections a second under TCG.
 *
 *   acceptd COUNTFILE PORT
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: acceptd COUNTFILE PORT\n");
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 65535)) {
        perror("acceptd");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    unsigned long long count = 0;
    long long next = now_ms();
    printf("acceptd: listening\n");
    fflush(stdout);
    for (;;) {
        struct epoll_event out;
        epoll_wait(ep, &out, 1, 100);
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
            close(c);
            count++;
        }
        if (now_ms() >= next) {
            /* Written aside and renamed: a reader never sees an empty file (it did,
             * and a run then counted a negative number of checks). */
            char tmp[4096];
            snprintf(tmp, sizeof tmp, "%s.new", argv[1]);
            FILE *f = fopen(tmp, "w");
            if (f) {
                fprintf(f, "%llu\n", count);
                fclose(f);
                rename(tmp, argv[1]);
            }
            next = now_ms() + 100;
        }
    }
}
