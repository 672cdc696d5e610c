/* unit_util.h - helpers shared by the Check unit tests. */
#ifndef FG_UNIT_UTIL_H
#define FG_UNIT_UTIL_H

#include "config.h"

/* Load text into cfg as "t.conf"; return the error count and the error
 * output (malloc'ed, "" when none) in *out. */
int unit_load_config(struct fg_config *cfg, const char *text, char **out);

#endif
