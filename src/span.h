/* span.h - a pointer and a length: how parsed network text is passed around.
 * Network data is never assumed to be NUL-terminated. */
#ifndef FG_SPAN_H
#define FG_SPAN_H
#include <stddef.h>

struct fg_span {
	const char *ptr;
	size_t len;
};

#endif
