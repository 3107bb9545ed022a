use super::*;

fn parse(head: &[u8]) -> Result<Parse, RequestError> {
    parse_request(head, &Limits::default())
}

fn request(head: &[u8]) -> Request {
    match parse(head) {
        Ok(Parse::Complete(request, len)) => {
            assert_eq!(len, head.len());
            request
        }
        other => panic!("{other:?} for {:?}", String::from_utf8_lossy(head)),
    }
}

fn error(head: &[u8]) -> u16 {
    match parse(head) {
        Err(e) => e.status(),
        other => panic!("{other:?} for {:?}", String::from_utf8_lossy(head)),
    }
}

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn parses_a_get_head_and_reports_where_the_body_starts() {
    let head = b"GET /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Thing:  v \r\n\r\nBODY";
    let Ok(Parse::Complete(req, len)) = parse(head) else {
        panic!()
    };
    assert_eq!(&head[len..], b"BODY");
    assert_eq!((req.method.as_str(), req.minor_version), ("GET", 1));
    assert_eq!(req.target, "/a/b%20c?x=1&y=2");
    assert_eq!((req.path(), req.query()), ("/a/b%20c", "x=1&y=2"));
    assert_eq!(req.header("x-thing").as_deref(), Some("v"));
    assert_eq!(req.headers.get(0), Some(("host", "h")));
    assert_eq!(req.content_length(), 0);
}

#[test]
fn every_truncation_of_a_head_is_partial() {
    for end in 0..UPGRADE.len() {
        assert_eq!(parse(&UPGRADE[..end]), Ok(Parse::Partial), "at {end}");
    }
}

#[test]
fn absolute_form_and_asterisk_targets() {
    let req = request(b"GET http://h:8/x/y?q HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((req.path(), req.query()), ("/x/y", "q"));
    let req = request(b"GET HTTPS://h?q HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((req.path(), req.query()), ("/", "q"));
    assert_eq!(
        request(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").path(),
        "*"
    );
    assert_eq!(error(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(error(b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

#[test]
fn malformed_heads_are_400() {
    assert_eq!(error(b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(error(b"GET /\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(error(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(error(b"GET / XTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(error(b"GET / HTTP/1.1\r\nHost h\r\n\r\n"), 400);
    assert_eq!(error(b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), 400);
    assert_eq!(error(b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), 400);
    assert_eq!(error(b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n"), 400);
    assert_eq!(error(b"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(error(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400);
    assert_eq!(
        error(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n"),
        400
    );
}

#[test]
fn bare_lf_line_ends_are_accepted_and_empty_leading_lines_skipped() {
    let req = request(b"GET /x HTTP/1.1\nHost: h\nA: b\n\n");
    assert_eq!(req.header("a").as_deref(), Some("b"));
    assert_eq!(
        request(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").path(),
        "/"
    );
}

#[test]
fn versions_other_than_1_0_and_1_1_are_505() {
    assert_eq!(error(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(error(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(error(b"GET / HTTP/3\r\n"), 505);
    assert_eq!(error(b"GET / HTTP/2"), 505);
}

#[test]
fn http_1_0_is_accepted_without_host_and_closes_unless_asked() {
    let req = request(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(req.minor_version, 0);
    assert!(!req.keep_alive());
    assert!(request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
}

#[test]
fn http_1_1_needs_exactly_one_host() {
    assert_eq!(error(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(error(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_eq!(error(b"GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n"), 400);
}

#[test]
fn host_must_be_a_uri_host_and_port() {
    let head = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes();
    let valid = [
        "",
        "h",
        "example.com",
        "example.com:8080",
        "EXAMPLE.com.",
        "a-b_c~d",
        "xn--bcher-kva.example",
        "%41b",
        "a,b",
        "127.0.0.1",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:443",
        "[2001:db8::7]:8",
        "[v1.fe80::a+en1]",
        "h:",
    ];
    for host in valid {
        request(&head(host));
    }
    let invalid = [
        "a b", "a/b", "a@b", "a, b", "a:b:c", "[::1", "a?b", "a#b", "h:8x", "::1", "[::1]x",
        "[::1]:a", "[zz]", "%4", "%zz", "a\"b", "[v.x]", "[v1.]", "ü",
    ];
    for host in invalid {
        assert_eq!(error(&head(host)), 400, "{host:?}");
    }
}

#[test]
fn keep_alive_follows_connection_tokens() {
    assert!(request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive());
    let close = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n\r\n";
    assert!(!request(close).keep_alive());
    let closing = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n";
    assert!(request(closing).keep_alive());
}

#[test]
fn repeated_headers_join_with_comma_and_cookies_with_semicolon() {
    let req = request(
        b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nCookie: x=1\r\naccept: b\r\n\
              cookie: y=2\r\n\r\n",
    );
    assert_eq!(req.header("accept").as_deref(), Some("a, b"));
    assert_eq!(req.header("cookie").as_deref(), Some("x=1; y=2"));
    assert_eq!(req.header("missing"), None);
    let twice = b"GET / HTTP/1.1\r\nHost: h\r\nSet-Cookie: a=1, b\r\nSet-Cookie: c=2\r\n\r\n";
    assert_eq!(
        request(twice).header("set-cookie").as_deref(),
        Some("a=1, b")
    );
    assert!(matches!(req.header("host"), Some(Cow::Borrowed("h"))));
}

#[test]
fn content_length_must_be_digits_and_agree() {
    let len = |value: &str| {
        let head = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {value}\r\n\r\n");
        parse(head.as_bytes()).map(|p| match p {
            Parse::Complete(req, _) => req.content_length(),
            Parse::Partial => panic!("partial"),
        })
    };
    assert_eq!(len("42"), Ok(42));
    assert_eq!(len("5, 5"), Ok(5));
    assert_eq!(len("18446744073709551615"), Ok(u64::MAX));
    for bad in [
        "-1",
        "+5",
        "",
        "5, 6",
        "1 2",
        "0x10",
        "18446744073709551616",
        "5,",
    ] {
        assert_eq!(len(bad).map_err(RequestError::status), Err(400), "{bad:?}");
    }
    let twice = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
    assert_eq!(error(twice), 400);
    let same = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
    assert_eq!(request(same).content_length(), 3);
}

#[test]
fn transfer_encoding_is_501() {
    let chunked = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(error(chunked), 501);
    let both =
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(error(both), 501);
}

#[test]
fn oversize_heads_are_431() {
    let limits = Limits::default();
    let mut head = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    while head.len() <= limits.max_head_size {
        head.extend_from_slice(
            b"Cookie: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    assert_eq!(error(&head), 431, "partial head past the limit");
    head.extend_from_slice(b"\r\n");
    let few = Limits {
        max_headers: 1000,
        ..limits
    };
    assert_eq!(parse_request(&head, &few).unwrap_err().status(), 431);
    let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    many.extend(b"A: b\r\n".repeat(limits.max_headers));
    assert_eq!(error(&many), 431, "more fields than max_headers");
    many.truncate(many.len() - 6);
    many.extend_from_slice(b"\r\n");
    assert_eq!(request(&many).headers.len(), limits.max_headers);
}

#[test]
fn long_targets_are_414() {
    let limits = Limits::default();
    let target = format!("/{}", "a".repeat(limits.max_target_len));
    let head = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(error(head.as_bytes()), 414, "complete");
    assert_eq!(
        error(&head.as_bytes()[..limits.max_target_len + 8]),
        414,
        "partial"
    );
    let endless = format!("GET /{}", "a".repeat(limits.max_head_size));
    let wide = Limits {
        max_target_len: usize::MAX,
        ..limits
    };
    assert_eq!(
        parse_request(endless.as_bytes(), &wide)
            .unwrap_err()
            .status(),
        414
    );
    let fits = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(8000));
    assert_eq!(request(fits.as_bytes()).path().len(), 8001);
}

#[test]
fn detects_websocket_upgrades() {
    let req = request(UPGRADE);
    assert!(req.is_websocket_upgrade());
    assert_eq!(req.websocket_key(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    let mixed = String::from_utf8_lossy(UPGRADE)
        .replace("Upgrade: websocket", "Upgrade: h2c, WebSocket")
        .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
    assert!(request(mixed.as_bytes()).is_websocket_upgrade());
}

#[test]
fn rejects_requests_that_are_not_websocket_upgrades() {
    let text = String::from_utf8_lossy(UPGRADE).into_owned();
    let variants = [
        text.replace("GET", "POST"),
        text.replace("HTTP/1.1", "HTTP/1.0"),
        text.replace("Upgrade: websocket\r\n", ""),
        text.replace("Upgrade: websocket", "Upgrade: websockets"),
        text.replace("Connection: Upgrade", "Connection: keep-alive"),
        text.replace("Version: 13", "Version: 8"),
        text.replace("Sec-WebSocket-Version: 13\r\n", ""),
        text.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ=="),
        text.replace("dGhlIHNhbXBsZSBub25jZQ==", "not base64 at all!!!!!!!"),
        text.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        ),
    ];
    for head in variants {
        assert!(!request(head.as_bytes()).is_websocket_upgrade(), "{head}");
    }
}

#[test]
fn a_websocket_request_that_cannot_be_upgraded_is_refused_with_its_reason() {
    let text = String::from_utf8_lossy(UPGRADE).into_owned();
    let refusal = |head: &str| {
        let req = request(head.as_bytes());
        assert!(req.asks_for_websocket(), "{head}");
        req.websocket_refusal().map(|(status, _)| status)
    };
    assert_eq!(refusal(&text), None);
    for version in ["8", "12", "14", "13, 8", ""] {
        let head = text.replace("Version: 13", &format!("Version: {version}"));
        assert_eq!(refusal(&head), Some(426), "{version:?}");
    }
    assert_eq!(
        refusal(&text.replace("Sec-WebSocket-Version: 13\r\n", "")),
        Some(426)
    );
    let keys = ["", "dGhlIHNhbXBsZQ==", "not base64 at all!!!!!!!"];
    for key in keys {
        let head = text.replace("dGhlIHNhbXBsZSBub25jZQ==", key);
        assert_eq!(refusal(&head), Some(400), "{key:?}");
    }
    let head = text.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    assert_eq!(refusal(&head), Some(400));
    let with_body = text.replace("\r\n\r\n", "\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(refusal(&with_body), Some(400));
    let chunked = text.replace("\r\n\r\n", "\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(error(chunked.as_bytes()), 400);
    // A POST with a chunked body is still one luna does not read.
    let post = chunked.replace("GET", "POST");
    assert_eq!(error(post.as_bytes()), 501);
}

#[test]
fn percent_decoding_is_strict() {
    assert_eq!(
        percent_decode("/a%20b%2F%2e+").as_deref(),
        Some(&b"/a b/.+"[..])
    );
    for bad in ["%", "%2", "%zz", "%+f", "%-1", "a%g0"] {
        assert_eq!(percent_decode(bad), None, "{bad}");
    }
}

/// xorshift64: enough randomness to mutate heads, no dev-dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn no_input_panics() {
    let small = Limits {
        max_head_size: 64,
        max_headers: 3,
        max_target_len: 16,
    };
    let seeds: [&[u8]; 3] = [
        UPGRADE,
        b"GET http://h/?q HTTP/1.0\n\n",
        b"OPTIONS * HTTP/1.1\r\n",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15;
    for seed in seeds {
        for end in 0..=seed.len() {
            let _ = parse_request(&seed[..end], &small);
        }
        for _ in 0..3000 {
            let mut head = seed.to_vec();
            for _ in 0..1 + next(&mut state) % 4 {
                let at = next(&mut state) as usize % head.len();
                head[at] = next(&mut state) as u8;
            }
            let end = next(&mut state) as usize % (head.len() + 1);
            for limits in [Limits::default(), small] {
                if let Ok(Parse::Complete(req, _)) = parse_request(&head[..end], &limits) {
                    let _ = (req.path(), req.query(), req.keep_alive());
                    let _ = (req.is_websocket_upgrade(), req.header("cookie"));
                }
            }
        }
    }
}
