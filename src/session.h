/* session.h - one client session, served by one process.
 *
 * A session owns the client control connection, the backend control
 * connection and, during a transfer, one data connection on each side.
 * Two explicit state machines drive it: the control state (ftp/control.c)
 * and the data state (ftp/data.c); each changes only through its setter,
 * which traces "old -> new".  Every way a session ends goes through
 * fg_session_close(), which logs the reason. */
#ifndef FG_SESSION_H
#define FG_SESSION_H
#include <stdbool.h>
#include <stdint.h>
#include "buf.h"
#include "config.h"
#include "event.h"
#include "policy.h"
#include "limits.h"
#include "relay.h"
#include "ftp/cmd.h"
#include "ftp/reply.h"
#include "tls/tls.h"

enum fg_ctrl_state {
	FG_CTRL_CONNECTING,   /* dialling the backend */
	FG_CTRL_BANNER,       /* waiting for the backend's 220 */
	FG_CTRL_READY,        /* no command in progress */
	FG_CTRL_WAIT,         /* a command went to the backend; waiting for its final reply */
	FG_CTRL_DATASETUP,    /* our own EPSV/PASV is at the backend */
	FG_CTRL_BACKEND_TLS,  /* our own AUTH TLS / PBSZ / PROT is at the backend */
	FG_CTRL_CLOSING,      /* flushing the last reply, then exit */
};

enum fg_data_state {
	FG_DATA_NONE,         /* no data connection prepared */
	FG_DATA_READY,        /* prepared (PASV/EPSV/PORT/EPRT answered), no command yet */
	FG_DATA_TRANSFER,     /* a transfer command is in progress */
	FG_DATA_DRAINED,      /* the data moved and both data legs are closed */
};

/* How the client asked for its data connection. */
/* Our TLS set-up on the backend control connection, in order. */
enum fg_btls_step { FG_BTLS_NONE, FG_BTLS_AUTH, FG_BTLS_PBSZ, FG_BTLS_PROT, FG_BTLS_DONE };

/* Longest TLS description kept for the audit (fg_tls_describe). */
#define FG_TLS_DESCLEN 128

enum fg_client_mode { FG_MODE_NONE, FG_MODE_PASV, FG_MODE_EPSV, FG_MODE_PORT, FG_MODE_EPRT };

struct fg_session {
	struct fg_loop loop;
	const struct fg_config *cfg;
	const struct fg_listener *lst;
	char id[FG_SESSION_ID_LEN + 1];
	uint64_t started_ms;

	/* addresses (unmapped) */
	struct fg_sockaddr client_peer, client_local;
	struct fg_sockaddr backend_peer;
	unsigned backend_try;          /* index into lst->backend->servers */

	/* control legs */
	struct fg_io cc, bc;           /* client / backend control */
	struct fg_buf c_in, c_out;     /* raw client bytes in, replies out */
	struct fg_buf b_in, b_out;     /* raw backend bytes in, commands out */
	struct fg_buf queue;           /* client lines waiting their turn */
	struct fg_cmd_reader reader;
	struct fg_reply_reader reply;
	bool reply_held;               /* reply.text is a final reply held back */
	bool client_eof, backend_eof;
	enum fg_ctrl_state ctrl;

	/* the command in progress */
	struct fg_cmd cur;
	char cur_line[FG_MAX_CMD_LINE];
	size_t cur_len;
	enum fg_verb setup_verb;       /* PASV/EPSV/PORT/EPRT being set up */
	bool setup_used_pasv;          /* our setup fell back from EPSV to PASV */
	bool backend_no_epsv;          /* the backend refused EPSV once */
	bool epsv_all;                 /* client sent EPSV ALL */

	/* login */
	char user[128];
	bool logged_in;

	/* data channel */
	enum fg_data_state data;
	enum fg_client_mode mode;
	struct fg_sockaddr client_data_addr;   /* PORT/EPRT target */
	struct fg_sockaddr backend_data_addr;  /* backend passive address */
	struct fg_io plisten;          /* our passive listener for the client */
	struct fg_io cd, bd;           /* client / backend data */
	bool cd_connected, bd_connected;
	bool cd_connecting;            /* active-mode connect in progress */
	bool xfer_upload;
	bool pump_started;
	bool batching;                 /* SO_RCVLOWAT raised on the pump's source */
	struct fg_pump pump;
	uint64_t xfer_start_ms;
	uint64_t xfer_bytes;
	bool xfer_failed;              /* a data leg broke: the final reply says so */
	const char *xfer_fail_why;

	/* timers */
	struct fg_timer t_idle;        /* no client command (not while data moves) */
	struct fg_timer t_wait;        /* backend reply / connect deadline */
	struct fg_timer t_data;        /* no data byte moved */
	struct fg_timer t_flush;       /* moves bytes below the low-water mark */

	/* TLS (ftp/control.c, ftp/data.c); a leg's fg_tls is in use while
	 * its *_on flag is set. */
	struct fg_tls ctls, btls;      /* client / backend control */
	bool ctls_on, btls_on;
	short c_rwant, c_wwant;        /* event the last TLS read / write of the client */
	short b_rwant, b_wwant;        /*  / backend control leg waits for; 0: none */
	bool auth_pending;             /* 234 queued: TLS starts once it is sent */
	bool prot_p;                   /* the client chose PROT P */
	enum fg_btls_step btls_step;
	struct fg_tls cdt, bdt;        /* client / backend data */
	bool cdt_on, bdt_on;
	bool cd_ready, bd_ready;       /* connected and, for TLS, handshake done (and checked) */
	bool tls_pump;                 /* this transfer uses tpump, not pump */
	struct fg_tls_pump tpump;
	char cd_tls_desc[FG_TLS_DESCLEN], bd_tls_desc[FG_TLS_DESCLEN];
	/* A backend TLS data connection cut in its handshake lingers until
	 * the handshake ends (vsftpd ends the whole session when a data
	 * handshake fails), then closes (ftp/data.c). */
	struct fg_io lbd;
	struct fg_tls lbdt;
	bool lbd_reset;                /* close it with RST (an upload: never a clean end) */
	struct fg_timer t_linger;

	uint64_t bytes_up, bytes_down;
	unsigned transfers;

	/* command policy, login limits, transfer log (ftp/control.c) */
	struct fg_policy_ctx pctx;     /* PCRE2 scratch memory of this session */
	struct fg_timer t_login;       /* login_timeout: from connect (or USER/REIN) to 230 */
	unsigned login_failures;       /* failed PASS/ACCT replies, never reset */
	bool type_image;               /* TYPE I / L 8 in force (xferlog); RFC 959 default ASCII */
};

/* Serve one session on client fd `fd` (already accepted) for listener lst.
 * Never returns: the process exits when the session ends. */
void fg_session_run(const struct fg_config *cfg, const struct fg_listener *lst, int fd)
	__attribute__((noreturn));

/* End the session: queue `reply` (a full "NNN text" line without CRLF, or
 * NULL) to the client, flush briefly, log "close" with reason, exit. */
void fg_session_close(struct fg_session *s, const char *reason, const char *reply)
	__attribute__((noreturn));

/* Set by the SIGTERM handler of a session process. */
extern volatile sig_atomic_t fg_session_stop;

#ifdef FG_FUZZING
/* Fuzzing builds only (tests/fuzz/fuzz_session.c): many sessions in one
 * process, driven round by round.  fg_session_close() then returns to the
 * harness (longjmp) instead of ending the process, and waits for no flush:
 * the harness takes what is left in c_out itself. */

/* Start a session on the connected client socket fd, without signal
 * handlers.  Returns the session (one static instance: end it before the
 * next start), which owns fd from now on; it may already be closed (ctrl
 * == FG_CTRL_CLOSING), e.g. when no backend server was reachable.  NULL:
 * out of memory or the client is gone; fd is still the caller's. */
struct fg_session *fg_session_fuzz_start(const struct fg_config *cfg,
					 const struct fg_listener *lst, int fd);

/* One round of the session loop that never sleeps: returns 1 if a socket
 * or a timer was ready and the round ran, 0 if there was nothing to do,
 * -1 once the session has ended (fg_session_close() ran). */
int fg_session_fuzz_step(struct fg_session *s);

/* Close every socket of the session and free all its memory. */
void fg_session_fuzz_end(struct fg_session *s);
#endif

#endif
