/* luna_app_fd on Windows: the SOCKET it gives (the read end of a loopback TCP pair) is not
 * readable while nothing is pending, becomes readable for select() once an event is queued
 * (a client of our own connects to a server of our own), and is quiet again after
 * luna_app_poll drained the queue. Run under Wine by tests/windows/run.sh. */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <stdio.h>

#include "luna.h"

static int readable(SOCKET s, long usec) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(s, &set);
    struct timeval tv = {usec / 1000000, usec % 1000000};
    return select(0, &set, NULL, NULL, &tv);
}

#define CHECK(cond, what)                                                                   \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            printf("FAIL %s (%s)\n", what, luna_last_error());                              \
            return 1;                                                                       \
        }                                                                                   \
        printf("ok   %s\n", what);                                                          \
    } while (0)

int main(void) {
    WSADATA wsa;
    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup");
    LunaServerConfig sc;
    luna_server_config_default(&sc);
    sc.host = "127.0.0.1";
    sc.port = 0;
    LunaApp *server = luna_server_new(&sc);
    CHECK(server != NULL, "server started");
    uint16_t port = 0;
    luna_app_port(server, &port);
    int64_t fd = -1;
    CHECK(luna_app_fd(server, &fd) == LUNA_RESULT_OK && fd >= 0, "luna_app_fd gives a SOCKET");
    SOCKET s = (SOCKET)fd;
    CHECK(readable(s, 100000) == 0, "not readable while nothing is pending");

    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", port);
    LunaClientConfig cc;
    luna_client_config_default(&cc);
    cc.url = url;
    uint64_t conn = 0;
    LunaApp *client = luna_client_connect(&cc, &conn);
    CHECK(client != NULL, "client connecting");
    CHECK(readable(s, 5000000) == 1, "readable once the server has an event (OPEN)");

    LunaEvent events[16];
    size_t count = 0, total = 0;
    CHECK(luna_app_poll(server, events, 16, &count) == LUNA_RESULT_OK && count >= 1, "poll drains the OPEN");
    total += count;
    while (luna_app_poll(server, events, 16, &count) == LUNA_RESULT_OK && count > 0)
        total += count;
    CHECK(readable(s, 100000) == 0, "quiet again after the queue is drained");
    CHECK(luna_conn_send(client, conn, (const uint8_t *)"ping", 4, LUNA_OPCODE_TEXT) == LUNA_RESULT_OK, "client sends");
    CHECK(readable(s, 5000000) == 1, "readable again for the MESSAGE");
    luna_app_free(client);
    luna_app_free(server);
    printf("app_fd: passed\n");
    return 0;
}
