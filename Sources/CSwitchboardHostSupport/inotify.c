/* inotify for the plugin directory watcher: the masks live here, where <sys/inotify.h> is. */
#include "sb_host_support.h"

#include <sys/inotify.h>

int sbh_inotify_open(void) {
    return inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
}

int sbh_inotify_watch(int fd, const char *path, int what) {
    uint32_t mask;
    if (what == SBH_WATCH_PARENT_EVENTS) {
        mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;
    } else {
        /* IN_MODIFY too: a file still being written keeps pushing the debounce back. */
        mask = IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB
             | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
    }
    return inotify_add_watch(fd, path, mask);
}

int sbh_inotify_lost(uint32_t mask) {
    return (mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) != 0;
}

int sbh_inotify_overflowed(uint32_t mask) {
    return (mask & IN_Q_OVERFLOW) != 0;
}
