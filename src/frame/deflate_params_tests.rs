//! The permessage-deflate negotiation on offer and answer strings.
use super::*;

fn bits(server: u8, client: u8) -> Settings {
    Settings {
        server_max_window_bits: server,
        client_max_window_bits: client,
        ..Settings::default()
    }
}

#[test]
fn offers_are_parsed_in_order() {
    let offers = parse_offers(
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10, \
         x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover",
    );
    let first = Params {
        server_max_window_bits: Some(10),
        client_max_window_bits: ClientWindow::AnySize,
        ..Params::default()
    };
    let second = Params {
        client_no_context_takeover: true,
        ..Params::default()
    };
    assert_eq!(offers, [first, second]);
}

#[test]
fn quoted_values_are_accepted() {
    let offers = parse_offers("permessage-deflate; client_max_window_bits=\"10\"");
    assert_eq!(offers[0].client_max_window_bits, ClientWindow::AtMost(10));
}

#[test]
fn bad_offers_are_declined_and_the_next_is_used() {
    for bad in [
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=08",
        "permessage-deflate; client_max_window_bits=1x",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; =10",
    ] {
        assert_eq!(parse_offers(bad), [], "{bad}");
        let offers = parse_offers(&format!("{bad}, permessage-deflate"));
        assert_eq!(offers, [Params::default()], "{bad}");
    }
    // An unclosed quote runs to the end of the value, taking the later offers with it.
    assert_eq!(
        parse_offers("permessage-deflate; a=\"1, permessage-deflate"),
        []
    );
}

#[test]
fn the_server_accepts_a_browser_offer() {
    let offers = parse_offers("permessage-deflate; client_max_window_bits");
    let agreed = accept(&offers, &Settings::default()).unwrap();
    assert_eq!(agreed.header, "permessage-deflate");
    assert_eq!(
        (agreed.server_max_window_bits, agreed.client_max_window_bits),
        (15, 15)
    );
    let agreed = accept(&offers, &bits(12, 10)).unwrap();
    let header = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10";
    assert_eq!(agreed.header, header);
}

#[test]
fn the_server_answers_every_parameter() {
    let offers = parse_offers(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=11; client_max_window_bits=13",
    );
    let agreed = accept(&offers, &bits(12, 9)).unwrap();
    assert_eq!(
        agreed.header,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=11; client_max_window_bits=9"
    );
    let agreed = accept(
        &parse_offers("permessage-deflate; server_max_window_bits=15"),
        &bits(15, 15),
    );
    assert_eq!(
        agreed.unwrap().header,
        "permessage-deflate; server_max_window_bits=15"
    );
}

#[test]
fn the_server_keeps_its_own_choices() {
    let shared = Settings {
        server_no_context_takeover: true,
        ..Settings::default()
    };
    let agreed = accept(&parse_offers("permessage-deflate"), &shared).unwrap();
    assert_eq!(
        agreed.header,
        "permessage-deflate; server_no_context_takeover"
    );
    // Without client_max_window_bits in the offer, the client's window stays 15.
    let agreed = accept(&parse_offers("permessage-deflate"), &bits(15, 10)).unwrap();
    assert_eq!(
        (agreed.client_max_window_bits, agreed.header.as_str()),
        (15, "permessage-deflate")
    );
}

#[test]
fn the_server_declines_what_it_cannot_honour() {
    let offers = parse_offers("permessage-deflate; server_max_window_bits=8");
    assert_eq!(accept(&offers, &Settings::default()), None);
    let offers = parse_offers(
        "permessage-deflate; server_max_window_bits=8, \
         permessage-deflate; server_max_window_bits=9",
    );
    let agreed = accept(&offers, &Settings::default()).unwrap();
    assert_eq!(
        agreed.header,
        "permessage-deflate; server_max_window_bits=9"
    );
    assert_eq!(
        accept(&parse_offers("x-custom; a=1"), &Settings::default()),
        None
    );
    assert_eq!(accept(&[], &Settings::default()), None);
}

#[test]
fn the_client_offers_its_settings() {
    assert_eq!(
        offer(&Settings::default()),
        "permessage-deflate; client_max_window_bits"
    );
    let all = Settings {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 10,
        client_max_window_bits: 12,
    };
    assert_eq!(
        offer(&all),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=12"
    );
    // Our own offer parses as one valid offer.
    assert_eq!(parse_offers(&offer(&all)).len(), 1);
}

#[test]
fn the_client_accepts_valid_responses() {
    let ours = Settings::default();
    assert_eq!(check_response("", &ours), Ok(None));
    let agreed = check_response("permessage-deflate", &ours)
        .unwrap()
        .unwrap();
    assert_eq!(
        (agreed.server_max_window_bits, agreed.client_max_window_bits),
        (15, 15)
    );
    let response = "permessage-deflate; server_no_context_takeover; client_max_window_bits=10";
    let agreed = check_response(response, &ours).unwrap().unwrap();
    assert!(
        agreed.server_no_context_takeover,
        "allowed unasked (erratum 4982)"
    );
    assert_eq!(agreed.client_max_window_bits, 10);
    let agreed = check_response(
        "permessage-deflate; server_max_window_bits=9",
        &bits(10, 15),
    );
    assert_eq!(agreed.unwrap().unwrap().server_max_window_bits, 9);
}

#[test]
fn the_client_refuses_what_the_rfc_says_it_must() {
    let ours = Settings::default();
    for bad in [
        "x-webkit-deflate-frame",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; foo",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate; server_no_context_takeover=yes",
    ] {
        assert!(check_response(bad, &ours).is_err(), "{bad}");
    }
    let limited = bits(10, 15);
    assert!(check_response("permessage-deflate; server_max_window_bits=11", &limited).is_err());
    assert!(
        check_response("permessage-deflate", &limited).is_err(),
        "limit ignored"
    );
}
