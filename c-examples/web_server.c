/* A web server on one port using only luna.h: static files over HTTP, WebSocket echo, and
 * the handshake request of every connection.
 *
 * usage: web_server HOST PORT [ROOT]
 *
 * ROOT (or the environment variable ROOT) is a directory served to plain GET and HEAD
 * requests: index.html for "/", Content-Type by extension, 304 answers, keep-alive, nothing
 * outside the directory. Without one, plain HTTP requests get 400.
 *
 * Environment:
 *   ORIGINS        comma-separated browser origins allowed to open a WebSocket, such as
 *                  "https://example.com,http://localhost:8080"; others get HTTP 403.
 *                  Unset: every origin (see the README on cross-site WebSocket hijacking).
 *   TLS_CERT       PEM certificate and private key: serve https:// and wss:// instead
 *   TLS_KEY        of http:// and ws:// (both or neither).
 *   HANDSHAKE_MS   how long a request head may take to arrive (default 10000).
 *   TOKEN          decide every handshake here (UPGRADE events): only a target whose query
 *                  has token=TOKEN is accepted, with a Set-Cookie on the 101; others get
 *                  401 "missing or wrong token".
 *
 * It prints "listening on PORT" once bound (PORT 0 picks a free one). On each WebSocket
 * open it prints the request it came with:
 *   open ID METHOD TARGET origin=ORIGIN cookie=COOKIE user-agent=AGENT   ("-" when absent)
 * then sends the client "hello TARGET" (its path and query) and echoes every message.
 * It exits on SIGINT/SIGTERM.
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

#define MAX_ORIGINS 32

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
    fprintf(stderr, "web_server: %s: %s\n", what, luna_last_error());
    return 1;
}

/* Prints " LABEL=VALUE" for header `name` (lower case) of the handshake request, "-" when
 * it is absent; repeated fields are joined with `sep`. */
static void print_header(LunaApp *app, uint64_t conn, size_t count, const char *label,
                         const char *name, const char *sep) {
    size_t name_len = strlen(name);
    int found = 0;
    printf(" %s=", label);
    for (size_t i = 0; i < count; i++) {
        LunaHeader h;
        if (luna_conn_header(app, conn, i, &h) != LUNA_RESULT_OK)
            break;
        if (h.name_len != name_len || memcmp(h.name, name, name_len) != 0)
            continue;
        printf("%s%.*s", found ? sep : "", (int)h.value_len, (const char *)h.value);
        found = 1;
    }
    if (!found)
        printf("-");
}

static void on_open(LunaApp *app, uint64_t conn) {
    LunaRequest req;
    if (luna_conn_request(app, conn, &req) != LUNA_RESULT_OK) {
        fprintf(stderr, "request of %llu: %s\n", (unsigned long long)conn, luna_last_error());
        return;
    }
    printf("open %llu %.*s %.*s", (unsigned long long)conn, (int)req.method_len,
           (const char *)req.method, (int)req.target_len, (const char *)req.target);
    print_header(app, conn, req.header_count, "origin", "origin", ", ");
    print_header(app, conn, req.header_count, "cookie", "cookie", "; ");
    print_header(app, conn, req.header_count, "user-agent", "user-agent", ", ");
    printf("\n");

    /* The request stays readable until the CLOSE event is polled; copy what outlives it. */
    char hello[16 + 8192];
    int n = snprintf(hello, sizeof hello, "hello %.*s", (int)req.target_len,
                     (const char *)req.target);
    if (n < 0 || (size_t)n >= sizeof hello)
        n = (int)sizeof hello - 1;
    if (luna_conn_send(app, conn, (const uint8_t *)hello, (size_t)n, LUNA_OPCODE_TEXT) !=
        LUNA_RESULT_OK)
        fprintf(stderr, "send to %llu: %s\n", (unsigned long long)conn, luna_last_error());
}

/* Whether the query of `target` (len bytes) has token=TOKEN as one of its fields. */
static int has_token(const char *target, size_t len, const char *token) {
    const char *query = memchr(target, '?', len);
    size_t want = strlen(token);
    for (const char *at = query; at && at < target + len; at = memchr(at + 1, '&', (size_t)(target + len - at - 1))) {
        const char *field = at + 1;
        size_t left = (size_t)(target + len - field);
        if (left >= 6 + want && memcmp(field, "token=", 6) == 0 &&
            memcmp(field + 6, token, want) == 0 && (left == 6 + want || field[6 + want] == '&'))
            return 1;
    }
    return 0;
}

/* An upgrade decision: the handshake waits for this answer (at most HANDSHAKE_MS). */
static void on_upgrade(LunaApp *app, const LunaEvent *ev, const char *token) {
    LunaResult answered;
    if (has_token((const char *)ev->data, ev->len, token)) {
        const char *headers[] = {"Set-Cookie: seen=1; HttpOnly; SameSite=Strict"};
        answered = luna_upgrade_accept(app, ev->conn, NULL, 0, headers, 1);
    } else {
        static const char why[] = "missing or wrong token\n";
        answered = luna_upgrade_reject(app, ev->conn, 401, NULL, 0, (const uint8_t *)why,
                                       sizeof why - 1);
    }
    if (answered != LUNA_RESULT_OK)
        fprintf(stderr, "answer to %llu: %s\n", (unsigned long long)ev->conn, luna_last_error());
}

static void handle(LunaApp *app, const LunaEvent *ev, const char *token) {
    switch (ev->kind) {
    case LUNA_EVENT_KIND_UPGRADE:
        on_upgrade(app, ev, token);
        break;
    case LUNA_EVENT_KIND_HTTP: /* not asked for: http_events is 0 */
    case LUNA_EVENT_KIND_LOG:  /* nor access_log */
    case LUNA_EVENT_KIND_RESUME: /* nor resume_window_ms */
        break;
    case LUNA_EVENT_KIND_OPEN:
        on_open(app, ev->conn);
        break;
    case LUNA_EVENT_KIND_MESSAGE:
        if (luna_conn_send(app, ev->conn, ev->data, ev->len, ev->opcode) != LUNA_RESULT_OK)
            fprintf(stderr, "send to %llu: %s\n", (unsigned long long)ev->conn, luna_last_error());
        break;
    case LUNA_EVENT_KIND_CLOSE:
        printf("close %llu code %u clean %u\n", (unsigned long long)ev->conn, ev->code,
               ev->was_clean);
        break;
    case LUNA_EVENT_KIND_ERROR:
        /* Refused requests and handshakes (403 origin, 404s are not errors) land here. */
        printf("error (conn %llu): %.*s\n", (unsigned long long)ev->conn, (int)ev->len,
               (const char *)ev->data);
        break;
    }
}

/* Splits a comma-separated list in place; returns how many items it found. */
static size_t split_list(char *list, const char **items, size_t max) {
    size_t count = 0;
    char *save = NULL;
    for (char *item = strtok_r(list, ",", &save); item && count < max;
         item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        char *end = item + strlen(item);
        while (end > item && end[-1] == ' ')
            *--end = '\0';
        if (*item)
            items[count++] = item;
    }
    return count;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [ROOT]\n", argv[0]);
        return 2;
    }
    LunaServerConfig config;
    luna_server_config_default(&config);
    config.host = argv[1];
    config.port = (uint16_t)atoi(argv[2]);
    config.static_root = argc > 3 ? argv[3] : getenv("ROOT");

    char *origin_list = NULL;
    const char *origins[MAX_ORIGINS];
    const char *env_origins = getenv("ORIGINS");
    if (env_origins && *env_origins) {
        origin_list = strdup(env_origins);
        if (!origin_list)
            return 1;
        config.origins = origins;
        config.origin_count = split_list(origin_list, origins, MAX_ORIGINS);
    }
    config.tls_cert_file = getenv("TLS_CERT");
    config.tls_key_file = getenv("TLS_KEY");
    const char *token = getenv("TOKEN");
    config.upgrade_events = token && *token;
    const char *handshake_ms = getenv("HANDSHAKE_MS");
    if (handshake_ms && *handshake_ms)
        config.handshake_timeout_ms = (uint32_t)strtoul(handshake_ms, NULL, 10);

    /* Every string in `config` is only read here: origin_list may go right after. */
    LunaApp *app = luna_server_new(&config);
    free(origin_list);
    if (!app)
        return fail("cannot start");
    uint16_t port = 0;
    luna_app_port(app, &port);
    printf("listening on %u\n", port);
    fflush(stdout);

    catch_stop_signals();

    LunaEvent events[256];
    while (!stop_requested) {
        LunaResult waited = luna_app_wait(app, 200);
        if (waited != LUNA_RESULT_OK && waited != LUNA_RESULT_TIMEOUT)
            return fail("wait");
        size_t count = 0;
        if (luna_app_poll(app, events, 256, &count) != LUNA_RESULT_OK)
            return fail("poll");
        for (size_t i = 0; i < count; i++)
            handle(app, &events[i], token);
        fflush(stdout);
    }
    luna_app_free(app);
    printf("bye\n");
    return 0;
}
