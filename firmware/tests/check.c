/* The unit-test harness (see check.h). */
#include "check.h"

#include <stdio.h>

static int checks, failures;

void check_true(int ok, const char *text, const char *file, int line)
{
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, text);
    }
}

void check_equal(long long actual, long long expected, const char *text, const char *file,
                 int line)
{
    checks++;
    if (actual != expected) {
        failures++;
        fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", file, line, text, actual, expected);
    }
}

int check_report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, checks, failures);
    return failures ? 1 : 0;
}
