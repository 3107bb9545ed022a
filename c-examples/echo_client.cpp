// A WebSocket client in C++11 over luna.h: a small RAII wrapper owns the LunaApp.
//
// usage: echo_client [-p PROTOCOL]... URL [MESSAGE...]
//
// Connects (requesting the -p subprotocols, in order), sends each MESSAGE as a text message
// (queued before the connection opens), prints "connected (protocol 'P')", every message
// that comes back as "< TEXT" (binary ones as "< [N bytes]"), and "closed CODE 'REASON'"
// once it has closed the connection after as many messages came back as were sent (or
// after 10 s without any event). Exit status 0 on a clean run, 1 on any failure.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "luna.h"

namespace {

// One event, copied out of luna's buffer (which is only valid until the next poll).
struct Event {
    LunaEventKind kind;
    uint32_t opcode;
    uint32_t code;
    std::string data;  // payload, subprotocol, close reason or error message
};

class LunaError : public std::runtime_error {
public:
    explicit LunaError(const std::string &what)
        : std::runtime_error(what + ": " + luna_last_error()) {}
};

// A client connection. Owns the LunaApp: luna_app_free runs in the destructor.
// Movable, not copyable.
class Client {
public:
    explicit Client(const std::string &url, const std::vector<std::string> &protocols = {}) {
        std::vector<const char *> names;
        for (const std::string &p : protocols) names.push_back(p.c_str());
        LunaClientConfig config;
        luna_client_config_default(&config);
        config.url = url.c_str();
        config.protocols = names.empty() ? nullptr : names.data();
        config.protocol_count = names.size();
        app_ = luna_client_connect(&config, &conn_);
        if (!app_) throw LunaError("cannot connect to " + url);
    }
    ~Client() {
        if (app_) luna_app_free(app_);
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;
    Client(Client &&other) noexcept : app_(other.app_), conn_(other.conn_) { other.app_ = nullptr; }
    Client &operator=(Client &&other) noexcept {
        std::swap(app_, other.app_);
        std::swap(conn_, other.conn_);
        return *this;
    }

    // Queues a message; false (with luna_last_error()) when it was not queued.
    bool send(const std::string &data, LunaOpcode opcode = LUNA_OPCODE_TEXT) {
        return luna_conn_send(app_, conn_, reinterpret_cast<const uint8_t *>(data.data()),
                              data.size(), opcode) == LUNA_RESULT_OK;
    }
    void close(uint32_t code = 1000, const std::string &reason = std::string()) {
        luna_conn_close(app_, conn_, code, reinterpret_cast<const uint8_t *>(reason.data()),
                        reason.size());
    }
    // Waits up to timeout_ms for events, then hands each one to on_event.
    // Returns false when nothing arrived in time.
    bool poll(int timeout_ms, const std::function<void(const Event &)> &on_event) {
        bool timed_out = luna_app_wait(app_, timeout_ms) == LUNA_RESULT_TIMEOUT;
        LunaEvent events[64];
        size_t count = 0;
        if (luna_app_poll(app_, events, 64, &count) != LUNA_RESULT_OK)
            throw LunaError("poll");
        for (size_t i = 0; i < count; i++) {
            const LunaEvent &ev = events[i];
            on_event(Event{ev.kind, ev.opcode, ev.code,
                           std::string(reinterpret_cast<const char *>(ev.data), ev.len)});
        }
        return !timed_out || count > 0;
    }

private:
    LunaApp *app_ = nullptr;
    uint64_t conn_ = 0;
};

int run(int argc, char **argv) {
    std::vector<std::string> protocols, messages;
    std::string url;
    for (int i = 1; i < argc; i++) {
        if (url.empty() && std::strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            protocols.push_back(argv[++i]);
        else if (url.empty())
            url = argv[i];
        else
            messages.push_back(argv[i]);
    }
    if (url.empty()) {
        std::cerr << "usage: " << argv[0] << " [-p PROTOCOL]... URL [MESSAGE...]\n";
        return 2;
    }

    Client client(url, protocols);
    for (const std::string &m : messages)
        if (!client.send(m)) std::cerr << "echo_client: send: " << luna_last_error() << "\n";

    size_t received = 0;
    bool closed = false, failed = false, closing = false;
    int idle_ms = 0;
    while (!closed && idle_ms < 10000) {
        bool any = client.poll(100, [&](const Event &ev) {
            switch (ev.kind) {
            case LUNA_EVENT_KIND_OPEN:
                std::cout << "connected (protocol '" << ev.data << "')\n";
                break;
            case LUNA_EVENT_KIND_MESSAGE:
                if (ev.opcode == LUNA_OPCODE_TEXT)
                    std::cout << "< " << ev.data << "\n";
                else
                    std::cout << "< [" << ev.data.size() << " bytes]\n";
                received++;
                break;
            case LUNA_EVENT_KIND_ERROR:
                std::cerr << "echo_client: error: " << ev.data << "\n";
                failed = true;
                break;
            case LUNA_EVENT_KIND_CLOSE:
                std::cout << "closed " << ev.code << " '" << ev.data << "'\n";
                closed = true;
                break;
            case LUNA_EVENT_KIND_UPGRADE: // servers only
            case LUNA_EVENT_KIND_HTTP:
            case LUNA_EVENT_KIND_LOG:
            case LUNA_EVENT_KIND_RESUME:
                break;
            }
        });
        idle_ms = any ? 0 : idle_ms + 100;
        if (!closing && !failed && received >= messages.size()) {
            client.close(1000, "done");
            closing = true;
        }
        std::cout.flush();
    }
    if (!closed) std::cerr << "echo_client: gave up after 10 s without events\n";
    return (failed || !closed || received < messages.size()) ? 1 : 0;
}

}  // namespace

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        std::cerr << "echo_client: " << e.what() << "\n";
        return 1;
    }
}
