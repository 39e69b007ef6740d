/* Calling typed handlers through libffi (used by the Switchboard host). */
#ifndef SB_FFI_H
#define SB_FFI_H

#include <stddef.h>
#include <stdint.h>

/* Calling a typed handler (sb_typed_handler_fn) through libffi:
 *     int32_t fn(void *handler_data, void *req, T0 a0, T1 a1, ...)
 * with Ti given by `kinds[i]` (sb_param_type: 0 string/enum as const char *, 1 int64_t, 2 double,
 * 3 int32_t; 4 enum as const char *). Prepared once per route, called per request. */
typedef struct sbh_typed_call sbh_typed_call;
typedef union sbh_typed_arg {
    int64_t i64;
    double f64;
    int32_t i32;
    const char *str;
} sbh_typed_arg;

/* NULL when a kind is unknown or libffi refuses the signature (out of memory). */
sbh_typed_call *sbh_typed_call_prepare(const uint8_t *kinds, size_t count);
void sbh_typed_call_free(sbh_typed_call *call);
/* `args` holds one value per kind. Returns the handler's status. */
int32_t sbh_typed_call_invoke(const sbh_typed_call *call, void (*fn)(void), void *handler_data, void *req,
                              const sbh_typed_arg *args);

#endif /* SB_FFI_H */
