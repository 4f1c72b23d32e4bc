/* A minimal unit-test harness: checks count failures and print where they are. */
#ifndef ABCHW_TEST_CHECK_H
#define ABCHW_TEST_CHECK_H

#define CHECK(cond) check_true((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_EQ(actual, expected) \
    check_equal((long long)(actual), (long long)(expected), #actual, __FILE__, __LINE__)

void check_true(int ok, const char *text, const char *file, int line);
void check_equal(long long actual, long long expected, const char *text, const char *file,
                 int line);
/* Prints "<name>: N checks, M failed" and returns the process exit status. */
int check_report(const char *name);

#endif
