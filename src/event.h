/* event.h - the small poll loop of a process and its timers.
 *
 * Each process (master or session) has one loop.  An fg_io names a file
 * descriptor, the events wanted now and a callback; owners change
 * io->events as their state changes (0 = not polled).  Timers are one-shot
 * deadlines on the monotonic clock.  Signals are delivered only while the
 * loop sleeps (ppoll with the mask given to fg_loop_init), so handlers can
 * set flags and the loop's owner acts on them between rounds. */
#ifndef FG_EVENT_H
#define FG_EVENT_H
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define FG_LOOP_MAX_IO 80
#define FG_LOOP_MAX_TIMERS 16

struct fg_io;
typedef void (*fg_io_cb)(struct fg_io *io, short revents);

struct fg_io {
	int fd;
	short events;   /* POLLIN | POLLOUT wanted now; 0 = ignore */
	fg_io_cb cb;
	void *arg;
	bool added;
};

struct fg_timer;
typedef void (*fg_timer_cb)(struct fg_timer *t);

struct fg_timer {
	uint64_t deadline;  /* ms, monotonic */
	bool armed;
	fg_timer_cb cb;
	void *arg;
	const char *name;   /* for traces */
};

struct fg_loop {
	struct fg_io *io[FG_LOOP_MAX_IO];
	unsigned n_io;
	struct fg_timer *timers[FG_LOOP_MAX_TIMERS];
	unsigned n_timers;
	sigset_t waitmask;  /* signal mask while sleeping in ppoll */
};

/* Milliseconds on the monotonic clock. */
uint64_t fg_now_ms(void);

/* waitmask: the signal mask during ppoll (NULL: the current mask). */
void fg_loop_init(struct fg_loop *l, const sigset_t *waitmask);

/* Register / unregister an io (fd must be >= 0).  Returns 0, -1 if full. */
int fg_io_add(struct fg_loop *l, struct fg_io *io, int fd, fg_io_cb cb, void *arg);
void fg_io_del(struct fg_loop *l, struct fg_io *io);

/* Arm (or re-arm) a timer to fire after ms; stop it. */
void fg_timer_init(struct fg_timer *t, const char *name, fg_timer_cb cb, void *arg);
int fg_timer_set(struct fg_loop *l, struct fg_timer *t, uint64_t ms);
void fg_timer_stop(struct fg_loop *l, struct fg_timer *t);

/* Sleep until an io is ready, a timer is due, a signal arrives, or
 * max_ms passes (-1: no limit); then run the callbacks that are due.
 * Returns 0, or -1 on a poll error other than EINTR. */
int fg_loop_once(struct fg_loop *l, int max_ms);

#endif
