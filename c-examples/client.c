/* A WebSocket client using only luna.h.
 *
 * usage: client URL [MESSAGE...]
 *
 * Connects, sends each MESSAGE as a text message (queued before the connection opens),
 * prints every message that comes back as "< TEXT", and closes once as many messages came
 * back as were sent (or after 10 s). Exit status 0 on a clean run, 1 on any failure.
 *
 * Environment: TLS_CA, a PEM file of certificates to trust for wss:// besides the system's.
 */
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <shellapi.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luna.h"

#ifdef _WIN32
/* Windows hands main() its arguments in the ANSI code page; luna's text messages are UTF-8.
 * Takes them again as UTF-16 and converts them. */
static char **utf8_argv(int *argc) {
    wchar_t **wide = CommandLineToArgvW(GetCommandLineW(), argc);
    char **out = wide ? calloc((size_t)*argc + 1, sizeof *out) : NULL;
    for (int i = 0; out && i < *argc; i++) {
        int n = WideCharToMultiByte(CP_UTF8, 0, wide[i], -1, NULL, 0, NULL, NULL);
        out[i] = n > 0 ? malloc((size_t)n) : NULL;
        if (!out[i] || !WideCharToMultiByte(CP_UTF8, 0, wide[i], -1, out[i], n, NULL, NULL))
            out = NULL; /* the process exits at once: nothing worth freeing */
    }
    if (wide)
        LocalFree(wide);
    return out;
}
#endif

int main(int argc, char **argv) {
#ifdef _WIN32
    argv = utf8_argv(&argc);
    if (!argv) {
        fprintf(stderr, "client: cannot read the command line as UTF-8\n");
        return 1;
    }
#endif
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [MESSAGE...]\n", argv[0]);
        return 2;
    }
    LunaClientConfig config;
    luna_client_config_default(&config);
    config.url = argv[1];
    config.tls_ca_file = getenv("TLS_CA");

    uint64_t conn = 0;
    LunaApp *app = luna_client_connect(&config, &conn);
    if (!app) {
        fprintf(stderr, "client: %s\n", luna_last_error());
        return 1;
    }
    int expected = argc - 2;
    for (int i = 2; i < argc; i++) {
        if (luna_conn_send(app, conn, (const uint8_t *)argv[i], strlen(argv[i]), LUNA_OPCODE_TEXT) !=
            LUNA_RESULT_OK)
            fprintf(stderr, "client: send: %s\n", luna_last_error());
    }

    int received = 0, closed = 0, failed = 0, closing = 0, idle_ms = 0;
    LunaEvent events[64];
    while (!closed && idle_ms < 10000) {
        if (luna_app_wait(app, 100) == LUNA_RESULT_TIMEOUT)
            idle_ms += 100;
        size_t count = 0;
        luna_app_poll(app, events, 64, &count);
        for (size_t i = 0; i < count; i++) {
            const LunaEvent *ev = &events[i];
            if (ev->kind == LUNA_EVENT_KIND_OPEN) {
                printf("connected (protocol '%.*s')\n", (int)ev->len, (const char *)ev->data);
            } else if (ev->kind == LUNA_EVENT_KIND_MESSAGE) {
                printf("< %.*s\n", (int)ev->len, (const char *)ev->data);
                received++;
            } else if (ev->kind == LUNA_EVENT_KIND_ERROR) {
                fprintf(stderr, "client: error: %.*s\n", (int)ev->len, (const char *)ev->data);
                failed = 1;
            } else if (ev->kind == LUNA_EVENT_KIND_CLOSE) {
                printf("closed %u '%.*s'\n", ev->code, (int)ev->len, (const char *)ev->data);
                closed = 1;
            }
        }
        if (!closing && received >= expected && !failed) {
            luna_conn_close(app, conn, 1000, NULL, 0);
            closing = 1;
        }
        fflush(stdout);
    }
    luna_app_free(app);
    return (failed || !closed || received < expected) ? 1 : 0;
}
