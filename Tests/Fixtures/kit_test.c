/* switchboard_kit.h, checked on its own: each case prints what it got when it fails; exit 0 when
 * all pass. Run by KitTests (compiled with -Wall -Wextra -Werror, and under the sanitizers' flags
 * when SWITCHBOARD_KIT_CFLAGS adds them). */
#include <switchboard_kit.h>

static int failures = 0;

static void expect(const char *label, const sbk_buf *b, const char *want, size_t want_len) {
    if (b->failed || b->len != want_len || memcmp(b->data, want, want_len) != 0) {
        failures++;
        fprintf(stderr, "FAIL %s: got [%.*s] (%zu bytes), want [%.*s] (%zu bytes)\n", label, (int)b->len,
                b->data ? (const char *)b->data : "", b->len, (int)want_len, want, want_len);
    }
}
#define EXPECT(label, b, literal) expect(label, b, literal, sizeof literal - 1)

int main(void) {
    sbk_buf b = {0};

    sbk_json_string(&b, "a\"b\\c\n\r\t\x01\x1f", 10);
    EXPECT("json escapes", &b, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\"");
    sbk_buf_free(&b);

    sbk_json_string(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14);
    EXPECT("json keeps UTF-8", &b, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    sbk_buf_free(&b);

    /* A lone continuation byte, a truncated sequence, an overlong '/', a surrogate, past U+10FFFF. */
    sbk_json_string(&b, "\x80x\xc3" "y\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80", 13);
    EXPECT("json repairs bytes that are not UTF-8", &b,
           "\"\xef\xbf\xbdx\xef\xbf\xbdy" /* then each of the 9 bytes from \xc0 on, alone */
           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    sbk_buf_free(&b);

    sbk_json_string(&b, "ab\xf0\x9f\x98", 5);
    EXPECT("json: a sequence cut short is one U+FFFD", &b, "\"ab\xef\xbf\xbd\"");
    sbk_buf_free(&b);

    sbk_json_string(&b, "\xe2\x82x\xf0\x9f", 5);
    EXPECT("json: each maximal subpart is one U+FFFD", &b, "\"\xef\xbf\xbdx\xef\xbf\xbd\"");
    sbk_buf_free(&b);

    sbk_json_string(&b, NULL, 0);
    EXPECT("json: NULL and 0 is the empty string", &b, "\"\"");
    sbk_buf_free(&b);

    sbk_json_string(&b, "nul\0in", 6);
    EXPECT("json escapes NUL", &b, "\"nul\\u0000in\"");
    sbk_buf_free(&b);

    /* The injection issue #13 names: CR alone, CR LF and LF all end a data line. */
    const char injected[] = "hi\revent: admin\rid: 999\r\nretry: 1\n\ndata: x";
    sbk_sse_event(&b, "log\r\nevent: admin", "7\r\n8", injected, sizeof injected - 1);
    EXPECT("sse splits data at CR, LF and CR LF; strips id and event", &b,
           "id: 78\nevent: logevent: admin\ndata: hi\ndata: event: admin\ndata: id: 999\ndata: retry: 1\ndata: \ndata: data: x\n\n");
    sbk_buf_free(&b);

    sbk_sse_event(&b, NULL, NULL, "", 0);
    EXPECT("sse empty data", &b, "data: \n\n");
    sbk_buf_free(&b);

    sbk_sse_event(&b, NULL, NULL, "a\r", 2);
    EXPECT("sse trailing CR", &b, "data: a\ndata: \n\n");
    sbk_buf_free(&b);

    sbk_sse_comment(&b, "ping\r\nevent: x");
    EXPECT("sse comment", &b, ": pingevent: x\n\n");
    sbk_buf_free(&b);

    /* Growth past the first allocation, by printf and by append. */
    for (int i = 0; i < 1000; i++) sbk_buf_printf(&b, "%04d,", i);
    if (b.failed || b.len != 5000 || memcmp(b.data + 4995, "0999,", 5) != 0) {
        failures++;
        fprintf(stderr, "FAIL printf growth: %zu bytes\n", b.len);
    }
    sbk_buf_free(&b);

    if (failures == 0) printf("ok: switchboard_kit.h\n");
    return failures == 0 ? 0 : 1;
}
