/* fuzz_session_tls.c - fuzz_session with a TLS listener (explicit, or
 * required when the input's flags have F_SMALL): the command side of FTPS
 * and sessions whose client handshake fails.  See fuzz_session.c. */
#define FUZZ_TLS 1
#include "fuzz_session.c"
