/* ftp/data.h - the data-channel state machine.
 *
 * The proxy owns both ends of every data connection.  Toward the client it
 * offers its own passive port (PASV/EPSV) or connects to the client's
 * PORT/EPRT address (after checking it is the control peer, port >= 1024);
 * toward the backend it always uses its own EPSV (PASV as fallback) and
 * dials the backend control peer's address, never an address from a 227.
 * A transfer's final reply is held until both legs are finished. */
#ifndef FG_FTP_DATA_H
#define FG_FTP_DATA_H
#include "session.h"

/* Setter: the only place s->data changes (traced at debug level). */
void fg_data_set(struct fg_session *s, enum fg_data_state st);

/* Set up the data timer; state NONE. */
void fg_data_init(struct fg_session *s);

/* Handle a client PASV / EPSV / PORT / EPRT (verb in s->cur): check it,
 * and ask the backend for a passive port.  Answers the client itself when
 * the command is refused. */
void fg_data_setup_cmd(struct fg_session *s);

/* The backend answered our EPSV/PASV (s->reply): dial it and answer the
 * client's setup command. */
void fg_data_setup_reply(struct fg_session *s);

/* A transfer command was forwarded: from now on data may move. */
void fg_data_transfer_begin(struct fg_session *s, bool upload);

/* A preliminary (1xx) reply to the transfer arrived. */
void fg_data_prelim(struct fg_session *s);

/* Close every data socket and forget the setup.  reset: send RST rather
 * than FIN (the transfer did not complete). */
void fg_data_reset(struct fg_session *s, bool reset);

/* Count the bytes the pump moved into the transfer and session totals,
 * and free the pump (once; later calls do nothing). */
void fg_data_account(struct fg_session *s);

/* Stop the transfer now (ABOR, data timeout, broken leg): both legs are
 * reset; why is logged. */
void fg_data_abort(struct fg_session *s, const char *why);

/* Compute which events each data socket waits for. */
void fg_data_interest(struct fg_session *s);

#endif
