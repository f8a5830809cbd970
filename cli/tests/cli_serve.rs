//! `tollgate serve` as a process: the demo prints working curl commands,
//! SIGTERM stops it cleanly, and bad settings are refused before anything
//! listens.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::serving::Serving;

/// One HTTP/1.1 request; the response head and body as text.
fn http(addr: &str, head_lines: &[String]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut request = String::from("GET /auth HTTP/1.1\r\nHost: tollgate\r\nConnection: close\r\n");
    for line in head_lines {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// The `-H '...'` values of a printed curl command.
fn curl_headers(curl: &str) -> Vec<String> {
    curl.split(" -H '")
        .skip(1)
        .map(|part| part.split('\'').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_demo_answers_its_own_curl_commands_and_stops_on_sigterm() {
    let mut serving = Serving::start(
        Path::new("."),
        &["--demo", "--nginx", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
    );
    let listening = serving.line_with("nginx       decisions on ");
    let addr = listening.rsplit(' ').next().unwrap().to_string();
    let allowed = serving.line_with("X-Original-URI: /orders/1' -H 'Authorization");
    let forbidden_label = serving.line_with("Forbidden (403");
    assert!(forbidden_label.contains("insufficient_scope"));
    let unauthenticated = serving
        .line_with("curl -i -H 'X-Original-Method: GET' -H 'X-Original-URI: /orders/1' http");

    let answer = http(&addr, &curl_headers(&allowed));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("x-auth-principal: alice"), "{answer}");
    assert!(
        answer.contains("x-auth-email: alice@example.com"),
        "{answer}"
    );

    let answer = http(&addr, &curl_headers(&unauthenticated));
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("www-authenticate: Bearer\r\n"), "{answer}");

    // The forbidden command is the line after its label.
    let forbidden = {
        let index = serving
            .seen
            .iter()
            .position(|l| l == &forbidden_label)
            .unwrap();
        serving.seen[index + 1].clone()
    };
    let answer = http(&addr, &curl_headers(&forbidden));
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains(r#"scope="orders.read""#), "{answer}");

    let status = serving.terminate();
    assert!(status.success(), "exit {status:?}");
    assert!(
        serving
            .line_with("tollgate serve: stopped")
            .contains("stopped")
    );
    assert!(
        TcpStream::connect(&addr).is_err(),
        "still listening after SIGTERM"
    );
}

#[test]
fn bad_settings_are_refused_before_listening() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("serve")
            .args(args)
            .output()
            .expect("run")
    };
    let prefix = run(&[
        "--demo",
        "--header-prefix",
        "x auth ",
        "--nginx",
        "127.0.0.1:0",
    ]);
    assert_eq!(prefix.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&prefix.stderr).contains("not a valid header name"));

    let resource = run(&[
        "--demo",
        "--resource",
        "http://api.example.com",
        "--nginx",
        "127.0.0.1:0",
    ]);
    assert_eq!(resource.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&resource.stderr).contains("https"));

    let no_config = run(&["--nginx", "127.0.0.1:0"]);
    assert_eq!(no_config.status.code(), Some(2));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().unwrap().to_string();
    let busy = run(&["--demo", "--nginx", &port, "--no-admin"]);
    assert_eq!(busy.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("cannot listen on"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
}
