-- Generated from include/luna.h by tools/gen-cdef.lua; do not edit by hand.
-- Regenerate: luajit tools/gen-cdef.lua include/luna.h > ffi-lua/luna/cdef.lua
local ffi = require("ffi")

-- Declared once per Lua state, even if this file is loaded under two module names.
if pcall(ffi.typeof, "struct LunaEvent") then
  return true
end

ffi.cdef[[
enum LunaResult
 {
  LUNA_RESULT_OK = 0,
  LUNA_RESULT_CLOSED = 1,
  LUNA_RESULT_INVALID_ARGUMENT = 2,
  LUNA_RESULT_BACKPRESSURE = 3,
  LUNA_RESULT_TLS = 4,
  LUNA_RESULT_IO = 5,
  LUNA_RESULT_TIMEOUT = 6,
  LUNA_RESULT_UNSUPPORTED = 7,
  LUNA_RESULT_INTERNAL = 8,
  LUNA_RESULT_INVALID_UTF8 = 9,
  LUNA_RESULT_DNS = 10,
  LUNA_RESULT_PROTOCOL = 11,
  LUNA_RESULT_REFUSED = 12,
  LUNA_RESULT_SUBPROTOCOL = 13,
  LUNA_RESULT_TOO_LARGE = 14,
};
typedef uint32_t LunaResult;

enum LunaEventKind
 {
  LUNA_EVENT_KIND_OPEN = 1,
  LUNA_EVENT_KIND_MESSAGE = 2,
  LUNA_EVENT_KIND_CLOSE = 3,
  LUNA_EVENT_KIND_ERROR = 4,
  LUNA_EVENT_KIND_UPGRADE = 5,
  LUNA_EVENT_KIND_HTTP = 6,
  LUNA_EVENT_KIND_LOG = 7,
  LUNA_EVENT_KIND_RESUME = 8,
};
typedef uint32_t LunaEventKind;

enum LunaOpcode
 {
  LUNA_OPCODE_CONTINUATION = 0,
  LUNA_OPCODE_TEXT = 1,
  LUNA_OPCODE_BINARY = 2,
  LUNA_OPCODE_CLOSE = 8,
  LUNA_OPCODE_PING = 9,
  LUNA_OPCODE_PONG = 10,
};
typedef uint32_t LunaOpcode;

typedef struct LunaApp LunaApp;

typedef struct LunaStats {
  uint64_t connections_open;
  uint64_t connections_total;
  uint64_t handshakes_accepted;
  uint64_t refused_origin;
  uint64_t refused_capacity;
  uint64_t refused_subprotocol;
  uint64_t refused_host;
  uint64_t refused_address;
  uint64_t refused_handshake;
  uint64_t http_requests;
  uint64_t messages_received;
  uint64_t bytes_received;
  uint64_t messages_sent;
  uint64_t bytes_sent;
  uint64_t backpressure;
  uint64_t rate_limited;
  uint64_t compression_input_bytes;
  uint64_t compression_output_bytes;
  uint8_t cluster_connected;
  uint64_t cluster_queued_bytes;
  uint64_t cluster_dropped;
} LunaStats;

typedef struct LunaEvent {
  LunaEventKind kind;
  uint32_t opcode;
  uint64_t conn;
  const uint8_t *data;
  size_t len;
  const uint8_t *peer;
  size_t peer_len;
  uint32_t code;
  uint16_t http_status;
  uint16_t peer_port;
  uint8_t was_clean;
} LunaEvent;

typedef struct LunaClientConfig {

const char *url;
  const char *const *protocols;
  size_t protocol_count;
  const char *const *headers;
  size_t header_count;
  uint32_t connect_timeout_ms;

uint8_t tls_verify;
  uint8_t control_frames;
  uint8_t close_on_backpressure;

const char *tls_ca_file;

const char *tls_cert_file;
  const char *tls_key_file;
  size_t max_message_size;
  size_t max_frame_size;
  size_t max_send_queue;
  uint32_t ping_interval_ms;
  uint32_t idle_timeout_ms;
  uint32_t close_timeout_ms;
  uint32_t read_buffer_size;
  uint32_t compression;
  uint32_t compression_threshold;
  uint32_t compression_level;
} LunaClientConfig;

typedef struct LunaRequest {
  const uint8_t *method;
  size_t method_len;
  const uint8_t *target;
  size_t target_len;
  size_t header_count;
} LunaRequest;

typedef struct LunaHeader {
  const uint8_t *name;
  size_t name_len;
  const uint8_t *value;
  size_t value_len;
} LunaHeader;

typedef struct LunaServerConfig {
  const char *host;
  uint16_t port;
  uint8_t has_default;
  uint8_t control_frames;
  uint8_t close_on_backpressure;
  const char *const *protocols;
  size_t protocol_count;
  size_t max_message_size;
  size_t max_frame_size;
  size_t max_send_queue;
  uint32_t max_connections;
  uint32_t handshake_timeout_ms;
  uint32_t ping_interval_ms;
  uint32_t idle_timeout_ms;
  uint32_t close_timeout_ms;
  uint32_t read_buffer_size;

const char *tls_cert_file;
  const char *tls_key_file;
  const char *tls_key_password;

const char *const *origins;
  size_t origin_count;
  const char *static_root;
  const char *static_index;
  uint32_t max_head_size;
  uint8_t upgrade_events;
  uint8_t http_events;
  size_t max_body_size;

const char *cluster_redis;
  const char *cluster_prefix;
  const char *static_cache_control;
  uint32_t compression;
  uint32_t compression_threshold;
  uint32_t compression_level;
  uint32_t max_http_connections;
  size_t max_body_memory;
  uint8_t reuse_port;
  const char *const *trusted_proxies;
  size_t trusted_proxy_count;
  const char *metrics_path;
  const char *metrics_token;
  uint8_t access_log;
  uint32_t max_connections_per_ip;
  uint32_t max_handshake_rate_per_ip;
  uint32_t rate_limit_messages;
  uint64_t rate_limit_bytes;
  uint32_t rate_limit_per_ms;
  uint32_t rate_limit_burst;
  uint8_t rate_limit_close;
  uint32_t resume_window_ms;
  size_t resume_buffer;
  size_t resume_memory;
  const char *resume_node;
} LunaServerConfig;

const char *luna_last_error(void);

LunaResult luna_last_result(void);

const char *luna_result_name(uint32_t code);

const char *luna_version(void);

uint8_t luna_has_tls(void);

LunaResult luna_app_flush(struct LunaApp *app);

LunaResult luna_app_port(const struct LunaApp *app, uint16_t *out_port);

LunaResult luna_app_drain(struct LunaApp *app,
                          uint32_t timeout_ms,
                          uint16_t code,
                          const uint8_t *reason,
                          size_t reason_len);

LunaResult luna_app_drained(const struct LunaApp *app, uint8_t *out_drained);

LunaResult luna_app_stats(const struct LunaApp *app, struct LunaStats *out);

LunaResult luna_app_reload_tls(struct LunaApp *app,
                               const char *cert_file,
                               const char *key_file,
                               const char *key_password);

LunaResult luna_app_poll(struct LunaApp *app,
                         struct LunaEvent *events,
                         size_t capacity,
                         size_t *out_count);

LunaResult luna_app_wait(struct LunaApp *app, int32_t timeout_ms);

LunaResult luna_app_wait_any(struct LunaApp *const *apps, size_t count, int32_t timeout_ms);

LunaResult luna_app_fd(struct LunaApp *app, int64_t *out_fd);

LunaResult luna_app_broadcast(struct LunaApp *app,
                              const uint8_t *data,
                              size_t len,
                              uint32_t opcode,
                              const uint8_t *protocol,
                              size_t protocol_len,
                              size_t *out_count);

LunaResult luna_app_publish(struct LunaApp *app,
                            const uint8_t *topic,
                            size_t topic_len,
                            const uint8_t *data,
                            size_t len,
                            uint32_t opcode,
                            size_t *out_count);

LunaResult luna_app_stop(struct LunaApp *app);

LunaResult luna_app_free(struct LunaApp *app);

LunaResult luna_client_config_default(struct LunaClientConfig *config);

struct LunaApp *luna_client_connect(const struct LunaClientConfig *config,
                                    uint64_t *out_conn);

LunaResult luna_client_conn(struct LunaApp *app, uint64_t *out_conn);

uint64_t luna_clock_ms(void);

LunaResult luna_conn_send(struct LunaApp *app,
                          uint64_t conn,
                          const uint8_t *data,
                          size_t len,
                          uint32_t opcode);

LunaResult luna_conn_close(struct LunaApp *app,
                           uint64_t conn,
                           uint32_t code,
                           const uint8_t *reason,
                           size_t reason_len);

LunaResult luna_conn_peer(struct LunaApp *app,
                          uint64_t conn,
                          char *ip,
                          size_t ip_capacity,
                          uint16_t *out_port);

LunaResult luna_conn_local(struct LunaApp *app,
                           uint64_t conn,
                           char *ip,
                           size_t ip_capacity,
                           uint16_t *out_port);

LunaResult luna_conn_fd(struct LunaApp *app, uint64_t conn, int64_t *out_fd);

LunaResult luna_conn_is_tls(struct LunaApp *app, uint64_t conn, uint8_t *out_tls);

LunaResult luna_conn_is_compressed(struct LunaApp *app, uint64_t conn, uint8_t *out_compressed);

LunaResult luna_conn_set_nodelay(struct LunaApp *app, uint64_t conn, uint8_t enable);

LunaResult luna_conn_set_keepalive(struct LunaApp *app, uint64_t conn, uint8_t enable);

LunaResult luna_conn_request(struct LunaApp *app, uint64_t conn, struct LunaRequest *out_request);

LunaResult luna_conn_header(struct LunaApp *app,
                            uint64_t conn,
                            size_t index,
                            struct LunaHeader *out_header);

LunaResult luna_conn_subscribe(struct LunaApp *app,
                               uint64_t conn,
                               const uint8_t *topic,
                               size_t topic_len,
                               uint8_t *out_changed);

LunaResult luna_conn_unsubscribe(struct LunaApp *app,
                                 uint64_t conn,
                                 const uint8_t *topic,
                                 size_t topic_len,
                                 uint8_t *out_changed);

LunaResult luna_conn_subscription_count(struct LunaApp *app, uint64_t conn, size_t *out_count);

LunaResult luna_conn_subscription(struct LunaApp *app,
                                  uint64_t conn,
                                  size_t index,
                                  const uint8_t **out_topic,
                                  size_t *out_len);

LunaResult luna_conn_publish(struct LunaApp *app,
                             uint64_t conn,
                             const uint8_t *topic,
                             size_t topic_len,
                             const uint8_t *data,
                             size_t len,
                             uint32_t opcode,
                             size_t *out_count);

LunaResult luna_server_config_default(struct LunaServerConfig *config);

struct LunaApp *luna_server_new(const struct LunaServerConfig *config);

LunaResult luna_signals_catch(uint8_t enable);

int32_t luna_signal_take(void);

LunaResult luna_upgrade_accept(struct LunaApp *app,
                               uint64_t conn,
                               const uint8_t *protocol,
                               size_t protocol_len,
                               const char *const *headers,
                               size_t header_count);

LunaResult luna_upgrade_reject(struct LunaApp *app,
                               uint64_t conn,
                               uint32_t status,
                               const char *const *headers,
                               size_t header_count,
                               const uint8_t *body,
                               size_t body_len);

LunaResult luna_http_respond(struct LunaApp *app,
                             uint64_t conn,
                             uint32_t status,
                             const char *const *headers,
                             size_t header_count,
                             const uint8_t *body,
                             size_t body_len);
]]

return true
