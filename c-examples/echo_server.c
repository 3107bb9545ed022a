/* A complete WebSocket echo server using only luna.h.
 *
 * usage: echo_server HOST PORT [PROTOCOL...]
 *
 * Every TEXT and BINARY message is sent back with its opcode. Listed subprotocols are
 * accepted; clients asking for none (or none of them) are served too. It prints
 * "listening on PORT" once bound (PORT 0 picks a free one), then one line per open and
 * close. It exits after a "shutdown" text message, on SIGINT/SIGTERM, or on Windows on
 * Ctrl+C, Ctrl+Break or the console closing.
 */
/* POSIX: sigaction, because under -std=c99 signal() resets the handler after one signal,
 * and a second SIGTERM (GNU timeout sends one to the process and one to its group) would
 * kill us. Windows: a console control handler (Ctrl+C, Ctrl+Break, closing the console). */
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#define _POSIX_C_SOURCE 200809L
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luna.h"

static volatile sig_atomic_t stop_requested = 0;

#ifdef _WIN32
static BOOL WINAPI on_console_event(DWORD type) {
    (void)type;
    stop_requested = 1;
    return TRUE;
}

static void catch_stop_signals(void) {
    SetConsoleCtrlHandler(on_console_event, TRUE);
}
#else
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void catch_stop_signals(void) {
    struct sigaction stop;
    memset(&stop, 0, sizeof stop);
    stop.sa_handler = on_signal;
    sigemptyset(&stop.sa_mask);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGTERM, &stop, NULL);
}
#endif

static int fail(const char *what) {
    fprintf(stderr, "echo_server: %s: %s\n", what, luna_last_error());
    return 1;
}

static int handle(LunaApp *app, const LunaEvent *ev) {
    switch (ev->kind) {
    case LUNA_EVENT_KIND_OPEN:
        printf("open %llu from %.*s port %u protocol '%.*s'\n", (unsigned long long)ev->conn,
               (int)ev->peer_len, (const char *)ev->peer, ev->peer_port, (int)ev->len,
               (const char *)ev->data);
        break;
    case LUNA_EVENT_KIND_MESSAGE:
        if (ev->opcode == LUNA_OPCODE_TEXT && ev->len == 8 && memcmp(ev->data, "shutdown", 8) == 0)
            return 1;
        if (luna_conn_send(app, ev->conn, ev->data, ev->len, ev->opcode) != LUNA_RESULT_OK)
            fprintf(stderr, "send to %llu: %s\n", (unsigned long long)ev->conn, luna_last_error());
        break;
    case LUNA_EVENT_KIND_CLOSE:
        printf("close %llu code %u clean %u reason '%.*s'\n", (unsigned long long)ev->conn, ev->code,
               ev->was_clean, (int)ev->len, (const char *)ev->data);
        break;
    case LUNA_EVENT_KIND_ERROR:
        fprintf(stderr, "error (conn %llu): %.*s\n", (unsigned long long)ev->conn, (int)ev->len,
                (const char *)ev->data);
        break;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [PROTOCOL...]\n", argv[0]);
        return 2;
    }
    LunaServerConfig config;
    luna_server_config_default(&config);
    config.host = argv[1];
    config.port = (uint16_t)atoi(argv[2]);
    config.protocols = (const char *const *)&argv[3];
    config.protocol_count = (size_t)(argc - 3);

    LunaApp *app = luna_server_new(&config);
    if (!app)
        return fail("cannot start");
    uint16_t port = 0;
    luna_app_port(app, &port);
    printf("listening on %u\n", port);
    fflush(stdout);

    catch_stop_signals();

    LunaEvent events[256];
    int done = 0;
    while (!done && !stop_requested) {
        LunaResult waited = luna_app_wait(app, 200);
        if (waited != LUNA_RESULT_OK && waited != LUNA_RESULT_TIMEOUT)
            return fail("wait");
        size_t count = 0;
        if (luna_app_poll(app, events, 256, &count) != LUNA_RESULT_OK)
            return fail("poll");
        for (size_t i = 0; i < count && !done; i++)
            done = handle(app, &events[i]);
        fflush(stdout);
    }
    luna_app_free(app);
    printf("bye\n");
    return 0;
}
