/* admit.c - admission in the master: per-address limits, rate, bans
 * (see admit.h). */
#include "admit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>
#include "event.h"
#include "log.h"
#include "scoreboard.h"
#include "banned.h"

/* Entries are numbered from 1; 0 means "none". */
struct entry {
	uint8_t key[17];         /* family byte (4 or 6), then the address */
	bool in_lru;             /* unpinned: on the LRU list */
	uint32_t hnext;          /* next entry in the same hash bucket */
	uint32_t older, newer;   /* LRU neighbours */
	uint32_t sessions;       /* sessions in progress from this address */
	uint32_t failures;       /* login failures since fail_start */
	uint32_t ban_failures;   /* the failures that led to the ban */
	uint32_t quiet;          /* refusals not logged since the last line */
	uint64_t fail_start;     /* ms: first failure of the current window */
	uint64_t tat_us;         /* GCRA theoretical arrival time (µs) */
	uint64_t ban_until;      /* ms; 0: not banned */
	uint64_t quiet_until;    /* ms: refusals until then are only counted */
};

static struct {
	char *mem;               /* entries and buckets, one private mapping */
	size_t mem_len;
	struct entry *e;         /* e[1..cap] */
	uint32_t *bucket;        /* mask + 1 heads */
	uint32_t cap, used, mask;
	uint32_t newest, oldest; /* LRU list of unpinned entries */
	unsigned banned;
	uint64_t next_unban;     /* ms of the earliest ban end; 0: none */
	uint64_t next_scan;      /* ms: no ban scan before this */
	uint32_t gen_seen;       /* scoreboard failure generation counted */
	uint64_t key[2];         /* SipHash key: bucket choice is secret */
	unsigned forgotten;      /* bans dropped early since the last warning */
	uint64_t forgotten_at;   /* ms of the last such warning */
	bool full_logged;
} T;

/* ---- SipHash-2-4: attackers choose addresses, not our buckets ----------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                         \
	do {                                                             \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                   \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                   \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

/* Little-endian 64-bit load of 8 bytes. */
static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* SipHash-2-4 of len bytes under key k (the reference algorithm). */
static uint64_t siphash(const uint8_t *in, size_t len, const uint64_t k[2])
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k[0], v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ k[0], v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, tail = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < tail; i++)
		b |= (uint64_t)in[len - tail + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table --------------------------------------------------------------- */

/* See admit.h.  Sized once: one entry per scoreboard slot (so that every
 * address with a session fits) plus FG_ADDR_SPARE that can be evicted. */
int fg_admit_init(void)
{
	uint32_t nb = 1;
	size_t elen, blen;

	memset(&T, 0, sizeof(T));
	T.cap = fg_sb_size() + FG_ADDR_SPARE;
	while (nb < T.cap)
		nb <<= 1;
	T.mask = nb - 1;
	elen = ((size_t)T.cap + 1) * sizeof(struct entry);
	blen = (size_t)nb * sizeof(uint32_t);
	T.mem_len = elen + blen;
	/* Zero pages on demand: a quiet gateway touches few of them. */
	T.mem = mmap(NULL, T.mem_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (T.mem == MAP_FAILED) {
		fg_log(LOG_ERR, "address table (%u entries): mmap: %s", T.cap, strerror(errno));
		T.mem = NULL;
		return -1;
	}
	T.e = (struct entry *)(void *)T.mem;
	T.bucket = (uint32_t *)(void *)(T.mem + elen);
	if (getrandom(T.key, sizeof(T.key), 0) != (ssize_t)sizeof(T.key)) {
		T.key[0] = fg_now_ms() ^ ((uint64_t)getpid() << 32);
		T.key[1] = (uint64_t)(uintptr_t)&T ^ 0x9e3779b97f4a7c15ULL;
	}
	return 0;
}

void fg_admit_child(void)
{
	if (T.mem)
		munmap(T.mem, T.mem_len);
	memset(&T, 0, sizeof(T));
}

/* The table key of an (unmapped) address. */
static void make_key(const struct fg_sockaddr *a, uint8_t key[17])
{
	memset(key, 0, 17);
	if (a->ss.ss_family == AF_INET6) {
		key[0] = 6;
		memcpy(key + 1, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
	} else {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
	}
}

/* The address of entry i as text, without port. */
static const char *entry_text(uint32_t i, char *buf, size_t len)
{
	const struct entry *e = &T.e[i];

	if (!inet_ntop(e->key[0] == 6 ? AF_INET6 : AF_INET, e->key + 1, buf, (socklen_t)len))
		(void)snprintf(buf, len, "?");
	return buf;
}

static uint32_t bucket_of(const uint8_t key[17])
{
	return (uint32_t)siphash(key, 17, T.key) & T.mask;
}

/* LRU list: take entry i off, or put it on as the newest. */
static void lru_unlink(uint32_t i)
{
	struct entry *e = &T.e[i];

	if (!e->in_lru)
		return;
	if (e->older)
		T.e[e->older].newer = e->newer;
	else
		T.oldest = e->newer;
	if (e->newer)
		T.e[e->newer].older = e->older;
	else
		T.newest = e->older;
	e->older = e->newer = 0;
	e->in_lru = false;
}

static void lru_push(uint32_t i)
{
	struct entry *e = &T.e[i];

	e->older = T.newest;
	e->newer = 0;
	if (T.newest)
		T.e[T.newest].newer = i;
	else
		T.oldest = i;
	T.newest = i;
	e->in_lru = true;
}

/* Entry i was seen now: the newest on the LRU list (if it is on it). */
static void touch(uint32_t i)
{
	if (T.e[i].in_lru && T.newest != i) {
		lru_unlink(i);
		lru_push(i);
	}
}

/* Lift the ban of entry i and say so. */
static void unban(uint32_t i)
{
	char addr[INET6_ADDRSTRLEN];

	T.e[i].ban_until = 0;
	T.banned--;
	fg_log(LOG_NOTICE, "event=unban client=%s", entry_text(i, addr, sizeof(addr)));
}

/* Forget entry i (the least recently seen, without sessions) to reuse it.
 * A ban still running is lost with it: that is the price of a bounded
 * table, and it is logged (at most once a minute, with a count). */
static void evict(uint32_t i, uint64_t now)
{
	struct entry *e = &T.e[i];
	uint32_t *p = &T.bucket[bucket_of(e->key)];

	while (*p && *p != i)
		p = &T.e[*p].hnext;
	if (*p)
		*p = e->hnext;
	lru_unlink(i);
	if (e->ban_until) {
		T.banned--;
		if (now < e->ban_until) {
			T.forgotten++;
			if (!T.forgotten_at || now - T.forgotten_at >= 60000) {
				fg_log(LOG_WARNING, "address table full (%u entries): %u ban(s) dropped early",
				       T.cap, T.forgotten);
				T.forgotten = 0;
				T.forgotten_at = now;
			}
		}
	}
}

/* The entry of peer, created (possibly by evicting) if it is new, and
 * marked as just seen.  Returns 0 only if every entry has sessions, which
 * the sizing rules out. */
static uint32_t find_or_add(const struct fg_sockaddr *peer, uint64_t now)
{
	uint8_t key[17];
	uint32_t b, i;

	if (!T.mem)
		return 0;
	make_key(peer, key);
	b = bucket_of(key);
	for (i = T.bucket[b]; i; i = T.e[i].hnext) {
		if (memcmp(T.e[i].key, key, sizeof(key)) == 0) {
			touch(i);
			return i;
		}
	}
	if (T.used < T.cap) {
		i = ++T.used;
	} else {
		i = T.oldest;
		if (!i) {
			if (!T.full_logged)
				fg_log(LOG_ERR, "address table full of addresses with sessions; "
				       "new addresses are not limited");
			T.full_logged = true;
			return 0;
		}
		evict(i, now);
	}
	memset(&T.e[i], 0, sizeof(T.e[i]));
	memcpy(T.e[i].key, key, sizeof(key));
	T.e[i].hnext = T.bucket[b];
	T.bucket[b] = i;
	lru_push(i);
	return i;
}

/* ---- login failures and bans -------------------------------------------------- */

/* Ban entry i for ban_time seconds. */
static void ban(const struct fg_config *cfg, uint32_t i, uint64_t now)
{
	struct entry *e = &T.e[i];
	char addr[INET6_ADDRSTRLEN];

	e->ban_until = now + (uint64_t)cfg->ban_time * 1000;
	e->ban_failures = e->failures;
	e->failures = 0;
	T.banned++;
	if (!T.next_unban || e->ban_until < T.next_unban)
		T.next_unban = e->ban_until;
	fg_log(LOG_WARNING, "event=ban client=%s failures=%u seconds=%u",
	       entry_text(i, addr, sizeof(addr)), e->ban_failures, cfg->ban_time);
}

/* Charge the new login failures of slot to the address the master
 * accepted for it.  The counter comes from the session, so a delta is
 * capped: a hostile session can only get its own address banned. */
static void count_failures(const struct fg_config *cfg, int slot, uint64_t now)
{
	struct fg_sb_rec *r = fg_sb_rec(slot);
	uint32_t cur, delta;
	struct entry *e;

	if (!r || !r->busy)
		return;
	cur = fg_sb_failures(slot);
	delta = cur - r->failures_seen;
	r->failures_seen = cur;
	if (!delta || !cfg->ban_after || !r->addr)
		return;
	if (delta > cfg->ban_after)
		delta = cfg->ban_after;
	e = &T.e[r->addr];
	if (e->ban_until && now < e->ban_until)
		return; /* already banned: sessions in progress do not extend it */
	if (!e->failures || now - e->fail_start >= (uint64_t)cfg->ban_window * 1000) {
		e->failures = 0;
		e->fail_start = now;
	}
	e->failures += delta;
	if (e->failures >= cfg->ban_after)
		ban(cfg, r->addr, now);
}

/* Count new failures of all sessions, if any session reported one since
 * the last look (one load otherwise). */
static void count_all_failures(const struct fg_config *cfg, uint64_t now)
{
	uint32_t gen = fg_sb_fail_gen();
	unsigned i, n = fg_sb_size();

	if (gen == T.gen_seen)
		return;
	/* Taken before the scan: a failure during it shows up next time. */
	T.gen_seen = gen;
	for (i = 0; i < n; i++)
		count_failures(cfg, (int)i, now);
}

void fg_admit_tick(const struct fg_config *cfg, uint64_t now)
{
	uint64_t next = 0;
	uint32_t i;

	count_all_failures(cfg, now);
	/* Bans end on time (logged within about a second, the master loop's
	 * longest sleep); the table is scanned only when one is due, at most
	 * twice a second. */
	if (!T.banned || !T.next_unban || now < T.next_unban || now < T.next_scan)
		return;
	for (i = 1; i <= T.used; i++) {
		uint64_t until = T.e[i].ban_until;
		if (!until)
			continue;
		if (now >= until)
			unban(i);
		else if (!next || until < next)
			next = until;
	}
	T.next_unban = next;
	T.next_scan = now + 500;
}

/* ---- admission ------------------------------------------------------------- */

/* Log a refusal of entry i (0: untracked address), at most once a second
 * per address so that a flood cannot flood the log too. */
static void log_refusal(uint32_t i, const struct fg_sockaddr *peer, const char *reason,
			uint64_t now)
{
	char addr[FG_ADDRSTRLEN], more[32] = "";
	struct entry *e = i ? &T.e[i] : NULL;

	if (e && now < e->quiet_until) {
		e->quiet++;
		return;
	}
	if (e && e->quiet)
		(void)snprintf(more, sizeof(more), " suppressed=%u", e->quiet);
	if (e) {
		e->quiet = 0;
		e->quiet_until = now + 1000;
	}
	fg_net_ntop((const struct sockaddr *)&peer->ss, false, addr, sizeof(addr));
	fg_log(LOG_WARNING, "event=refused client=%s reason=\"%s\"%s", addr, reason, more);
}

const char *fg_admit_check(const struct fg_config *cfg, const struct fg_sockaddr *peer,
			   uint64_t now)
{
	char why[80];
	struct entry *e;
	uint32_t i;

	/* A failure reported just before this connection must count now. */
	count_all_failures(cfg, now);
	i = find_or_add(peer, now);
	if (!i)
		return NULL;
	e = &T.e[i];
	if (e->ban_until) {
		if (now < e->ban_until) {
			log_refusal(i, peer, "banned", now);
			return "421 Your address is temporarily banned.\r\n";
		}
		unban(i);
	}
	if (cfg->max_sessions_per_ip && e->sessions >= cfg->max_sessions_per_ip) {
		(void)snprintf(why, sizeof(why), "max_sessions_per_ip (%u) reached",
			       cfg->max_sessions_per_ip);
		log_refusal(i, peer, why, now);
		return "421 Too many sessions from your address.\r\n";
	}
	if (cfg->max_connections_per_minute) {
		/* GCRA: one connection per interval t, bursts up to N. */
		uint64_t n = cfg->max_connections_per_minute;
		uint64_t t = 60000000ULL / n, tau = t * (n - 1), now_us = now * 1000;
		uint64_t tat = e->tat_us > now_us ? e->tat_us : now_us;

		if (tat - now_us > tau) {
			(void)snprintf(why, sizeof(why), "max_connections_per_minute (%u) exceeded",
				       cfg->max_connections_per_minute);
			log_refusal(i, peer, why, now);
			return "421 Too many connections from your address, try again later.\r\n";
		}
		e->tat_us = tat + t;
	}
	return NULL;
}

/* ---- sessions ---------------------------------------------------------------- */

void fg_admit_spawned(int slot, pid_t pid)
{
	struct fg_sb_rec *r = fg_sb_rec(slot);
	static bool warned;

	if (r) {
		r->pid = pid;
		return;
	}
	/* Only when max_sessions grew on a reload: the table keeps the size
	 * it got at start. */
	if (!warned)
		fg_log(LOG_WARNING, "session table full (%u slots): session process %d runs without a "
		       "slot (not in the status, no per-address limits or bans); restart to enlarge it",
		       fg_sb_size(), (int)pid);
	warned = true;
}

void fg_admit_opened(int slot, const struct fg_sockaddr *peer, const char *peer_text,
		     const char *listener, uint64_t now)
{
	struct fg_sb_rec *r = fg_sb_rec(slot);
	uint32_t i;

	if (!r)
		return;
	i = find_or_add(peer, now);
	r->busy = true;
	r->since_ms = now;
	(void)snprintf(r->client_text, sizeof(r->client_text), "%s", peer_text);
	(void)snprintf(r->listener, sizeof(r->listener), "%s", listener);
	r->failures_seen = fg_sb_failures(slot);
	r->addr = i;
	if (i) {
		/* An address with sessions is never evicted. */
		lru_unlink(i);
		T.e[i].sessions++;
	}
}

void fg_admit_reaped(const struct fg_config *cfg, int slot, uint64_t now)
{
	struct fg_sb_rec *r = fg_sb_rec(slot);

	if (!r)
		return;
	if (r->busy) {
		count_failures(cfg, slot, now);
		if (r->addr && T.e[r->addr].sessions > 0 && --T.e[r->addr].sessions == 0)
			lru_push(r->addr);
	}
	fg_sb_release(slot);
}

/* ---- status ------------------------------------------------------------------- */

void fg_admit_stats(struct fg_admit_stats *st)
{
	st->tracked = T.used;
	st->capacity = T.cap;
	st->banned = T.banned;
}

void fg_admit_each_ban(uint64_t now, void (*fn)(void *arg, const char *addr, unsigned failures,
						uint64_t left_ms),
		       void *arg)
{
	char addr[INET6_ADDRSTRLEN];
	uint32_t i;

	for (i = 1; i <= T.used; i++)
		if (T.e[i].ban_until > now)
			fn(arg, entry_text(i, addr, sizeof(addr)), T.e[i].ban_failures,
			   T.e[i].ban_until - now);
}
