-- A server's config: the table given to luna.new_web_app checked (types, and what the C
-- config cannot carry) and turned into a LunaServerConfig. The library checks the values
-- themselves (subprotocol names, origins, the cluster URL).
local ffi = require("ffi")
local C = require("luna.lib").load()
local errors = require("luna.errors")
local check_mod = require("luna.check")

local ffi_new = ffi.new
local type, tostring, tonumber, pairs, ipairs, next = type, tostring, tonumber, pairs, ipairs, next
local select = select
local floor, sort = math.floor, table.sort
local result = errors.result
local checker, c_strings, LIMIT_KEYS = check_mod.checker, check_mod.c_strings, check_mod.LIMIT_KEYS
local is_integer = check_mod.is_integer

local M = {}

-- The receive queue of a connection when max_queued_messages is not given.
M.DEFAULT_MAX_QUEUED = 1024
local DEFAULT_MAX_QUEUED = M.DEFAULT_MAX_QUEUED


local KNOWN = {
  name = true, host = true, port = true, debug = true, no_errors = true, error_handler = true,
  ssl = true, protocols = true, max_connections = true, handshake_timeout = true,
  max_queued_messages = true, origins = true, static = true, max_head_size = true,
  on_upgrade = true, http = true, max_body_size = true, cluster = true,
  max_http_connections = true, max_body_memory = true, reuse_port = true, trusted_proxies = true,
  metrics = true, metrics_token = true, access_log = true, rate_limit = true,
  max_connections_per_ip = true, max_handshake_rate_per_ip = true, resume = true,
}
for _, key in ipairs(LIMIT_KEYS) do KNOWN[key] = true end


local check = checker("luna.new_web_app")
local bad, opt_type, integer, millis = check.bad, check.opt_type, check.integer, check.millis
local c_string = check.c_string


-- Types only: the library checks the names themselves (RFC 6455 tokens).
local function check_protocols(protocols)
  if type(protocols) ~= "table" then
    bad("protocols", "a table of subprotocol name -> handler function", protocols)
  end
  local names = {}
  for name, handler in pairs(protocols) do
    if type(name) ~= "string" then
      bad("protocols", "keyed by subprotocol names (strings)", name)
    elseif type(handler) ~= "function" then
      bad("protocols." .. name, "a handler function", handler)
    end
    c_string("protocols", name)
    if name ~= "default" then names[#names + 1] = name end
  end
  if not next(protocols) then
    bad("protocols", "a table with at least one handler", protocols)
  end
  sort(names)
  return names
end


local function check_ssl(ssl)
  if ssl == nil then
    return nil
  elseif type(ssl) ~= "table" then
    bad("ssl", "a table { key = path, cert = path }", ssl)
  end
  if ssl.cert ~= nil and ssl.certificate ~= nil and ssl.cert ~= ssl.certificate then
    bad("ssl.certificate", "the same path as ssl.cert (it is an alias)", ssl.certificate)
  end
  local cert = ssl.cert or ssl.certificate
  if type(ssl.key) ~= "string" or ssl.key == "" then bad("ssl.key", "a file path string", ssl.key) end
  if type(cert) ~= "string" or cert == "" then bad("ssl.cert", "a file path string", cert) end
  if ssl.password ~= nil and type(ssl.password) ~= "string" then
    bad("ssl.password", "a string", ssl.password)
  end
  c_string("ssl.key", ssl.key)
  c_string("ssl.cert", cert)
  c_string("ssl.password", ssl.password)
  return ssl
end


-- rate_limit = { messages = N, bytes = B, per = seconds, burst = N, action = "pause" | "close" }
-- onto the C config.
local RATE_KEYS = { messages = true, bytes = true, per = true, burst = true, action = true }
local function check_rate_limit(limit, cfg)
  if limit == nil then
    return
  elseif type(limit) ~= "table" then
    bad("rate_limit", "a table { messages = N, bytes = B, per = seconds, burst = N, action = \"pause\" | \"close\" }", limit)
  end
  for key in pairs(limit) do
    if not RATE_KEYS[key] then
      bad("rate_limit." .. tostring(key), "absent (known keys: messages, bytes, per, burst, action)", limit[key])
    end
  end
  local function count(key, max)
    local v = limit[key]
    if v ~= nil and not is_integer(v, 1, max) then
      bad("rate_limit." .. key, "an integer 1.." .. max, v)
    end
    return v
  end
  local messages, bytes = count("messages", 4294967295), count("bytes", 2 ^ 52)
  if not messages and not bytes then
    bad("rate_limit", "a table that limits messages, bytes or both", limit)
  end
  cfg.rate_limit_messages, cfg.rate_limit_bytes = messages or 0, bytes or 0
  cfg.rate_limit_burst = count("burst", 4294967295) or 1
  local per = limit.per
  if per ~= nil then
    if type(per) ~= "number" or per ~= per or per < 0.001 or per > 4294967 then
      bad("rate_limit.per", "a number of seconds, at least 0.001", per)
    end
    cfg.rate_limit_per_ms = floor(per * 1000 + 0.5)
  end
  local action = limit.action
  if action ~= nil and action ~= "pause" and action ~= "close" then
    bad("rate_limit.action", '"pause" or "close"', action)
  end
  cfg.rate_limit_close = action == "close" and 1 or 0
end


-- A non-empty list of non-empty strings, or nil; `example` shows what one looks like.
local function check_list(list, key, example)
  if list == nil then
    return nil
  elseif type(list) ~= "table" or #list == 0 then
    bad(key, "a non-empty list such as { " .. example .. " }", list)
  end
  for i, item in ipairs(list) do
    if type(item) ~= "string" or item == "" then
      bad(key .. "[" .. i .. "]", "a non-empty string", item)
    end
    c_string(key .. "[" .. i .. "]", item)
  end
  return list
end


local function check_origins(origins)
  return check_list(origins, "origins", '"https://example.com"')
end


-- static = "dir" or { root = "dir", index = "index.html", cache = "max-age=60" }: returns
-- root, index, cache.
local function check_static(static)
  if static == nil then
    return nil
  elseif type(static) == "string" and static ~= "" then
    return c_string("static", static), nil, nil
  elseif type(static) ~= "table" then
    bad("static", "a directory path, or a table { root = path, index = file name, cache = Cache-Control }", static)
  end
  if type(static.root) ~= "string" or static.root == "" then
    bad("static.root", "a directory path string", static.root)
  end
  if static.index ~= nil and (type(static.index) ~= "string" or static.index == "") then
    bad("static.index", "a file name string", static.index)
  end
  if static.cache ~= nil and type(static.cache) ~= "string" then
    bad("static.cache", "a Cache-Control value string", static.cache)
  end
  return c_string("static.root", static.root), c_string("static.index", static.index),
    c_string("static.cache", static.cache)
end


-- cluster = { redis = "redis://host:port/db", prefix = "luna:" }: returns url, prefix. The
-- library checks the URL itself.
local function check_cluster(cluster)
  if cluster == nil then
    return nil
  elseif type(cluster) ~= "table" then
    bad("cluster", "a table { redis = \"redis://host:port\", prefix = \"luna:\" }", cluster)
  end
  for key in pairs(cluster) do
    if key ~= "redis" and key ~= "prefix" then
      bad("cluster." .. tostring(key), "absent (known keys: redis, prefix)", cluster[key])
    end
  end
  if type(cluster.redis) ~= "string" or cluster.redis == "" then
    bad("cluster.redis", "a URL string such as \"redis://127.0.0.1:6379\"", cluster.redis)
  end
  if cluster.prefix ~= nil and (type(cluster.prefix) ~= "string" or cluster.prefix == "") then
    bad("cluster.prefix", "a non-empty string such as \"myapp:\"", cluster.prefix)
  end
  return c_string("cluster.redis", cluster.redis), c_string("cluster.prefix", cluster.prefix)
end


local function validate(config)
  check.known(config, KNOWN)
  if type(config.name) ~= "string" or config.name == "" then bad("name", "a non-empty string", config.name) end
  if type(config.host) ~= "string" or config.host == "" then bad("host", "a non-empty string", config.host) end
  c_string("host", config.host)
  integer(config, "port", 0, 65535, nil)
  if config.port == nil then bad("port", "an integer 0..65535", nil) end
  opt_type(config, "debug", "boolean")
  opt_type(config, "no_errors", "boolean")
  opt_type(config, "error_handler", "function")
  opt_type(config, "on_upgrade", "function")
  opt_type(config, "http", "function")
  integer(config, "max_queued_messages", 1, 2 ^ 31, DEFAULT_MAX_QUEUED)
  check_ssl(config.ssl)
  check_origins(config.origins)
  check_static(config.static)
  check_cluster(config.cluster)
  return check_protocols(config.protocols)
end


-- Appends values to `anchors`, the list of what the C config points into.
local function keep(anchors, ...)
  for i = 1, select("#", ...) do
    anchors[#anchors + 1] = (select(i, ...))
  end
end


-- The HTTP side of the server: proxies, static files, hooks, bodies.
local function c_http_config(config, cfg, anchors)
  local proxies = check_list(config.trusted_proxies, "trusted_proxies", '"127.0.0.1", "10.0.0.0/8"')
  local proxy_list, proxy_count = c_strings(proxies)
  cfg.trusted_proxies, cfg.trusted_proxy_count = proxy_list, proxy_count
  local root, index, cache = check_static(config.static)
  cfg.static_root, cfg.static_index, cfg.static_cache_control = root, index, cache
  cfg.max_head_size = integer(config, "max_head_size", 1024, 4294967295, cfg.max_head_size)
  cfg.upgrade_events = config.on_upgrade and 1 or 0
  cfg.http_events = config.http and 1 or 0
  cfg.max_body_size = integer(config, "max_body_size", 0, 2 ^ 31, tonumber(cfg.max_body_size))
  cfg.max_http_connections = integer(config, "max_http_connections", 1, 4294967295,
    cfg.max_http_connections)
  cfg.max_body_memory = integer(config, "max_body_memory", 1, 2 ^ 52, tonumber(cfg.max_body_memory))
  keep(anchors, proxies, proxy_list, root, index, cache)
end


-- resume = true | { window = seconds, buffer = bytes, memory = bytes, node = "name" }
local RESUME_KEYS = { window = true, buffer = true, memory = true, node = true }
local DEFAULT_RESUME_WINDOW = 30

local function resume_bytes(settings, key, default)
  local v = settings[key]
  if v == nil then
    return default
  elseif not is_integer(v, 1, 2 ^ 52) then
    bad("resume." .. key, "an integer number of bytes >= 1", v)
  end
  return v
end

local function check_resume(resume, cfg)
  if resume == nil or resume == false then
    return nil
  elseif resume ~= true and type(resume) ~= "table" then
    bad("resume", "true or a table { window = seconds, buffer = bytes, memory = bytes, node = name }", resume)
  end
  local settings = resume == true and {} or resume
  for key in pairs(settings) do
    if not RESUME_KEYS[key] then
      bad("resume." .. tostring(key), "absent (known keys: window, buffer, memory, node)", settings[key])
    end
  end
  local window = settings.window == nil and DEFAULT_RESUME_WINDOW or settings.window
  if type(window) ~= "number" or window ~= window or window < 0.001 or window > 4294967 then
    bad("resume.window", "a number of seconds, at least 0.001", window)
  end
  cfg.resume_window_ms = floor(window * 1000 + 0.5)
  cfg.resume_buffer = resume_bytes(settings, "buffer", tonumber(cfg.resume_buffer))
  cfg.resume_memory = resume_bytes(settings, "memory", tonumber(cfg.resume_memory))
  if settings.node ~= nil and type(settings.node) ~= "string" then
    bad("resume.node", "a string", settings.node)
  end
  cfg.resume_node = c_string("resume.node", settings.node)
  return settings.node
end


-- What a server in production adds: a shared port, metrics, limits per client address, rate
-- limits, the access log, a cluster.
local function c_production_config(config, cfg, anchors)
  cfg.reuse_port = opt_type(config, "reuse_port", "boolean") and 1 or 0
  opt_type(config, "metrics", "string")
  opt_type(config, "metrics_token", "string")
  if config.metrics_token and not config.metrics then
    bad("metrics_token", "given only with 'metrics' (the path it protects)", config.metrics_token)
  end
  cfg.max_connections_per_ip = integer(config, "max_connections_per_ip", 0, 4294967295, 0)
  cfg.max_handshake_rate_per_ip = integer(config, "max_handshake_rate_per_ip", 0, 4294967295, 0)
  check_rate_limit(config.rate_limit, cfg)
  local access_log = config.access_log
  if access_log ~= nil and type(access_log) ~= "boolean" and type(access_log) ~= "function" then
    bad("access_log", "true, false or a function(line)", access_log)
  end
  cfg.access_log = access_log and 1 or 0
  cfg.metrics_path = c_string("metrics", config.metrics)
  cfg.metrics_token = c_string("metrics_token", config.metrics_token)
  local redis, prefix = check_cluster(config.cluster)
  cfg.cluster_redis, cfg.cluster_prefix = redis, prefix
  keep(anchors, redis, prefix, check_resume(config.resume, cfg))
end


-- The config as a LunaServerConfig; `names` are the subprotocols validate() found. Returns
-- the struct and the Lua values it points into: they must outlive luna_server_new.
local function c_config(config, names)
  local cfg = ffi_new("LunaServerConfig")
  result(C.luna_server_config_default(cfg), nil, "luna.new_web_app")
  cfg.host = config.host
  cfg.port = config.port
  cfg.has_default = config.protocols.default and 1 or 0
  local list, count = c_strings(names)
  cfg.protocols, cfg.protocol_count = list, count
  check.limits(config, cfg)
  cfg.max_connections = integer(config, "max_connections", 0, 4294967295, cfg.max_connections)
  cfg.handshake_timeout_ms = millis(config, "handshake_timeout", cfg.handshake_timeout_ms)
  -- A library built without TLS refuses these (LUNA_RESULT_UNSUPPORTED): no silent ws://.
  local ssl = config.ssl
  if ssl then
    cfg.tls_cert_file = ssl.cert or ssl.certificate
    cfg.tls_key_file = ssl.key
    cfg.tls_key_password = ssl.password
  end
  local origins = config.origins
  local origin_list, origin_count = c_strings(origins)
  cfg.origins, cfg.origin_count = origin_list, origin_count
  local anchors = { list, names, config.host, ssl, origins, origin_list }
  c_http_config(config, cfg, anchors)
  c_production_config(config, cfg, anchors)
  return cfg, anchors
end


-- Checks `config`; returns the LunaServerConfig and the Lua values it points into (keep
-- them alive). Raises at level 0: luna.new_web_app runs it under pcall.
function M.prepare(config)
  return c_config(config, validate(config))
end


return M
