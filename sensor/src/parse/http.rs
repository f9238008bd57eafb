//! HTTP/1.x fields of a TCP payload.

use traffic_core::Packet;

/// HTTP/1.x request line and headers, or a response's status, at the start of a TCP payload.
pub(super) fn http(payload: &[u8], packet: &mut Packet) {
    if payload.starts_with(b"HTTP/1.") {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if response.parse(payload).is_ok() {
            packet.http_status = response.code;
        }
        return;
    }
    // Cheap test first: requests start with an upper-case method and a space.
    let method_len = payload.iter().take(8).take_while(|b| b.is_ascii_uppercase()).count();
    if method_len < 3 || payload.get(method_len) != Some(&b' ') {
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    // A partial parse (headers continue in the next segment) still has the request line.
    if request.parse(payload).is_err() {
        return;
    }
    let bounded = |s: &str, max: usize| s.chars().take(max).collect::<String>();
    packet.http_method = request.method.map(|m| bounded(m, 32));
    packet.http_path = request.path.map(|p| bounded(p, 8192));
    for header in request.headers.iter().filter(|h| !h.name.is_empty()) {
        let value = || String::from_utf8_lossy(header.value).replace('\0', "");
        if header.name.eq_ignore_ascii_case("host") {
            packet.http_host = Some(bounded(&value(), 1024));
        } else if header.name.eq_ignore_ascii_case("user-agent") {
            packet.http_user_agent = Some(bounded(&value(), 1024));
        }
    }
}
