/* ftp/control.h - the control-channel state machine.
 *
 * Client lines are read through the command reader into a queue and
 * handled one at a time: a command is either answered by the proxy itself
 * (data-connection setup, refused commands) or forwarded to the backend,
 * and the next command waits until the client has its final reply.  This
 * keeps replies strictly in order (exactly one final reply per command)
 * however the client pipelines.  The one exception is ABOR, which tears
 * the data connections down the moment it arrives. */
#ifndef FG_FTP_CONTROL_H
#define FG_FTP_CONTROL_H
#include "session.h"

/* Setter: the only place s->ctrl changes (traced at debug level). */
void fg_ctrl_set(struct fg_session *s, enum fg_ctrl_state st);

/* Dial the backend (first reachable of the backend's servers). */
void fg_ctrl_start(struct fg_session *s);

/* Queue a reply made by the proxy ("CODE text", no CRLF) to the client. */
void fg_ctrl_reply(struct fg_session *s, int code, const char *text);

/* Queue a command line (no CRLF) to the backend. */
void fg_ctrl_send(struct fg_session *s, const char *line, size_t len);

/* Forward the backend reply in s->reply to the client unchanged. */
void fg_ctrl_forward_reply(struct fg_session *s);

/* The command in progress got its final reply: go READY and handle what
 * the client queued meanwhile. */
void fg_ctrl_done(struct fg_session *s);

/* ftp/data.c calls this when a transfer's data legs are finished, so that
 * a held final reply can go out. */
void fg_ctrl_transfer_drained(struct fg_session *s);

/* The session ends while a transfer is in progress: stop it and log it
 * with result=aborted (and the bytes that did move). */
void fg_ctrl_transfer_cut(struct fg_session *s);

/* Register the client control socket and the control timers. */
void fg_ctrl_attach_client(struct fg_session *s, int fd);

/* Compute which events each control socket waits for. */
void fg_ctrl_interest(struct fg_session *s);

/* Before each poll: read what a TLS control leg holds decrypted already
 * (poll() cannot see it). */
void fg_ctrl_pending(struct fg_session *s);

/* Write what c_out holds to the client (through TLS when the control
 * connection is protected).  Returns bytes written or -1 with errno. */
ssize_t fg_ctrl_write_client(struct fg_session *s);

#endif
