/* policy.c - the command policy of a listener (see policy.h).
 *
 * Everything a rule needs is prepared at configuration load: verb names
 * are checked, upper-cased and folded to their canonical form, patterns
 * are compiled.  The session side only compares and matches.  PCRE2 runs
 * without JIT: JIT needs executable memory, which a sandboxed session
 * process should not be able to get, and the arguments are short. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "banned.h"

/* The RFC 775 forms and the commands they stand for. */
static const char *const aliases[][2] = {
	{ "XMKD", "MKD" }, { "XRMD", "RMD" }, { "XCWD", "CWD" },
	{ "XPWD", "PWD" }, { "XCUP", "CDUP" },
};

/* The canonical name of an upper-case verb: the command an alias stands
 * for, or the verb itself.  Returns a static string or verb. */
static const char *canon(const char *verb)
{
	size_t i;

	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(verb, aliases[i][0]) == 0)
			return aliases[i][1];
	return verb;
}

/* Copy config text for a message: printable ASCII as is, other bytes as
 * \xNN, cut with "..." when long.  Returns out. */
static const char *show(char *out, size_t outlen, const char *s, size_t len)
{
	size_t o = 0, i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int n;

		if (o + 8 > outlen) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
			continue;
		}
		n = snprintf(out + o, outlen - o, "\\x%02x", c);
		if (n > 0)
			o += (size_t)n;
	}
	out[o] = '\0';
	return out;
}

/* A verb token of len bytes: 1..FG_MAX_VERB ASCII letters.  Writes its
 * canonical upper-case name to out.  Returns 0, or -1 with a message. */
static int parse_verb(const char *s, size_t len, char out[FG_MAX_VERB + 1], char *err, size_t errlen)
{
	char tmp[FG_MAX_VERB + 1], e[64];
	size_t i;

	if (len == 0 || len > FG_MAX_VERB)
		goto bad;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!(c >= 'A' && c <= 'Z'))
			goto bad;
		tmp[i] = c;
	}
	tmp[len] = '\0';
	(void)snprintf(out, FG_MAX_VERB + 1, "%s", canon(tmp));
	return 0;
bad:
	(void)snprintf(err, errlen, "'%s' is not a command name (1-%d letters A-Z)",
		       show(e, sizeof(e), s, len), FG_MAX_VERB);
	return -1;
}

/* Is name in the first n entries of list? */
static bool listed(const char (*list)[FG_MAX_VERB + 1], unsigned n, const char *name)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

/* Blanks between list items and between a rule's verbs and its pattern. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Parse "VERB, VERB ..." into list (max entries), without repeats.
 * Returns the count, or -1 with a message. */
static int parse_list(const char *v, char (*list)[FG_MAX_VERB + 1], unsigned max,
		      char *err, size_t errlen)
{
	unsigned n = 0;

	for (;;) {
		char name[FG_MAX_VERB + 1];
		size_t len = 0;

		while (*v == ',' || is_blank(*v))
			v++;
		if (!*v)
			break;
		while (v[len] && v[len] != ',' && !is_blank(v[len]))
			len++;
		if (parse_verb(v, len, name, err, errlen) < 0)
			return -1;
		v += len;
		if (listed(list, n, name))
			continue;
		if (n >= max) {
			(void)snprintf(err, errlen, "too many commands (max %u)", max);
			return -1;
		}
		(void)snprintf(list[n++], FG_MAX_VERB + 1, "%s", name);
	}
	if (n == 0) {
		(void)snprintf(err, errlen, "want a list of commands, e.g. DELE, RNFR, RNTO");
		return -1;
	}
	return (int)n;
}

/* See policy.h. */
int fg_policy_set_allow(struct fg_policy *p, const char *value, char *err, size_t errlen)
{
	int n = parse_list(value, p->allow, FG_MAX_POLICY_VERBS, err, errlen);

	if (n < 0)
		return -1;
	p->n_allow = (unsigned)n;
	p->has_allow = true;
	return 0;
}

/* See policy.h.  USER, PASS and QUIT stay allowed whatever the list says:
 * refusing them would make every session fail, which is a mistake in the
 * file, so it is reported rather than obeyed. */
int fg_policy_set_deny(struct fg_policy *p, const char *value, char *err, size_t errlen)
{
	static const char *const needed[] = { "USER", "PASS", "QUIT" };
	int n = parse_list(value, p->deny, FG_MAX_POLICY_VERBS, err, errlen);
	size_t i;

	if (n < 0)
		return -1;
	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (listed(p->deny, (unsigned)n, needed[i])) {
			(void)snprintf(err, errlen, "%s cannot be denied: no session could %s", needed[i],
				       i < 2 ? "log in" : "end cleanly");
			p->n_deny = 0;
			return -1;
		}
	}
	p->n_deny = (unsigned)n;
	return 0;
}

/* See policy.h. */
int fg_policy_add_rule(struct fg_policy *p, const char *value, int line, char *err, size_t errlen)
{
	struct fg_policy_rule r;
	const char *v = value, *pat;
	size_t vlen = 0, off = 0;
	int code = 0;

	memset(&r, 0, sizeof(r));
	r.line = line;
	while (is_blank(*v))
		v++;
	while (v[vlen] && !is_blank(v[vlen]))
		vlen++;
	pat = v + vlen;
	while (is_blank(*pat))
		pat++;
	if (vlen == 0 || !*pat) {
		(void)snprintf(err, errlen, "want VERBS REGEX, VERBS being * or VERB[,VERB...]");
		return -1;
	}
	if (p->n_rules >= FG_MAX_POLICY_RULES) {
		(void)snprintf(err, errlen, "too many rules (max %d per listener)", FG_MAX_POLICY_RULES);
		return -1;
	}
	if (!(vlen == 1 && v[0] == '*')) {
		while (off < vlen) {
			size_t len = 0;
			char name[FG_MAX_VERB + 1];

			while (off + len < vlen && v[off + len] != ',')
				len++;
			if (parse_verb(v + off, len, name, err, errlen) < 0)
				return -1;
			if (!listed(r.verbs, r.n_verbs, name)) {
				if (r.n_verbs >= FG_MAX_RULE_VERBS) {
					(void)snprintf(err, errlen, "too many commands in one rule (max %d)",
						       FG_MAX_RULE_VERBS);
					return -1;
				}
				(void)snprintf(r.verbs[r.n_verbs++], FG_MAX_VERB + 1, "%s", name);
			}
			off += len + 1;
			if (off == vlen) {
				/* A trailing comma: an empty verb. */
				return parse_verb(v + off, 0, name, err, errlen);
			}
		}
	}
	/* Arguments are bytes in no known encoding: never UTF mode, and a
	 * pattern may not turn it on with (*UTF). */
	r.re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_NEVER_UTF | PCRE2_NEVER_UCP,
			     &code, &off, NULL);
	if (!r.re) {
		PCRE2_UCHAR msg[256];

		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			(void)snprintf((char *)msg, sizeof(msg), "error %d", code);
		(void)snprintf(err, errlen, "bad regular expression at offset %zu: %s", off, (char *)msg);
		return -1;
	}
	r.pattern = strdup(pat);
	if (!r.pattern) {
		pcre2_code_free(r.re);
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->rules[p->n_rules++] = r;
	return 0;
}

/* See policy.h. */
void fg_policy_free(struct fg_policy *p)
{
	unsigned i;

	for (i = 0; i < p->n_rules && i < FG_MAX_POLICY_RULES; i++) {
		pcre2_code_free(p->rules[i].re);
		free(p->rules[i].pattern);
	}
	memset(p, 0, sizeof(*p));
}

/* See policy.h. */
int fg_policy_ctx_init(struct fg_policy_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->mc = pcre2_match_context_create(NULL);
	/* One pair is enough: we only ask whether a rule matches. */
	c->md = pcre2_match_data_create(1, NULL);
	if (!c->mc || !c->md) {
		fg_policy_ctx_free(c);
		return -1;
	}
	pcre2_set_match_limit(c->mc, FG_REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(c->mc, FG_REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(c->mc, FG_REGEX_HEAP_KIB);
	return 0;
}

/* See policy.h. */
void fg_policy_ctx_free(struct fg_policy_ctx *c)
{
	pcre2_match_data_free(c->md);
	pcre2_match_context_free(c->mc);
	memset(c, 0, sizeof(*c));
}

/* See policy.h. */
bool fg_policy_core_verb(const char *verb)
{
	static const char *const core[] = {
		"USER", "PASS", "QUIT", "FEAT", "ABOR", "PASV", "EPSV", "PORT", "EPRT",
	};
	size_t i;

	for (i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		if (strcmp(verb, core[i]) == 0)
			return true;
	return false;
}

/* See policy.h. */
bool fg_policy_verb_allowed(const struct fg_policy *p, const char *verb, struct fg_policy_hit *hit)
{
	const char *v = canon(verb);
	const char *key = NULL;

	if (listed(p->deny, p->n_deny, v))
		key = "deny_commands";
	else if (p->has_allow && !fg_policy_core_verb(v) && !listed(p->allow, p->n_allow, v))
		key = "allow_commands";
	if (!key)
		return true;
	if (hit) {
		memset(hit, 0, sizeof(*hit));
		hit->key = key;
	}
	return false;
}

/* Does rule r apply to the canonical verb v? */
static bool rule_applies(const struct fg_policy_rule *r, const char *v)
{
	/* `*` leaves out the commands whose argument is a secret: a rule
	 * about paths must not make us look at passwords. */
	if (r->n_verbs == 0)
		return strcmp(v, "PASS") != 0 && strcmp(v, "ACCT") != 0;
	return listed(r->verbs, r->n_verbs, v);
}

/* See policy.h.  A match that fails with an error (a limit reached, no
 * scratch memory) refuses the argument: a deny rule that cannot be
 * evaluated must not let the command through. */
enum fg_policy_verdict fg_policy_check(const struct fg_policy *p, struct fg_policy_ctx *c,
				       const char *verb, const char *arg, size_t arglen,
				       struct fg_policy_hit *hit)
{
	const char *v = canon(verb);
	unsigned i;

	if (!fg_policy_verb_allowed(p, verb, hit))
		return FG_POLICY_DENY_VERB;
	if (!arg)
		arg = "";
	for (i = 0; i < p->n_rules; i++) {
		const struct fg_policy_rule *r = &p->rules[i];
		int rc;

		if (!rule_applies(r, v))
			continue;
		if (c && c->md && c->mc)
			rc = pcre2_match(r->re, (PCRE2_SPTR)arg, arglen, 0, 0, c->md, c->mc);
		else
			rc = PCRE2_ERROR_NOMEMORY;
		if (rc == PCRE2_ERROR_NOMATCH)
			continue;
		if (hit) {
			memset(hit, 0, sizeof(*hit));
			hit->key = "deny_arguments";
			hit->rule = r;
			hit->match_error = rc < 0 ? rc : 0;
		}
		return FG_POLICY_DENY_ARG;
	}
	return FG_POLICY_OK;
}

/* See policy.h. */
const char *fg_policy_error_text(int code, char *out, size_t outlen)
{
	if (outlen == 0)
		return out;
	if (pcre2_get_error_message(code, (PCRE2_UCHAR *)out, outlen) < 0)
		(void)snprintf(out, outlen, "error %d", code);
	return out;
}

/* Features (RFC 2389 FEAT lines, by first word) and the commands they
 * announce: a client that sees the feature will use the commands. */
static const struct {
	const char *feat;
	const char *verbs[2];
} feat_verbs[] = {
	{ "EPRT", { "EPRT" } }, { "EPSV", { "EPSV" } },
	{ "MDTM", { "MDTM" } }, { "MFMT", { "MFMT" } }, { "MFCT", { "MFCT" } },
	{ "MFF", { "MFF" } }, { "MLST", { "MLST", "MLSD" } }, { "MLSD", { "MLSD" } },
	{ "REST", { "REST" } }, { "RANG", { "RANG" } }, { "SIZE", { "SIZE" } },
	{ "UTF8", { "OPTS" } }, { "LANG", { "LANG" } }, { "HOST", { "HOST" } },
	{ "CLNT", { "CLNT" } }, { "HASH", { "HASH" } }, { "XCRC", { "XCRC" } },
	{ "XMD5", { "XMD5" } }, { "XSHA1", { "XSHA1" } }, { "XSHA256", { "XSHA256" } },
	{ "XSHA512", { "XSHA512" } }, { "AVBL", { "AVBL" } }, { "MODE", { "MODE" } },
	{ "SITE", { "SITE" } }, { "STOU", { "STOU" } },
};

/* See policy.h. */
size_t fg_policy_feat_hidden(const struct fg_policy *p, const char **out, size_t max)
{
	size_t n = 0, i, k;

	for (i = 0; i < sizeof(feat_verbs) / sizeof(feat_verbs[0]); i++) {
		bool hide = false;

		for (k = 0; k < 2 && feat_verbs[i].verbs[k]; k++)
			if (!fg_policy_verb_allowed(p, feat_verbs[i].verbs[k], NULL))
				hide = true;
		if (hide && n < max)
			out[n++] = feat_verbs[i].feat;
	}
	/* Extension features we do not know are hidden when named in
	 * deny_commands (e.g. a server's own XCRC-like command). */
	for (i = 0; i < p->n_deny && n < max; i++)
		out[n++] = p->deny[i];
	return n;
}
