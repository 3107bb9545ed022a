//! Access log lines in the combined format nginx and Apache write (so log tools read them),
//! with the time taken appended: `ADDR - - [06/Dec/2026:10:36:00 +0000] "GET / HTTP/1.1" 200
//! 1234 "REFERER" "USER-AGENT" 0.002`. Anything a peer wrote is escaped, so a line is always
//! one line.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::request::Request;

/// One line for a request (`None`: a head too broken to parse) answered with `status` and
/// `bytes` of body, `took` after its head arrived.
pub(crate) fn line(
    client: IpAddr,
    when: SystemTime,
    request: Option<&Request>,
    status: u16,
    bytes: u64,
    took: Duration,
) -> String {
    let mut out = String::with_capacity(160);
    let _ = write!(out, "{client} - - [{}] \"", clf_time(when));
    match request {
        Some(r) => {
            escape_into(&mut out, &r.method);
            out.push(' ');
            escape_into(&mut out, &without_session_token(&r.target));
            let _ = write!(out, " HTTP/1.{}\"", r.minor_version);
        }
        None => out.push_str("-\""),
    }
    let _ = write!(out, " {status} {bytes} \"");
    let header = |name: &str| request.and_then(|r| r.header(name)).unwrap_or_default();
    escape_into(&mut out, &header("referer"));
    out.push_str("\" \"");
    escape_into(&mut out, &header("user-agent"));
    let _ = write!(out, "\" {:.3}", took.as_secs_f64());
    out
}

/// The target with the value of a `luna_session` query parameter (a resumable session's
/// token: a password) replaced by `-`.
fn without_session_token(target: &str) -> std::borrow::Cow<'_, str> {
    let Some((path, query)) = target.split_once('?') else {
        return target.into();
    };
    if !query
        .split('&')
        .any(|pair| pair.starts_with("luna_session="))
    {
        return target.into();
    }
    let query: Vec<&str> = query
        .split('&')
        .map(|pair| match pair.starts_with("luna_session=") {
            true => "luna_session=-",
            false => pair,
        })
        .collect();
    format!("{path}?{}", query.join("&")).into()
}

/// `"`, `\` and control characters as `\"`, `\\` and `\xHH`, as nginx escapes them.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02X}", u32::from(c) & 0xff);
            }
            c => out.push(c),
        }
    }
}

/// `06/Dec/2026:10:36:00 +0000` (UTC).
fn clf_time(when: SystemTime) -> String {
    let secs = when.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{parse_request, Limits, Parse};

    #[test]
    fn a_line_in_the_combined_format_with_the_time_taken() {
        let head = b"GET /a?b=\"c\" HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8 \"x\"\r\n\r\n";
        let Ok(Parse::Complete(request, _)) = parse_request(head, &Limits::default()) else {
            panic!()
        };
        let when = UNIX_EPOCH + Duration::from_secs(1_796_553_360); // 2026-12-06 10:36:00 UTC
        let text = line(
            "203.0.113.7".parse().unwrap(),
            when,
            Some(&request),
            200,
            1234,
            Duration::from_millis(2),
        );
        assert_eq!(
            text,
            "203.0.113.7 - - [06/Dec/2026:10:36:00 +0000] \"GET /a?b=\\\"c\\\" HTTP/1.1\" 200 1234 \
             \"\" \"curl/8 \\\"x\\\"\" 0.002"
        );
        let broken = line(
            "::1".parse().unwrap(),
            UNIX_EPOCH,
            None,
            400,
            12,
            Duration::ZERO,
        );
        assert_eq!(
            broken,
            "::1 - - [01/Jan/1970:00:00:00 +0000] \"-\" 400 12 \"\" \"\" 0.000"
        );
    }

    #[test]
    fn a_session_token_never_reaches_the_log() {
        assert_eq!(
            without_session_token("/chat?luna_resume=n&luna_session=secret&luna_received=4"),
            "/chat?luna_resume=n&luna_session=-&luna_received=4"
        );
        assert_eq!(without_session_token("/a?b=1"), "/a?b=1");
        assert_eq!(without_session_token("/a"), "/a");
    }

    #[test]
    fn dates_across_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_793), (2026, 12, 6));
    }
}
