//! The LuaJIT echo server (`tests/common/luna_echo.lua`) as a child process, so raw-socket
//! tests cover socket → Rust → FFI → Lua → back.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `luajit tests/common/luna_echo.lua`; killed and reaped on drop.
pub struct LuaEcho {
    child: Child,
    pub port: u16,
}

impl LuaEcho {
    /// Starts the server with `config`, a Lua table constructor merged into the app config
    /// (`""` for none). A missing `luajit` or library fails the test loudly.
    pub fn start(config: &str) -> LuaEcho {
        let root = env!("CARGO_MANIFEST_DIR");
        let lib = std::env::var("LUNA_LIB")
            .unwrap_or_else(|_| format!("{root}/target/release/libluna.so"));
        assert!(
            std::path::Path::new(&lib).exists(),
            "{lib} is missing: build with `cargo build --release`"
        );
        let mut child = Command::new("luajit")
            .arg(format!("{root}/tests/common/luna_echo.lua"))
            .env("LUNA_LIB", &lib)
            .env("LUNA_ECHO_CONFIG", config)
            .env("LUNA_ECHO_MAX_SECONDS", "120")
            .stdout(Stdio::piped())
            .spawn()
            .expect("luajit must be installed to run the conformance tests (tests/setup.sh)");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("luna_echo.lua did not start: {line:?}");
        };
        LuaEcho { child, port }
    }

    /// The server's process id (for /proc/PID/status).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LuaEcho {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
