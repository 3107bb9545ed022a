// uWebSockets beside luna in `make bench`: a plain WebSocket echo server, no TLS, no
// compression (luna's echo servers do not compress either).
//
// usage: uws_echo PORT   (0 picks a free port; prints "ready PORT")
// Built by `make bench-uws UWS_DIR=...` from a checkout of uWebSockets with its uSockets.

#include "App.h"

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

int main(int argc, char **argv) {
    int port = argc > 1 ? std::atoi(argv[1]) : 0;
    // Like every bench server: gone by itself after BENCH_SERVER_MAX_SECONDS (SIGALRM ends it).
    if (const char *max = std::getenv("BENCH_SERVER_MAX_SECONDS")) alarm(std::atoi(max));
    struct PerSocketData {};
    uWS::App()
        .ws<PerSocketData>("/*", {
            .compression = uWS::DISABLED,
            .maxPayloadLength = 64 * 1024 * 1024,
            .idleTimeout = 120,
            .maxBackpressure = 64 * 1024 * 1024,
            .message = [](auto *ws, std::string_view message, uWS::OpCode op) {
                ws->send(message, op, false);
            },
        })
        .listen("127.0.0.1", port, [](auto *listen_socket) {
            if (!listen_socket) {
                std::fprintf(stderr, "uws_echo: cannot listen\n");
                std::exit(1);
            }
            std::printf("ready %d\n", us_socket_local_port(0, (struct us_socket_t *) listen_socket));
            std::fflush(stdout);
        })
        .run();
}
