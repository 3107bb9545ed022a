/* A WebSocket client using only luna.h.
 *
 * usage: client URL [MESSAGE...]
 *
 * Connects, sends each MESSAGE as a text message (queued before the connection opens),
 * prints every message that comes back as "< TEXT", and closes once as many messages came
 * back as were sent (or after 10 s). Exit status 0 on a clean run, 1 on any failure.
 */
#include <stdio.h>
#include <string.h>

#include "luna.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [MESSAGE...]\n", argv[0]);
        return 2;
    }
    LunaClientConfig config;
    luna_client_config_default(&config);
    config.url = argv[1];

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
