/* Marks threads on which a plugin must not block: event-loop threads running a non-blocking
 * handler or a host callback. A thread-local counter, so nesting is cheap and safe. */
#include "sb_host_support.h"

static _Thread_local int nonblocking_depth;

void sbh_enter_nonblocking(void) { nonblocking_depth++; }
void sbh_leave_nonblocking(void) { nonblocking_depth--; }
int sbh_in_nonblocking(void) { return nonblocking_depth > 0; }
