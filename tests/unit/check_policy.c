/* check_policy.c - unit tests of the command policy (policy.c) and of the
 * configuration keys that build it (config.c): verb lists, aliases, the
 * protocol core, deny_arguments rules (matching on a span, PASS left out,
 * match limits), FEAT hiding, FILE:LINE errors for bad patterns, login
 * limits inherited from [global]. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "policy.h"
#include "unit_util.h"

#include "banned.h"

/* A policy and the scratch memory to check with; every test starts clean. */
static struct fg_policy pol;
static struct fg_policy_ctx ctx;
static char err[512];

static void setup(void)
{
	memset(&pol, 0, sizeof(pol));
	ck_assert_int_eq(fg_policy_ctx_init(&ctx), 0);
	err[0] = '\0';
}

static void teardown(void)
{
	fg_policy_free(&pol);
	fg_policy_ctx_free(&ctx);
}

/* Check verb with a C-string argument. */
static enum fg_policy_verdict chk(const char *verb, const char *arg)
{
	struct fg_policy_hit hit;

	return fg_policy_check(&pol, &ctx, verb, arg, strlen(arg), &hit);
}

/* Add a rule that must be valid. */
static void rule(const char *text)
{
	ck_assert_msg(fg_policy_add_rule(&pol, text, 7, err, sizeof(err)) == 0, "%s: %s", text, err);
}

/* ---- verb lists ------------------------------------------------------- */

START_TEST(no_policy_allows_everything)
{
	ck_assert_int_eq(chk("DELE", "x"), FG_POLICY_OK);
	ck_assert_int_eq(chk("SITE", "CHMOD 777 x"), FG_POLICY_OK);
	ck_assert_int_eq(chk("RETR", "../x"), FG_POLICY_OK);
}
END_TEST

START_TEST(deny_list)
{
	struct fg_policy_hit hit;

	ck_assert_int_eq(fg_policy_set_deny(&pol, "dele,  RNFR rnto,SITE", err, sizeof(err)), 0);
	ck_assert_uint_eq(pol.n_deny, 4);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "DELE", "x", 1, &hit), FG_POLICY_DENY_VERB);
	ck_assert_str_eq(hit.key, "deny_commands");
	ck_assert_ptr_null(hit.rule);
	ck_assert_int_eq(chk("RNTO", "y"), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(chk("SITE", ""), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(chk("RETR", "x"), FG_POLICY_OK);
	ck_assert_int_eq(chk("STOR", "x"), FG_POLICY_OK);
}
END_TEST

START_TEST(deny_list_repeats_once)
{
	ck_assert_int_eq(fg_policy_set_deny(&pol, "DELE, dele, Dele", err, sizeof(err)), 0);
	ck_assert_uint_eq(pol.n_deny, 1);
}
END_TEST

START_TEST(allow_list_and_core)
{
	struct fg_policy_hit hit;
	static const char *const core[] = { "USER", "PASS", "QUIT", "FEAT", "ABOR",
					    "PASV", "EPSV", "PORT", "EPRT" };
	size_t i;

	ck_assert_int_eq(fg_policy_set_allow(&pol, "RETR, TYPE, NOOP", err, sizeof(err)), 0);
	ck_assert(pol.has_allow);
	ck_assert_int_eq(chk("RETR", "f"), FG_POLICY_OK);
	ck_assert_int_eq(chk("TYPE", "I"), FG_POLICY_OK);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "STOR", "f", 1, &hit), FG_POLICY_DENY_VERB);
	ck_assert_str_eq(hit.key, "allow_commands");
	ck_assert_int_eq(chk("DELE", "f"), FG_POLICY_DENY_VERB);
	for (i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
		ck_assert_msg(fg_policy_core_verb(core[i]), "%s", core[i]);
		ck_assert_msg(chk(core[i], "") == FG_POLICY_OK, "core verb %s refused", core[i]);
	}
	ck_assert(!fg_policy_core_verb("TYPE"));
	ck_assert(!fg_policy_core_verb("NOOP"));
}
END_TEST

START_TEST(deny_beats_allow_and_core)
{
	ck_assert_int_eq(fg_policy_set_allow(&pol, "RETR STOR", err, sizeof(err)), 0);
	ck_assert_int_eq(fg_policy_set_deny(&pol, "STOR PORT EPRT FEAT", err, sizeof(err)), 0);
	ck_assert_int_eq(chk("RETR", "f"), FG_POLICY_OK);
	ck_assert_int_eq(chk("STOR", "f"), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(chk("PORT", "127,0,0,1,4,1"), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(chk("EPRT", "|1|127.0.0.1|1025|"), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(chk("FEAT", ""), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(chk("EPSV", ""), FG_POLICY_OK);
}
END_TEST

START_TEST(aliases_are_the_same_command)
{
	ck_assert_int_eq(fg_policy_set_deny(&pol, "MKD, xrmd", err, sizeof(err)), 0);
	ck_assert_int_eq(chk("MKD", "d"), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(chk("XMKD", "d"), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(chk("RMD", "d"), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(chk("XRMD", "d"), FG_POLICY_DENY_VERB);
	fg_policy_free(&pol);
	ck_assert_int_eq(fg_policy_set_allow(&pol, "CWD PWD", err, sizeof(err)), 0);
	ck_assert_int_eq(chk("XCWD", "d"), FG_POLICY_OK);
	ck_assert_int_eq(chk("XPWD", ""), FG_POLICY_OK);
	ck_assert_int_eq(chk("XCUP", ""), FG_POLICY_DENY_VERB);
}
END_TEST

/* Bad lists, each with the message it must give. */
static const struct {
	bool deny;
	const char *value;
	const char *msg;
} bad_lists[] = {
	{ false, "", "want a list of commands, e.g. DELE, RNFR, RNTO" },
	{ false, " , ,", "want a list of commands, e.g. DELE, RNFR, RNTO" },
	{ false, "RETR, RE/TR", "'RE/TR' is not a command name (1-16 letters A-Z)" },
	{ true, "DELE *", "'*' is not a command name (1-16 letters A-Z)" },
	{ true, "ABCDEFGHIJKLMNOPQ", "'ABCDEFGHIJKLMNOPQ' is not a command name (1-16 letters A-Z)" },
	{ true, "DELE\x01", "'DELE\\x01' is not a command name (1-16 letters A-Z)" },
	{ true, "DELE, user", "USER cannot be denied: no session could log in" },
	{ true, "PASS", "PASS cannot be denied: no session could log in" },
	{ true, "quit", "QUIT cannot be denied: no session could end cleanly" },
};

START_TEST(bad_list)
{
	int r = bad_lists[_i].deny ? fg_policy_set_deny(&pol, bad_lists[_i].value, err, sizeof(err))
				   : fg_policy_set_allow(&pol, bad_lists[_i].value, err, sizeof(err));

	ck_assert_int_eq(r, -1);
	ck_assert_str_eq(err, bad_lists[_i].msg);
	ck_assert_uint_eq(pol.n_deny, 0);
}
END_TEST

START_TEST(too_many_verbs)
{
	char v[FG_MAX_POLICY_VERBS * 8 + 64];
	size_t o = 0;
	int i;

	/* FG_MAX_POLICY_VERBS distinct names are fine, one more is not. */
	for (i = 0; i < FG_MAX_POLICY_VERBS; i++)
		o += (size_t)snprintf(v + o, sizeof(v) - o, "X%c%c ", 'A' + i / 26, 'A' + i % 26);
	ck_assert_int_eq(fg_policy_set_allow(&pol, v, err, sizeof(err)), 0);
	ck_assert_uint_eq(pol.n_allow, FG_MAX_POLICY_VERBS);
	(void)snprintf(v + o, sizeof(v) - o, "ZZZ");
	ck_assert_int_eq(fg_policy_set_allow(&pol, v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "too many commands (max 64)");
}
END_TEST

/* ---- deny_arguments ---------------------------------------------------- */

START_TEST(rule_any_verb)
{
	struct fg_policy_hit hit;

	rule("* \\.\\.");
	ck_assert_uint_eq(pol.n_rules, 1);
	ck_assert_uint_eq(pol.rules[0].n_verbs, 0);
	ck_assert_str_eq(pol.rules[0].pattern, "\\.\\.");
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "RETR", "../x", 4, &hit), FG_POLICY_DENY_ARG);
	ck_assert_str_eq(hit.key, "deny_arguments");
	ck_assert_ptr_eq(hit.rule, &pol.rules[0]);
	ck_assert_int_eq(hit.match_error, 0);
	ck_assert_int_eq(chk("CWD", "a/../../etc"), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(chk("STOR", "pub/a..b"), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(chk("RETR", "pub/a.b"), FG_POLICY_OK);
	ck_assert_int_eq(chk("RETR", "pub/file.txt"), FG_POLICY_OK);
	/* `*` never looks at a password. */
	ck_assert_int_eq(chk("PASS", "se..cret"), FG_POLICY_OK);
	ck_assert_int_eq(chk("ACCT", "se..cret"), FG_POLICY_OK);
}
END_TEST

START_TEST(rule_verb_list)
{
	rule("SITE .*");
	rule("stor,APPE,stou ^/?private/");
	ck_assert_uint_eq(pol.rules[1].n_verbs, 3);
	ck_assert_int_eq(chk("SITE", "CHMOD 777 x"), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(chk("SITE", ""), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(chk("STOR", "private/x"), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(chk("APPE", "/private/x"), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(chk("RETR", "private/x"), FG_POLICY_OK);
	ck_assert_int_eq(chk("STOR", "pub/private/x"), FG_POLICY_OK);
	ck_assert_int_eq(chk("HELP", "SITE"), FG_POLICY_OK);
}
END_TEST

START_TEST(rule_names_pass_explicitly)
{
	/* Only a rule that names PASS sees its argument. */
	rule("PASS ^$");
	ck_assert_int_eq(chk("PASS", ""), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(chk("PASS", "x"), FG_POLICY_OK);
}
END_TEST

START_TEST(rule_alias)
{
	rule("MKD \\.\\.");
	ck_assert_int_eq(chk("XMKD", "a/../b"), FG_POLICY_DENY_ARG);
}
END_TEST

START_TEST(rule_case)
{
	rule("USER ^root$");
	rule("RETR (?i)\\.exe$");
	ck_assert_int_eq(chk("USER", "root"), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(chk("USER", "Root"), FG_POLICY_OK);
	ck_assert_int_eq(chk("USER", "rooted"), FG_POLICY_OK);
	ck_assert_int_eq(chk("RETR", "a.EXE"), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(chk("RETR", "a.exe"), FG_POLICY_DENY_ARG);
}
END_TEST

START_TEST(rule_matches_span_only)
{
	/* The argument is a span into a longer line: bytes after it are not
	 * part of the subject, and it needs no NUL. */
	static const char line[] = "abc../def";
	char buf[3];

	rule("* \\.\\.");
	rule("RETR c$");
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "LIST", line, 3, NULL), FG_POLICY_OK);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "LIST", line, 4, NULL), FG_POLICY_OK);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "LIST", line, 5, NULL), FG_POLICY_DENY_ARG);
	/* $ is the end of the span, not of the line. */
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "RETR", line, 3, NULL), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "RETR", line + 1, 2, NULL), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "RETR", line, 2, NULL), FG_POLICY_OK);
	memcpy(buf, "x..", 3);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "LIST", buf, sizeof(buf), NULL), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "LIST", buf, 2, NULL), FG_POLICY_OK);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "LIST", NULL, 0, NULL), FG_POLICY_OK);
}
END_TEST

START_TEST(rule_first_match_wins)
{
	struct fg_policy_hit hit;

	ck_assert_int_eq(fg_policy_add_rule(&pol, "RETR a", 3, err, sizeof(err)), 0);
	ck_assert_int_eq(fg_policy_add_rule(&pol, "* b", 4, err, sizeof(err)), 0);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "RETR", "ab", 2, &hit), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(hit.rule->line, 3);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "STOR", "ab", 2, &hit), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(hit.rule->line, 4);
}
END_TEST

START_TEST(deny_verb_before_rules)
{
	struct fg_policy_hit hit;

	rule("* x");
	ck_assert_int_eq(fg_policy_set_deny(&pol, "DELE", err, sizeof(err)), 0);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "DELE", "x", 1, &hit), FG_POLICY_DENY_VERB);
	ck_assert_str_eq(hit.key, "deny_commands");
}
END_TEST

static const struct {
	const char *value;
	const char *msg;
} bad_rules[] = {
	{ "", "want VERBS REGEX, VERBS being * or VERB[,VERB...]" },
	{ "RETR", "want VERBS REGEX, VERBS being * or VERB[,VERB...]" },
	{ "RETR,STOR", "want VERBS REGEX, VERBS being * or VERB[,VERB...]" },
	{ "RETR, STOR x", "'' is not a command name (1-16 letters A-Z)" },
	{ ",RETR x", "'' is not a command name (1-16 letters A-Z)" },
	{ "RETR,,STOR x", "'' is not a command name (1-16 letters A-Z)" },
	{ "*,RETR x", "'*' is not a command name (1-16 letters A-Z)" },
	{ "RE.TR x", "'RE.TR' is not a command name (1-16 letters A-Z)" },
	{ "* a(b", "bad regular expression at offset 3: missing closing parenthesis" },
	{ "RETR [z-a]", "bad regular expression at offset 3: range out of order in character class" },
	{ "* x{2,1}", "bad regular expression at offset 5: numbers out of order in {} quantifier" },
	{ "* (*UTF)x", "bad regular expression at offset 6: using UTF is disabled by the application" },
};

START_TEST(bad_rule)
{
	ck_assert_int_eq(fg_policy_add_rule(&pol, bad_rules[_i].value, 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, bad_rules[_i].msg);
	ck_assert_uint_eq(pol.n_rules, 0);
}
END_TEST

START_TEST(too_many_rules)
{
	int i;

	for (i = 0; i < FG_MAX_POLICY_RULES; i++)
		rule("* x");
	ck_assert_int_eq(fg_policy_add_rule(&pol, "* x", 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "too many rules (max 32 per listener)");
}
END_TEST

/* A catastrophic pattern on a long argument stops at the match limits
 * (quickly), and the argument is refused: a rule that cannot be evaluated
 * fails closed. */
START_TEST(pathological_regex_is_bounded)
{
	static char arg[FG_MAX_CMD_LINE];
	struct fg_policy_hit hit;
	struct timespec t0, t1;
	double secs;

	memset(arg, 'a', sizeof(arg) - 3);
	arg[sizeof(arg) - 3] = 'b';
	rule("RETR ^(a+)+$");
	rule("STOR ^(a|aa)*$");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "RETR", arg, sizeof(arg) - 2, &hit), FG_POLICY_DENY_ARG);
	ck_assert_int_ne(hit.match_error, 0);
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "STOR", arg, sizeof(arg) - 2, &hit), FG_POLICY_DENY_ARG);
	ck_assert_int_ne(hit.match_error, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(secs < 2.0, "pathological patterns took %.2f s", secs);
	/* The same rule on a harmless argument still just matches or not. */
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "RETR", "aaa", 3, &hit), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(hit.match_error, 0);
	ck_assert_int_eq(chk("RETR", "aab"), FG_POLICY_OK);
}
END_TEST

START_TEST(no_scratch_memory_fails_closed)
{
	struct fg_policy_hit hit;

	rule("* x");
	ck_assert_int_eq(fg_policy_check(&pol, NULL, "RETR", "abc", 3, &hit), FG_POLICY_DENY_ARG);
	ck_assert_int_ne(hit.match_error, 0);
	/* Without rules no scratch memory is needed. */
	fg_policy_free(&pol);
	ck_assert_int_eq(fg_policy_check(&pol, NULL, "RETR", "abc", 3, &hit), FG_POLICY_OK);
}
END_TEST

START_TEST(error_text)
{
	char buf[128];
	struct fg_policy_hit hit;
	static char arg[FG_MAX_CMD_LINE];

	memset(arg, 'a', sizeof(arg) - 3);
	arg[sizeof(arg) - 3] = 'b';
	rule("* ^(a+)+$");
	ck_assert_int_eq(fg_policy_check(&pol, &ctx, "RETR", arg, sizeof(arg) - 2, &hit), FG_POLICY_DENY_ARG);
	fg_policy_error_text(hit.match_error, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "limit") != NULL, "error text '%s'", buf);
}
END_TEST

/* ---- FEAT ------------------------------------------------------------- */

/* Is name among the n hidden features? */
static bool hidden(const char **list, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

START_TEST(feat_hidden_by_deny)
{
	const char *list[128];
	size_t n;

	n = fg_policy_feat_hidden(&pol, list, 128);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(fg_policy_set_deny(&pol, "MLSD, SIZE, XCRC, EPRT", err, sizeof(err)), 0);
	n = fg_policy_feat_hidden(&pol, list, 128);
	ck_assert(hidden(list, n, "MLST"));
	ck_assert(hidden(list, n, "MLSD"));
	ck_assert(hidden(list, n, "SIZE"));
	ck_assert(hidden(list, n, "XCRC"));
	ck_assert(hidden(list, n, "EPRT"));
	ck_assert(!hidden(list, n, "EPSV"));
	ck_assert(!hidden(list, n, "MDTM"));
	ck_assert(!hidden(list, n, "REST"));
	ck_assert(!hidden(list, n, "UTF8"));
	/* A short out array is never overrun. */
	ck_assert_uint_eq(fg_policy_feat_hidden(&pol, list, 2), 2);
}
END_TEST

START_TEST(feat_hidden_by_allow)
{
	const char *list[128];
	size_t n;

	ck_assert_int_eq(fg_policy_set_allow(&pol, "RETR TYPE SIZE", err, sizeof(err)), 0);
	n = fg_policy_feat_hidden(&pol, list, 128);
	ck_assert(!hidden(list, n, "SIZE"));
	ck_assert(!hidden(list, n, "EPSV"));
	ck_assert(!hidden(list, n, "EPRT"));
	ck_assert(hidden(list, n, "MDTM"));
	ck_assert(hidden(list, n, "MLST"));
	ck_assert(hidden(list, n, "REST"));
	ck_assert(hidden(list, n, "UTF8"));
	/* Features that are not commands stay. */
	ck_assert(!hidden(list, n, "TVFS"));
}
END_TEST

/* ---- configuration ---------------------------------------------------- */

static struct fg_config cfg;

/* Load text into cfg (unit_util.c). */
static int load(const char *text, char **out)
{
	return unit_load_config(&cfg, text, out);
}

#define LISTENER "[listener pub]\nlisten = 127.0.0.1:2121\nbackend = in\n"
#define BACKEND "[backend in]\nservers = 10.0.0.5:21\n"

START_TEST(config_policy_keys)
{
	char *out = NULL;
	const struct fg_policy *p;

	ck_assert_int_eq(load(LISTENER
			      "allow_commands = RETR, STOR, TYPE\n"
			      "deny_commands = STOR\n"
			      "deny_arguments = * \\.\\.\n"
			      "deny_arguments = SITE .*\n"
			      "deny_arguments = USER ^root$\n"
			      BACKEND, &out), 0);
	ck_assert_str_eq(out, "");
	free(out);
	p = &cfg.listeners[0].policy;
	ck_assert(p->has_allow);
	ck_assert_uint_eq(p->n_allow, 3);
	ck_assert_uint_eq(p->n_deny, 1);
	ck_assert_uint_eq(p->n_rules, 3);
	ck_assert_int_eq(p->rules[0].line, 6);
	ck_assert_int_eq(p->rules[2].line, 8);
	ck_assert_ptr_nonnull(p->rules[1].re);
	ck_assert_int_eq(fg_policy_check(p, &ctx, "RETR", "../x", 4, NULL), FG_POLICY_DENY_ARG);
	ck_assert_int_eq(fg_policy_check(p, &ctx, "STOR", "x", 1, NULL), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(fg_policy_check(p, &ctx, "DELE", "x", 1, NULL), FG_POLICY_DENY_VERB);
	ck_assert_int_eq(fg_policy_check(p, &ctx, "RETR", "x", 1, NULL), FG_POLICY_OK);
	fg_config_release(&cfg);
	ck_assert_uint_eq(cfg.listeners[0].policy.n_rules, 0);
	ck_assert_ptr_null(cfg.listeners[0].policy.rules[0].re);
	/* Twice is harmless. */
	fg_config_release(&cfg);
}
END_TEST

START_TEST(config_errors)
{
	char *out = NULL;

	ck_assert_int_eq(load(LISTENER
			      "deny_arguments = * ok\n"
			      "deny_arguments = RETR a(b\n"
			      "deny_arguments = RETR\n"
			      "allow_commands = RETR\n"
			      "allow_commands = STOR\n"
			      "deny_commands = DELE, USER\n"
			      BACKEND
			      "[global]\ndeny_arguments = * x\n", &out), 5);
	ck_assert_str_eq(out,
			 "t.conf:5: deny_arguments: bad regular expression at offset 3: missing closing parenthesis\n"
			 "t.conf:6: deny_arguments: want VERBS REGEX, VERBS being * or VERB[,VERB...]\n"
			 "t.conf:8: duplicate key 'allow_commands' in [listener pub] (first at line 7)\n"
			 "t.conf:9: deny_commands: USER cannot be denied: no session could log in\n"
			 "t.conf:13: unknown key 'deny_arguments' in [global]\n");
	free(out);
	/* A failed load keeps no compiled pattern (line 4's was valid). */
	ck_assert_uint_eq(cfg.listeners[0].policy.n_rules, 0);
	ck_assert_ptr_null(cfg.listeners[0].policy.rules[0].re);
}
END_TEST

START_TEST(config_login_limits)
{
	char *out = NULL;

	ck_assert_int_eq(load(LISTENER BACKEND, &out), 0);
	free(out);
	ck_assert_uint_eq(cfg.login_timeout, 60);
	ck_assert_uint_eq(cfg.max_login_attempts, 3);
	ck_assert_uint_eq(cfg.listeners[0].login_timeout, 60);
	ck_assert_uint_eq(cfg.listeners[0].max_login_attempts, 3);
	ck_assert_str_eq(cfg.xferlog, "");
	fg_config_release(&cfg);

	ck_assert_int_eq(load("[global]\nlogin_timeout = 20\nmax_login_attempts = 0\n"
			      "xferlog = /var/log/ftpgate/xferlog\n"
			      LISTENER "login_timeout = 5\n"
			      "[listener two]\nlisten = 127.0.0.1:2122\nbackend = in\nmax_login_attempts = 7\n"
			      BACKEND, &out), 0);
	free(out);
	ck_assert_uint_eq(cfg.listeners[0].login_timeout, 5);
	ck_assert_uint_eq(cfg.listeners[0].max_login_attempts, 0);
	ck_assert_uint_eq(cfg.listeners[1].login_timeout, 20);
	ck_assert_uint_eq(cfg.listeners[1].max_login_attempts, 7);
	ck_assert_str_eq(cfg.xferlog, "/var/log/ftpgate/xferlog");
	fg_config_release(&cfg);

	ck_assert_int_eq(load("[global]\nlogin_timeout = 86401\nmax_login_attempts = x\n"
			      LISTENER "max_login_attempts = 1001\n" BACKEND, &out), 3);
	ck_assert_str_eq(out,
			 "t.conf:2: login_timeout: want a number from 0 (no limit) to 86400\n"
			 "t.conf:3: max_login_attempts: want a number from 0 (no limit) to 1000\n"
			 "t.conf:7: max_login_attempts: want a number from 0 (no limit) to 1000\n");
	free(out);
}
END_TEST

/* Build the suite. */
static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *t = tcase_create("policy");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, no_policy_allows_everything);
	tcase_add_test(t, deny_list);
	tcase_add_test(t, deny_list_repeats_once);
	tcase_add_test(t, allow_list_and_core);
	tcase_add_test(t, deny_beats_allow_and_core);
	tcase_add_test(t, aliases_are_the_same_command);
	tcase_add_loop_test(t, bad_list, 0, sizeof(bad_lists) / sizeof(bad_lists[0]));
	tcase_add_test(t, too_many_verbs);
	tcase_add_test(t, rule_any_verb);
	tcase_add_test(t, rule_verb_list);
	tcase_add_test(t, rule_names_pass_explicitly);
	tcase_add_test(t, rule_alias);
	tcase_add_test(t, rule_case);
	tcase_add_test(t, rule_matches_span_only);
	tcase_add_test(t, rule_first_match_wins);
	tcase_add_test(t, deny_verb_before_rules);
	tcase_add_loop_test(t, bad_rule, 0, sizeof(bad_rules) / sizeof(bad_rules[0]));
	tcase_add_test(t, too_many_rules);
	tcase_add_test(t, pathological_regex_is_bounded);
	tcase_add_test(t, no_scratch_memory_fails_closed);
	tcase_add_test(t, error_text);
	tcase_add_test(t, feat_hidden_by_deny);
	tcase_add_test(t, feat_hidden_by_allow);
	tcase_add_test(t, config_policy_keys);
	tcase_add_test(t, config_errors);
	tcase_add_test(t, config_login_limits);
	tcase_set_timeout(t, 20);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
