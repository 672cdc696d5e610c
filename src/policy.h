/* policy.h - the command policy of a listener: which verbs a client may
 * send and which arguments are refused.
 *
 * The policy is built while the configuration is loaded (regular
 * expressions are compiled once, there, so `ftpgate -t` reports a bad one
 * at its line) and is then only read: session processes inherit it with
 * the configuration across fork().  Matching needs a little scratch memory
 * of its own (struct fg_policy_ctx), one per session.
 *
 * The rules, in the order they are applied to a command:
 *
 *   1. deny_commands: a verb listed there is refused (502).
 *   2. allow_commands: when set, a verb that is neither listed there nor
 *      one of the protocol core (fg_policy_core_verb()) is refused (502).
 *   3. deny_arguments: the argument of the command is matched against
 *      each rule that names its verb (or `*`, every verb but PASS and
 *      ACCT); the first match refuses it (550).
 *
 * Verbs are compared upper-cased, and the RFC 775 aliases count as the
 * command they stand for (XMKD is MKD, XRMD RMD, XCWD CWD, XPWD PWD, XCUP
 * CDUP): denying MKD denies XMKD too, so the alias is no way around a rule. */
#ifndef FG_POLICY_H
#define FG_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include "limits.h"

/* PCRE2's types, declared here so that users of this header do not need
 * pcre2.h (the code unit width is 8 everywhere in ftpgate). */
struct pcre2_real_code_8;
struct pcre2_real_match_data_8;
struct pcre2_real_match_context_8;

/* One deny_arguments rule: "VERBS REGEX". */
struct fg_policy_rule {
	char verbs[FG_MAX_RULE_VERBS][FG_MAX_VERB + 1]; /* canonical names */
	unsigned n_verbs;                 /* 0: `*`, every verb but PASS/ACCT */
	struct pcre2_real_code_8 *re;     /* compiled; owned */
	char *pattern;                    /* the regex as written (for logs); owned */
	int line;                         /* configuration line */
};

struct fg_policy {
	bool has_allow;                   /* allow_commands was set */
	unsigned n_allow, n_deny, n_rules;
	char allow[FG_MAX_POLICY_VERBS][FG_MAX_VERB + 1];
	char deny[FG_MAX_POLICY_VERBS][FG_MAX_VERB + 1];
	struct fg_policy_rule rules[FG_MAX_POLICY_RULES];
};

/* ---- building (configuration load) ----------------------------------- */

/* allow_commands / deny_commands = VERB, VERB ... (commas and/or blanks
 * between the verbs; each 1..FG_MAX_VERB ASCII letters, any case; repeats
 * are ignored).  deny_commands may not name USER, PASS or QUIT: no session
 * could log in or end cleanly.  Returns 0, or -1 with a message (without
 * the key name) in err. */
int fg_policy_set_allow(struct fg_policy *p, const char *value, char *err, size_t errlen);
int fg_policy_set_deny(struct fg_policy *p, const char *value, char *err, size_t errlen);

/* deny_arguments = VERBS REGEX: VERBS is `*` or VERB[,VERB...] (no blanks),
 * then blanks, then a PCRE2 pattern (the rest of the value).  The pattern
 * is compiled here, unanchored and case-sensitive ((?i) makes it
 * insensitive), never in UTF mode (arguments are bytes).  Returns 0, or -1
 * with a message in err; for a bad pattern the message gives PCRE2's text
 * and the offset in the pattern. */
int fg_policy_add_rule(struct fg_policy *p, const char *value, int line, char *err, size_t errlen);

/* Free the compiled rules (the struct itself is not freed) and empty the
 * policy.  Safe on a zeroed or already freed policy. */
void fg_policy_free(struct fg_policy *p);

/* ---- checking (session) ---------------------------------------------- */

/* Scratch memory for matching, with the match limits set. */
struct fg_policy_ctx {
	struct pcre2_real_match_data_8 *md;
	struct pcre2_real_match_context_8 *mc;
};

/* Returns 0, or -1 when out of memory.  A ctx that was zeroed and never
 * initialised is valid for policies without deny_arguments rules. */
int fg_policy_ctx_init(struct fg_policy_ctx *c);
void fg_policy_ctx_free(struct fg_policy_ctx *c);

enum fg_policy_verdict {
	FG_POLICY_OK = 0,
	FG_POLICY_DENY_VERB,    /* answer 502 */
	FG_POLICY_DENY_ARG,     /* answer 550 */
};

/* What refused a command, for the audit line. */
struct fg_policy_hit {
	const char *key;                  /* "deny_commands", "allow_commands", "deny_arguments" */
	const struct fg_policy_rule *rule; /* deny_arguments: the rule that matched */
	int match_error;                  /* 0, or the PCRE2 error (a limit hit): refused anyway */
};

/* The protocol core that allow_commands always lets through: USER, PASS,
 * QUIT (no session can start or end without them), FEAT (the proxy edits
 * its reply; clients find EPSV with it), ABOR (a client can always stop a
 * transfer), and PASV, EPSV, PORT, EPRT (answered by the proxy itself; a
 * data connection does nothing without a transfer command, which the list
 * controls).  deny_commands can still refuse FEAT, ABOR and the four
 * data-setup verbs.  verb: upper case, NUL-terminated. */
bool fg_policy_core_verb(const char *verb);

/* Is verb (upper case, NUL-terminated) allowed by deny_commands and
 * allow_commands?  When it is not and hit is non-NULL, hit->key says which
 * list refused it. */
bool fg_policy_verb_allowed(const struct fg_policy *p, const char *verb, struct fg_policy_hit *hit);

/* Check one command: verb (upper case, NUL-terminated) and its argument
 * (arg, arglen; not NUL-terminated, may be empty).  c may be NULL only
 * when the policy has no deny_arguments rules.  Fills *hit on a refusal. */
enum fg_policy_verdict fg_policy_check(const struct fg_policy *p, struct fg_policy_ctx *c,
				       const char *verb, const char *arg, size_t arglen,
				       struct fg_policy_hit *hit);

/* Text of the PCRE2 error in hit->match_error, for the log.  Returns
 * out. */
const char *fg_policy_error_text(int code, char *out, size_t outlen);

/* FEAT: append to out (at most max entries, no NULL terminator) the
 * feature names the policy hides: every feature of a known command that
 * is not allowed (MLST when MLST or MLSD is not, UTF8 when OPTS is not,
 * SIZE, MDTM, REST, EPSV, EPRT, ...) and every verb of deny_commands.
 * Returns the number appended.  The strings are static or live in p. */
size_t fg_policy_feat_hidden(const struct fg_policy *p, const char **out, size_t max);

#endif
