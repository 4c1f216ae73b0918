/* exectime: the benchmark's floor of a daemon's start-up. Runs COMMAND (fork + exec, no
 * shell, output to /dev/null) N times one after the other and prints the minimum, median
 * and maximum milliseconds from just before the fork to the reaped exit:
 *   exectime N COMMAND [ARGS...]        e.g. exectime 20 /usr/sbin/keepalived --version
 * Under TCG this is tens of milliseconds for a dynamically linked program, all of it
 * before the program reads its configuration.
 * Exit: 0, or 2 on usage or system error.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static long long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[1]) : 0;
    if (n < 1 || n > 1000) {
        fprintf(stderr, "usage: exectime N COMMAND [ARGS...]\n");
        return 2;
    }
    long long *v = calloc(n, sizeof *v);
    if (!v)
        return 2;
    for (int i = 0; i < n; i++) {
        long long t = now_us();
        pid_t p = fork();
        if (p < 0) {
            perror("exectime: fork");
            return 2;
        }
        if (p == 0) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
            dup2(fd, 2);
            execv(argv[2], argv + 2);
            _exit(127);
        }
        int st;
        if (waitpid(p, &st, 0) < 0) {
            perror("exectime: waitpid");
            return 2;
        }
        v[i] = now_us() - t;
    }
    qsort(v, n, sizeof *v, cmp);
    printf("%lld %lld %lld\n", v[0] / 1000, v[n / 2] / 1000, v[n - 1] / 1000);
    return 0;
}
