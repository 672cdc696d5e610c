/* event.c - the poll loop (see event.h). */
#include "event.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include "banned.h"

uint64_t fg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void fg_loop_init(struct fg_loop *l, const sigset_t *waitmask)
{
	memset(l, 0, sizeof(*l));
	if (waitmask)
		l->waitmask = *waitmask;
	else
		sigprocmask(SIG_SETMASK, NULL, &l->waitmask);
}

int fg_io_add(struct fg_loop *l, struct fg_io *io, int fd, fg_io_cb cb, void *arg)
{
	if (io->added)
		fg_io_del(l, io);
	if (l->n_io >= FG_LOOP_MAX_IO || fd < 0)
		return -1;
	io->fd = fd;
	io->cb = cb;
	io->arg = arg;
	io->events = 0;
	io->added = true;
	l->io[l->n_io++] = io;
	return 0;
}

void fg_io_del(struct fg_loop *l, struct fg_io *io)
{
	unsigned i;

	if (!io->added)
		return;
	for (i = 0; i < l->n_io; i++) {
		if (l->io[i] == io) {
			l->io[i] = l->io[--l->n_io];
			break;
		}
	}
	io->added = false;
	io->events = 0;
	io->fd = -1;
}

void fg_timer_init(struct fg_timer *t, const char *name, fg_timer_cb cb, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->cb = cb;
	t->arg = arg;
}

int fg_timer_set(struct fg_loop *l, struct fg_timer *t, uint64_t ms)
{
	t->deadline = fg_now_ms() + ms;
	if (t->armed)
		return 0;
	if (l->n_timers >= FG_LOOP_MAX_TIMERS)
		return -1;
	t->armed = true;
	l->timers[l->n_timers++] = t;
	return 0;
}

void fg_timer_stop(struct fg_loop *l, struct fg_timer *t)
{
	unsigned i;

	if (!t->armed)
		return;
	for (i = 0; i < l->n_timers; i++) {
		if (l->timers[i] == t) {
			l->timers[i] = l->timers[--l->n_timers];
			break;
		}
	}
	t->armed = false;
}

/* True if io is still registered (a callback may have removed it). */
static bool io_live(const struct fg_loop *l, const struct fg_io *io)
{
	unsigned i;

	for (i = 0; i < l->n_io; i++)
		if (l->io[i] == io)
			return true;
	return false;
}

int fg_loop_once(struct fg_loop *l, int max_ms)
{
	struct pollfd pfd[FG_LOOP_MAX_IO];
	struct fg_io *who[FG_LOOP_MAX_IO];
	struct timespec ts, *tsp = NULL;
	uint64_t now = fg_now_ms();
	int64_t wait = max_ms;
	unsigned i, n = 0;
	int r;

	for (i = 0; i < l->n_timers; i++) {
		int64_t d = l->timers[i]->deadline > now ? (int64_t)(l->timers[i]->deadline - now) : 0;
		if (wait < 0 || d < wait)
			wait = d;
	}
	for (i = 0; i < l->n_io; i++) {
		if (!l->io[i]->events)
			continue;
		pfd[n].fd = l->io[i]->fd;
		pfd[n].events = l->io[i]->events;
		pfd[n].revents = 0;
		who[n++] = l->io[i];
	}
	if (wait >= 0) {
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000;
		tsp = &ts;
	}
	r = ppoll(pfd, n, tsp, &l->waitmask);
	if (r < 0)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n && r > 0; i++) {
		if (!pfd[i].revents)
			continue;
		r--;
		/* An earlier callback may have removed or re-pointed this io. */
		if (!io_live(l, who[i]) || who[i]->fd != pfd[i].fd)
			continue;
		who[i]->cb(who[i], pfd[i].revents);
	}
	now = fg_now_ms();
	for (i = 0; i < l->n_timers;) {
		struct fg_timer *t = l->timers[i];
		if (t->deadline <= now) {
			fg_timer_stop(l, t);
			t->cb(t);
			i = 0; /* the list changed */
			continue;
		}
		i++;
	}
	return 0;
}
