//! DNS fields of a UDP or TCP payload.

use traffic_core::Packet;

/// DNS fields from the first question; a payload that is not DNS leaves them empty.
pub(super) fn dns(payload: &[u8], packet: &mut Packet) {
    let Ok(message) = simple_dns::Packet::parse(payload) else { return };
    let Some(question) = message.questions.first() else { return };
    packet.dns_query = Some(question.qname.to_string().replace('\0', ""));
    packet.dns_qtype = Some(u16::from(question.qtype));
    packet.dns_response = Some(message.has_flags(simple_dns::PacketFlag::RESPONSE));
    // The header's 4-bit RCODE (simple-dns folds in the EDNS extension, which can exceed 15).
    packet.dns_rcode = payload.get(3).map(|flags| flags & 0x0f);
    packet.dns_answer_count = Some(u16::try_from(message.answers.len()).unwrap_or(u16::MAX));
}
