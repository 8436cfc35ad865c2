/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cross-queue lookups. The kernel spreads flows over the queues by their
 * tuple, and an ICMP error about a flow has another tuple: it may reach a
 * worker that does not track the flow it quotes. The tracker then asks
 * here, and we look in the other workers' tables.
 */
#include <pthread.h>

#include "daemon-int.h"

/*
 * An ICMP error whose flow lives in another worker's table. Our own lock
 * is released while we look (nothing of our table is held at this point),
 * so two workers doing this at once cannot deadlock.
 */
bool
ctgd_related_elsewhere(void *arg, const struct ctg_tuple *key, struct ctg_conn *copy,
    uint8_t *dir)
{
	struct worker *w = arg;
	struct daemon *dm = w->dm;
	bool found = false;

	if (!dm || dm->nw < 2)
		return false;
	if (w->locked)
		pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < dm->nw && !found; i++) {
		struct worker *o = &dm->w[i];
		struct ctg_conn *c;

		if (o == w)
			continue;
		/*
		 * A worker holds its lock for a burst. Never wait for it: a
		 * flood of forged errors would otherwise stall this queue
		 * behind a busy one. A busy owner means "not found here",
		 * which makes the error INVALID (counted as related_busy).
		 */
		if (pthread_mutex_trylock(&o->lock) != 0) {
			w->related_busy++;
			continue;
		}
		if ((c = ctg_tracker_lookup(o->pl.tracker, key, dir)) != NULL) {
			*copy = *c;
			/* its timeout profile indexes the owner's table, not ours */
			copy->tprofile = 0;
			found = true;
		}
		pthread_mutex_unlock(&o->lock);
	}
	if (w->locked)
		pthread_mutex_lock(&w->lock);
	if (found)
		w->related_elsewhere++;
	return found;
}
