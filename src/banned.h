/* banned.h - calls we never use (see STYLE.md).  Included last by every
 * source file of ours; any use is a compile error. */
#ifndef FG_BANNED_H
#define FG_BANNED_H
#pragma GCC poison strcpy strcat sprintf vsprintf gets atoi strtok
#endif
