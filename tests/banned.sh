#!/bin/sh
# Fails when a banned call (STYLE.md) appears in our sources.
src=${top_srcdir:-.}/src
hits=$(grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|strtok)[[:space:]]*\(' "$src" --include='*.c' --include='*.h')
if [ -n "$hits" ]; then
	echo "banned calls found:"; echo "$hits"; exit 1
fi
echo "no banned calls"
