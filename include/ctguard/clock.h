/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Clocks, in one place: wall time for what is recorded, the monotonic clock
 * for what is measured (timeouts, deadlines, durations).
 */
#ifndef CTGUARD_CLOCK_H
#define CTGUARD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_REALTIME, microseconds since the Unix epoch. */
uint64_t ctg_clock_wall_us(void);

/* CLOCK_MONOTONIC in microseconds and in milliseconds. */
uint64_t ctg_clock_mono_us(void);
uint64_t ctg_clock_mono_ms(void);

/* Seconds elapsed on CLOCK_MONOTONIC since *t0 (read with clock_gettime). */
double ctg_clock_since_s(const struct timespec *t0);

/* *ts = CLOCK_MONOTONIC now + ms: an absolute deadline for pthread_cond_timedwait. */
void ctg_clock_deadline_ms(struct timespec *ts, uint64_t ms);

#endif
