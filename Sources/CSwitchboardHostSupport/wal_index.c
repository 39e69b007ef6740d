/* The wal-index header of a WAL-mode SQLite database, read through SQLite's own mapping of it.
 *
 * SQLite keeps the wal-index in shared memory (the unix VFS maps `<database>-shm`). Its first 96
 * bytes are two copies of a 48-byte header (format version, a change counter that moves with each
 * transaction, the last valid frame, salts and checksums) that every commit rewrites, the second
 * copy first, before the commit returns; readers compare the two copies to see a rewrite in
 * progress (sqlite.org/walformat.html §2.1, "The WAL-Index Header"). */
#include "sb_host_support.h"

#include <sqlite3.h>
#include <string.h>

#define SBH_WAL_HEADER_WORDS 12 /* 48 bytes */
#define SBH_WAL_INDEX_VERSION 3007000u

const volatile void *sbh_wal_index(void *db) {
    sqlite3_file *file = NULL;
    if (sqlite3_file_control((sqlite3 *)db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK) return NULL;
    if (file == NULL || file->pMethods == NULL || file->pMethods->iVersion < 2 || file->pMethods->xShmMap == NULL) return NULL;
    void volatile *region = NULL;
    /* Region 0, already mapped once the connection has read in WAL mode: bExtend 0 maps nothing new. */
    if (file->pMethods->xShmMap(file, 0, 32768, 0, &region) != SQLITE_OK) return NULL;
    return (const volatile void *)region;
}

int sbh_wal_index_header(const volatile void *region, uint32_t out[12]) {
    const volatile uint32_t *words = (const volatile uint32_t *)region;
    uint32_t first[SBH_WAL_HEADER_WORDS], second[SBH_WAL_HEADER_WORDS];
    /* As SQLite reads it (walIndexTryHdr): the first copy, a barrier, the second copy. */
    for (int i = 0; i < SBH_WAL_HEADER_WORDS; i++) first[i] = __atomic_load_n(&words[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (int i = 0; i < SBH_WAL_HEADER_WORDS; i++) second[i] = __atomic_load_n(&words[SBH_WAL_HEADER_WORDS + i], __ATOMIC_RELAXED);
    if (memcmp(first, second, sizeof first) != 0) return 0; /* being rewritten */
    if (first[0] != SBH_WAL_INDEX_VERSION) return 0;        /* iVersion */
    if (((const uint8_t *)first)[12] != 1) return 0;        /* isInit */
    memcpy(out, first, sizeof first);
    return 1;
}
