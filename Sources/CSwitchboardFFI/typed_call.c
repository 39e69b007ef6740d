/* Typed handlers: one libffi call interface per route, prepared when the route is added. */
#include "sb_ffi.h"

#include <ffi.h>
#include <stdlib.h>

struct sbh_typed_call {
    ffi_cif cif;
    size_t count;            /* typed arguments, after handler_data and req */
    ffi_type **types;        /* count + 2 entries */
};

static ffi_type *type_for(uint8_t kind) {
    switch (kind) {
    case 0: case 4: return &ffi_type_pointer; /* const char * */
    case 1: return &ffi_type_sint64;
    case 2: return &ffi_type_double;
    case 3: return &ffi_type_sint32;
    default: return NULL;
    }
}

sbh_typed_call *sbh_typed_call_prepare(const uint8_t *kinds, size_t count) {
    sbh_typed_call *call = calloc(1, sizeof *call);
    if (!call) return NULL;
    call->count = count;
    call->types = calloc(count + 2, sizeof(ffi_type *));
    if (!call->types) { free(call); return NULL; }
    call->types[0] = &ffi_type_pointer; /* handler_data */
    call->types[1] = &ffi_type_pointer; /* req */
    for (size_t i = 0; i < count; i++) {
        call->types[i + 2] = type_for(kinds[i]);
        if (!call->types[i + 2]) { sbh_typed_call_free(call); return NULL; }
    }
    if (ffi_prep_cif(&call->cif, FFI_DEFAULT_ABI, (unsigned)(count + 2), &ffi_type_sint32, call->types) != FFI_OK) {
        sbh_typed_call_free(call);
        return NULL;
    }
    return call;
}

void sbh_typed_call_free(sbh_typed_call *call) {
    if (!call) return;
    free(call->types);
    free(call);
}

int32_t sbh_typed_call_invoke(const sbh_typed_call *call, void (*fn)(void), void *handler_data, void *req,
                              const sbh_typed_arg *args) {
    /* libffi wants a pointer to each argument's storage. */
    void *small[16];
    void **values = call->count + 2 <= 16 ? small : malloc((call->count + 2) * sizeof(void *));
    if (!values) return -3; /* SB_ERR_NO_MEMORY */
    values[0] = &handler_data;
    values[1] = &req;
    for (size_t i = 0; i < call->count; i++) values[i + 2] = (void *)&args[i];
    ffi_arg result = 0; /* return values narrower than a register are widened to ffi_arg */
    ffi_call((ffi_cif *)&call->cif, fn, &result, values);
    if (values != small) free(values);
    return (int32_t)result;
}
