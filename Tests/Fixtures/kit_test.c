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

/* Strings built to break markup: every C0 control, quotes, ampersands, angle brackets, bytes that
 * are not UTF-8, U+FFFE, a CDATA end, a comment opener, an entity that looks finished. */
static const char *const hostile[] = {
    "<script>alert('x')</script>", "a & b &amp; &#38; &lt;", "\"quoted\" 'single'", "]]> <!-- -->",
    "\x01\x02\x08\x0b\x0c\x1f\x7f", "\x80\xc3(\xed\xa0\x80\xf4\x90\x80\x80", "\xef\xbf\xbe \xef\xbf\xbf", "tab\tline\ncr\r",
    "caf\xc3\xa9 \xf0\x9f\x98\x80", "",
};

/* Every writer function fed every hostile string: a document an XML parser must accept. */
static int hostile_document(sbk_buf *out) {
    sbk_xml x = {.out = out, .indent = 1};
    size_t count = sizeof hostile / sizeof hostile[0];
    sbk_xml_declaration(&x);
    sbk_xml_start(&x, "hostile");
    for (size_t i = 0; i < count; i++) {
        sbk_xml_start(&x, "case");
        sbk_xml_attr(&x, "value", hostile[i]);
        sbk_xml_attr(&x, "n", "1");
        sbk_xml_leaf(&x, "leaf", hostile[i]);
        sbk_xml_start(&x, "text");
        sbk_xml_text(&x, hostile[i], strlen(hostile[i]));
        sbk_xml_end(&x);
        sbk_xml_start(&x, "printf");
        sbk_xml_printf(&x, "[%s|%d|%zu|%lld|%c]", hostile[i], -7, (size_t)i, (long long)-1, '<');
        sbk_xml_end(&x);
        sbk_xml_end(&x);
    }
    sbk_xml_end(&x);
    return sbk_xml_finish(&x);
}

int main(int argc, char **argv) {
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

    /* Markup escaping. */
    sbk_markup_ctext(&b, "<a href=\"x\">&'</a>");
    EXPECT("markup escapes", &b, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    sbk_buf_free(&b);

    sbk_markup_text(&b, "a\x01" "b\x80" "c\xef\xbf\xbe\td\n\r\x7f\xc2\x85\xef\xb7\x90\xf0\x9f\xbf\xbf", 22);
    EXPECT("markup replaces what XML and HTML5 cannot carry", &b,
           "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd&#9;d&#10;&#13;\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    sbk_buf_free(&b);

    sbk_markup_printf(&b, "<p class=\"%s\">%d%%, %zu, %lld, %u</p>", "a\"b", -3, (size_t)4, (long long)5, 6u);
    EXPECT("markup printf escapes its arguments only", &b, "<p class=\"a&quot;b\">-3%, 4, 5, 6</p>");
    sbk_buf_free(&b);

    sbk_markup_printf(&b, "%hd %hhd %hu", 300 * 300, 300, 70000);
    EXPECT("markup printf narrows h and hh", &b, "24464 44 4464");
    sbk_buf_free(&b);

    if (sbk_markup_printf(&b, "<p>%f</p>", 1.5) == 0 || !b.failed) {
        failures++;
        fprintf(stderr, "FAIL markup printf must refuse a conversion it does not escape\n");
    }
    sbk_buf_free(&b);

    /* The XML writer. */
    {
        sbk_xml x = {.out = &b};
        sbk_xml_declaration(&x);
        sbk_xml_start(&x, "a");
        sbk_xml_attr(&x, "k", "<v>");
        sbk_xml_leaf(&x, "b", "1 < 2");
        sbk_xml_leaf(&x, "c", NULL);
        sbk_xml_start(&x, "d");
        sbk_xml_end(&x);
        sbk_xml_end(&x);
        if (sbk_xml_finish(&x) != 0) { failures++; fprintf(stderr, "FAIL xml finish\n"); }
        EXPECT("xml writer", &b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a k=\"&lt;v&gt;\"><b>1 &lt; 2</b><c /><d /></a>");
        sbk_buf_free(&b);
    }
    {
        sbk_xml x = {.out = &b, .indent = 2};
        sbk_xml_start(&x, "a");
        sbk_xml_start(&x, "b");
        sbk_xml_ctext(&x, "t");
        sbk_xml_end(&x);
        sbk_xml_end(&x);
        EXPECT("xml writer indents child elements only", &b, "<a>\n  <b>t</b>\n</a>");
        sbk_buf_free(&b);
    }
    {
        static const char *const bad_names[] = {"", "1a", "a b", "<x", "a>", "-a", "a\"", "a/b", "\xc3(", "a=b",
                                                "a\xc3\x97" "b", "\xc2\xb7" "a", "\xcc\x80" "a", "a\xc2\xa0", "a\xe2\x80\x80", "a\xe2\x86\x92",
                                                "a\xef\xb7\x90", "a\xef\xbf\xbf"};
        for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
            sbk_xml x = {.out = &b};
            sbk_xml_start(&x, "ok");
            if (sbk_xml_start(&x, bad_names[i]) == 0 || sbk_xml_end(&x) == 0 || sbk_xml_finish(&x) == 0) {
                failures++;
                fprintf(stderr, "FAIL xml name [%s] accepted\n", bad_names[i]);
            }
            sbk_buf_free(&b);
            x = (sbk_xml){.out = &b};
            sbk_xml_start(&x, "ok");
            if (sbk_xml_attr(&x, bad_names[i], "v") == 0) {
                failures++;
                fprintf(stderr, "FAIL xml attribute name [%s] accepted\n", bad_names[i]);
            }
            sbk_buf_free(&b);
        }
        if (!sbk_xml_name_ok("atom:link") || !sbk_xml_name_ok("_a-b.c1") || !sbk_xml_name_ok("caf\xc3\xa9") ||
            !sbk_xml_name_ok("a\xc2\xb7" "b\xcc\x80") || !sbk_xml_name_ok("\xe6\x97\xa5\xe6\x9c\xac")) {
            failures++;
            fprintf(stderr, "FAIL xml refused a valid name\n");
        }
    }
    {
        sbk_xml x = {.out = &b};
        sbk_xml_start(&x, "a");
        sbk_xml_ctext(&x, "t");
        if (sbk_xml_attr(&x, "late", "v") == 0 || sbk_xml_end(&x) == 0) {
            failures++;
            fprintf(stderr, "FAIL xml attribute after content accepted\n");
        }
        sbk_buf_free(&b);
        x = (sbk_xml){.out = &b};
        if (sbk_xml_end(&x) == 0 || sbk_xml_finish(&x) == 0) {
            failures++;
            fprintf(stderr, "FAIL xml end without start accepted\n");
        }
        sbk_buf_free(&b);
        x = (sbk_xml){.out = &b};
        for (int i = 0; i <= SBK_XML_MAX_DEPTH; i++) sbk_xml_start(&x, "n");
        if (!x.failed) { failures++; fprintf(stderr, "FAIL xml nesting past the limit accepted\n"); }
        sbk_buf_free(&b);
    }

    /* Entity-tag lists (If-Match strong, If-None-Match weak). */
    {
        static const struct { const char *list; int weak, want; } cases[] = {
            {"\"a\"", 0, 1}, {"W/\"a\"", 0, 0}, {"W/\"a\"", 1, 1}, {" \"b\" , \"a\" ", 0, 1}, {"\"b\", W/\"a\"", 1, 1},
            {"*", 0, 1}, {" * ", 1, 1}, {"*junk", 1, 0}, {"\"a,b\", \"c\"", 0, 0}, {"", 1, 0}, {",,", 0, 0}, {"\"a", 1, 0},
            /* As the host reads lists (ETagList): a bare token is the quoted tag, `*` counts only as
             * the whole value. */
            {"a", 0, 1}, {"b, a", 1, 1}, {"W/a", 1, 0}, {"\"b\", *", 0, 0}, {"*, \"b\"", 1, 0},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            sb_str value = {cases[i].list, strlen(cases[i].list)};
            if (sbk_tag_list_has(value, "\"a\"", 3, cases[i].weak) != cases[i].want) {
                failures++;
                fprintf(stderr, "FAIL tag list [%s] weak %d: want %d\n", cases[i].list, cases[i].weak, cases[i].want);
            }
        }
    }

    /* HTTP dates. */
    {
        char date[30];
        sbk_http_date(date, 0);
        if (strcmp(date, "Thu, 01 Jan 1970 00:00:00 GMT") != 0) { failures++; fprintf(stderr, "FAIL http date [%s]\n", date); }
        sbk_http_date(date, 951782400);
        if (strcmp(date, "Tue, 29 Feb 2000 00:00:00 GMT") != 0) { failures++; fprintf(stderr, "FAIL http date [%s]\n", date); }
        sbk_http_date(date, -1);
        if (strcmp(date, "Wed, 31 Dec 1969 23:59:59 GMT") != 0) { failures++; fprintf(stderr, "FAIL http date [%s]\n", date); }
        sbk_http_date(date, (time_t)253402300800LL);
        if (strcmp(date, "Fri, 31 Dec 9999 23:59:59 GMT") != 0) { failures++; fprintf(stderr, "FAIL http date clamp [%s]\n", date); }
    }

    /* The hostile document, for KitTests to hand to xmllint. */
    if (hostile_document(&b) != 0) { failures++; fprintf(stderr, "FAIL hostile document\n"); }
    if (argc > 1) {
        FILE *file = fopen(argv[1], "wb");
        if (!file || fwrite(b.data, 1, b.len, file) != b.len) { failures++; fprintf(stderr, "FAIL writing %s\n", argv[1]); }
        if (file) fclose(file);
    }
    sbk_buf_free(&b);

    if (failures == 0) printf("ok: switchboard_kit.h\n");
    return failures == 0 ? 0 : 1;
}
