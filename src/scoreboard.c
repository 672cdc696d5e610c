/* scoreboard.c - the shared table of session processes (see scoreboard.h). */
#include "scoreboard.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "log.h"
#include "session.h"
#include "banned.h"

struct header {
	uint32_t fail_gen;      /* bumped after every counted login failure */
};

/* The shared mapping: header page, then one page (or more) per slot. */
static char *map;
static size_t map_len, page, stride;
static unsigned n_slots;

/* The master's private bookkeeping, in its own mapping so that a session
 * process can drop it whole (it holds other clients' addresses). */
static char *priv;
static size_t priv_len;
static struct fg_sb_rec *recs;
static uint32_t *free_stack;   /* free slot indices */
static unsigned n_free;

/* In a session process: its own slot, and what it last published. */
static struct fg_sb_slot *self;
static struct header *self_hdr;
static pid_t self_pid;
static struct {
	bool started;
	enum fg_ctrl_state ctrl;
	enum fg_data_state data;
	uint64_t up, down;
	char user[sizeof(((struct fg_session *)0)->user)];
	struct fg_sockaddr backend;
} last;

/* Round n up to a multiple of the page size. */
static size_t page_round(size_t n)
{
	return (n + page - 1) / page * page;
}

static struct header *hdr(void)
{
	return (struct header *)(void *)map;
}

static struct fg_sb_slot *slot_at(unsigned i)
{
	return (struct fg_sb_slot *)(void *)(map + page + (size_t)i * stride);
}

/* See scoreboard.h.  MAP_NORESERVE: a slot costs memory only once its
 * process has written it, so a large max_sessions reserves address space,
 * not RAM. */
int fg_sb_create(unsigned n)
{
	long ps = sysconf(_SC_PAGESIZE);
	unsigned i;

	page = ps > 0 ? (size_t)ps : 4096;
	stride = page_round(sizeof(struct fg_sb_slot));
	if (n == 0 || (size_t)n > (SIZE_MAX - page) / stride) {
		fg_log(LOG_ERR, "session table: %u slots are too many", n);
		return -1;
	}
	map_len = page + (size_t)n * stride;
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED) {
		fg_log(LOG_ERR, "session table (%u slots, %zu bytes): mmap: %s", n, map_len,
		       strerror(errno));
		map = NULL;
		return -1;
	}
	priv_len = page_round((size_t)n * (sizeof(struct fg_sb_rec) + sizeof(uint32_t)));
	priv = mmap(NULL, priv_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (priv == MAP_FAILED) {
		fg_log(LOG_ERR, "session table records: mmap: %s", strerror(errno));
		munmap(map, map_len);
		map = priv = NULL;
		return -1;
	}
	recs = (struct fg_sb_rec *)(void *)priv;
	free_stack = (uint32_t *)(void *)(priv + (size_t)n * sizeof(struct fg_sb_rec));
	/* Lowest slots on top: a small pool keeps touching the same pages. */
	for (i = 0; i < n; i++)
		free_stack[i] = n - 1 - i;
	n_free = n_slots = n;
	return 0;
}

unsigned fg_sb_size(void)
{
	return n_slots;
}

int fg_sb_claim(void)
{
	if (n_free == 0)
		return -1;
	return (int)free_stack[--n_free];
}

struct fg_sb_rec *fg_sb_rec(int slot)
{
	if (!recs || slot < 0 || (unsigned)slot >= n_slots)
		return NULL;
	return &recs[slot];
}

/* The process is gone, so nobody writes the slot any more: clear it for
 * the next one and give its page back to the system (a slot that served a
 * big session holds no memory while it is free). */
void fg_sb_release(int slot)
{
	if (!fg_sb_rec(slot))
		return;
	memset(&recs[slot], 0, sizeof(recs[slot]));
	if (madvise(slot_at((unsigned)slot), stride, MADV_REMOVE) < 0)
		memset(slot_at((unsigned)slot), 0, sizeof(struct fg_sb_slot));
	free_stack[n_free++] = (uint32_t)slot;
}

uint32_t fg_sb_failures(int slot)
{
	if (!fg_sb_rec(slot))
		return 0;
	return __atomic_load_n(&slot_at((unsigned)slot)->login_failures, __ATOMIC_ACQUIRE);
}

uint32_t fg_sb_fail_gen(void)
{
	if (!map)
		return 0;
	return __atomic_load_n(&hdr()->fail_gen, __ATOMIC_ACQUIRE);
}

/* Make a string field of a slot safe for a key=value log line: cut to its
 * array, printable ASCII, and no space, quote or backslash (a field must
 * not be able to forge the next key). */
static void sanitize_token(char *s, size_t size)
{
	size_t i;

	s[size - 1] = '\0';
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7e || s[i] == '"' ||
		    s[i] == '\\')
			s[i] = '?';
}

/* The user field must be what fg_log_escape() makes: a quoted string in
 * which quotes and backslashes are escaped.  Anything else (a hostile
 * session) is escaped again as a whole. */
static void sanitize_user(char *s, size_t size)
{
	char copy[FG_SB_USER];
	size_t i, n;
	bool ok;

	s[size - 1] = '\0';
	n = strlen(s);
	if (n == 0)
		return;
	ok = n >= 2 && s[0] == '"' && s[n - 1] == '"';
	for (i = 1; ok && i + 1 < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '"')
			ok = false;
		else if (c == '\\' && (i + 2 >= n || !strchr("\\\"x", s[i + 1])))
			ok = false;
		else if (c == '\\')
			i++; /* the escaped byte */
	}
	if (ok)
		return;
	memcpy(copy, s, n + 1);
	fg_log_escape(s, size, copy, n);
}

/* See scoreboard.h.  A seqlock read: the writer makes seq odd, stores, and
 * makes it even again; a copy taken while seq was even and unchanged is
 * consistent.  A session that keeps seq odd (stuck or hostile) only gets
 * its own row shown torn. */
void fg_sb_read(int slot, struct fg_sb_slot *out)
{
	const struct fg_sb_slot *sl;
	int tries;

	memset(out, 0, sizeof(*out));
	if (!fg_sb_rec(slot))
		return;
	sl = slot_at((unsigned)slot);
	for (tries = 0; tries < 4; tries++) {
		uint32_t s1 = __atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE), s2;

		memcpy(out, sl, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&sl->seq, __ATOMIC_RELAXED);
		if (s1 == s2 && !(s1 & 1))
			break;
	}
	sanitize_token(out->id, sizeof(out->id));
	sanitize_token(out->client, sizeof(out->client));
	sanitize_token(out->listener, sizeof(out->listener));
	sanitize_user(out->user, sizeof(out->user));
	sanitize_token(out->backend, sizeof(out->backend));
	sanitize_token(out->ctrl, sizeof(out->ctrl));
	sanitize_token(out->data, sizeof(out->data));
}

/* ---- session process ------------------------------------------------------ */

void fg_sb_child(int slot)
{
	if (priv)
		munmap(priv, priv_len);
	priv = NULL;
	recs = NULL;
	free_stack = NULL;
	if (!map)
		return;
	if (slot < 0 || (unsigned)slot >= n_slots) {
		munmap(map, map_len);
		map = NULL;
		return;
	}
	/* Keep the header page and our slot; unmap the slots before and after. */
	if (slot > 0)
		munmap(map + page, (size_t)slot * stride);
	if ((unsigned)slot + 1 < n_slots)
		munmap(map + page + ((size_t)slot + 1) * stride,
		       (size_t)(n_slots - (unsigned)slot - 1) * stride);
	self = slot_at((unsigned)slot);
	self_hdr = hdr();
	/* Now, while every system call is still allowed: publishing the slot
	 * later must need none. */
	self_pid = getpid();
	map = NULL; /* nothing else of the table is ours to read */
}

/* The name of a control / data state.  A switch without default, so that
 * the compiler (-Wswitch) points here when a state is added. */
static const char *ctrl_name(enum fg_ctrl_state st)
{
	switch (st) {
	case FG_CTRL_CONNECTING: return "CONNECTING";
	case FG_CTRL_BANNER: return "BANNER";
	case FG_CTRL_READY: return "READY";
	case FG_CTRL_WAIT: return "WAIT";
	case FG_CTRL_DATASETUP: return "DATASETUP";
	case FG_CTRL_BACKEND_TLS: return "BACKEND_TLS";
	case FG_CTRL_CLOSING: return "CLOSING";
	}
	return "?";
}

static const char *data_name(enum fg_data_state st)
{
	switch (st) {
	case FG_DATA_NONE: return "NONE";
	case FG_DATA_READY: return "READY";
	case FG_DATA_TRANSFER: return "TRANSFER";
	case FG_DATA_DRAINED: return "DRAINED";
	}
	return "?";
}

/* Begin / end a change of our slot (seqlock writer side). */
static void write_begin(void)
{
	__atomic_store_n(&self->seq, self->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(void)
{
	__atomic_store_n(&self->seq, self->seq + 1, __ATOMIC_RELEASE);
}

/* See scoreboard.h.  Runs every round of the session loop, so it compares
 * first and writes only what changed; string fields are formatted only
 * when their source changed. */
void fg_sb_update(const struct fg_session *s)
{
	uint64_t up, down;
	bool user_changed, backend_changed;

	if (!self)
		return;
	up = s->bytes_up;
	down = s->bytes_down;
	if (s->pump_started) {
		if (s->xfer_upload)
			up += s->pump.bytes;
		else
			down += s->pump.bytes;
	}
	user_changed = strcmp(last.user, s->user) != 0;
	backend_changed = s->backend_peer.len != last.backend.len ||
			  memcmp(&s->backend_peer.ss, &last.backend.ss, s->backend_peer.len) != 0;
	if (last.started && !user_changed && !backend_changed && s->ctrl == last.ctrl &&
	    s->data == last.data && up == last.up && down == last.down)
		return;

	write_begin();
	if (!last.started) {
		self->pid = (int32_t)self_pid;
		self->start_ms = s->started_ms;
		(void)snprintf(self->id, sizeof(self->id), "%s", s->id);
		fg_net_ntop((const struct sockaddr *)&s->client_peer.ss, true, self->client,
			    sizeof(self->client));
		(void)snprintf(self->listener, sizeof(self->listener), "%s", s->lst->name);
		last.started = true;
	}
	if (user_changed) {
		(void)snprintf(last.user, sizeof(last.user), "%s", s->user);
		if (s->user[0])
			fg_log_escape(self->user, sizeof(self->user), s->user, strlen(s->user));
		else
			self->user[0] = '\0';
	}
	if (backend_changed) {
		last.backend = s->backend_peer;
		if (s->backend_peer.len)
			fg_net_ntop((const struct sockaddr *)&s->backend_peer.ss, true, self->backend,
				    sizeof(self->backend));
		else
			self->backend[0] = '\0';
	}
	if (s->ctrl != last.ctrl || s->data != last.data || user_changed || backend_changed) {
		(void)snprintf(self->ctrl, sizeof(self->ctrl), "%s", ctrl_name(s->ctrl));
		(void)snprintf(self->data, sizeof(self->data), "%s", data_name(s->data));
	}
	last.ctrl = s->ctrl;
	last.data = s->data;
	self->bytes_up = last.up = up;
	self->bytes_down = last.down = down;
	write_end();
}

/* See scoreboard.h.  Only 530 counts: it is the reply for a wrong password
 * (RFC 959); 503 (PASS without USER) or 501 are no guesses.  The slot's
 * counter goes first, then the generation, so a master that sees the new
 * generation also sees the count. */
void fg_sb_login(const struct fg_session *s, int code)
{
	if (!self || code != 530 || (s->cur.verb != FG_V_PASS && s->cur.verb != FG_V_ACCT))
		return;
	__atomic_add_fetch(&self->login_failures, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&self_hdr->fail_gen, 1, __ATOMIC_RELEASE);
}
