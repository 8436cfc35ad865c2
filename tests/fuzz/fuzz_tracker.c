/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the connection tracker fed arbitrary packet
 * sequences (format and per-step invariants: trackseq.h). Afterwards the
 * table goes through a snapshot and back: a snapshot the tracker wrote
 * itself must restore, with no more entries than it saved; then both
 * tables are flushed and must end empty.
 *
 *   ./fuzz_tracker -max_total_time=60 tests/fuzz/corpus/tracker
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "trackseq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;

static int
count_confirmed(void *arg, struct ctg_conn *c)
{
	if (c->flags & CTG_CONN_CONFIRMED)
		++*(int *)arg;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctg_tracker_stats st;
	struct ctg_tracker *t2;
	struct trackseq s;
	char err[256];
	int confirmed = 0, restored;

	if (size > 16384)
		return 0;
	if (memfd < 0 && (memfd = memfd_create("fuzz_tracker", 0)) < 0)
		abort();
	if (trackseq_run(&s, data, size) < 0) {
		trackseq_free(&s);
		return 0;
	}
	ctg_tracker_foreach(s.t, count_confirmed, &confirmed);
	if (ftruncate(memfd, 0) != 0 || lseek(memfd, 0, SEEK_SET) != 0)
		abort();
	if (ctg_tracker_save(s.t, memfd, s.now) != 0 || lseek(memfd, 0, SEEK_SET) != 0)
		abort();
	s.tc.hash_seed[0] ^= 0x5eed;    /* entries must be placed anew, not copied */
	if ((t2 = ctg_tracker_new(&s.tc, NULL, NULL)) == NULL)
		abort();
	err[0] = '\0';
	restored = ctg_tracker_restore(t2, memfd, s.now, err, sizeof(err));
	if (restored < 0 || restored > confirmed)
		abort();
	ctg_tracker_stats(t2, &st);
	if (st.live != (uint32_t)restored)
		abort();

	ctg_tracker_flush(s.t, CTG_END_SHUTDOWN, s.now);
	ctg_tracker_flush(t2, CTG_END_SHUTDOWN, s.now);
	trackseq_check(&s);
	ctg_tracker_stats(s.t, &st);
	if (st.live != 0)
		abort();
	ctg_tracker_stats(t2, &st);
	if (st.live != 0)
		abort();
	ctg_tracker_free(t2);
	trackseq_free(&s);
	return 0;
}
