"""The wire validation in chatserver/protocol.py: every field is checked whole and bounded."""

from __future__ import annotations

import pytest

from chatserver import protocol
from chatserver.protocol import BAD_REQUEST, MAX_WIRE_INTEGER, ProtocolError


@pytest.mark.parametrize("client_msg_id", ["ok\n", "ok\r\n", "\nok", "a" * 64 + "\n", "o k"])
def test_a_client_msg_id_with_a_trailing_newline_or_space_is_refused(client_msg_id: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        protocol.parse_message({"text": "hi", "client_msg_id": client_msg_id}, with_chat_id=False)
    assert refused.value.code == BAD_REQUEST


def test_a_well_formed_client_msg_id_is_accepted() -> None:
    request = protocol.parse_message(
        {"text": "hi", "client_msg_id": "v-1.a:b_c"}, with_chat_id=False
    )
    assert request.client_msg_id == "v-1.a:b_c"


def test_a_helpline_id_with_a_trailing_newline_is_no_helpline() -> None:
    with pytest.raises(ProtocolError) as refused:
        protocol.parse_start({"helpline": "alpha\n"})
    assert refused.value.code == protocol.UNKNOWN_HELPLINE


@pytest.mark.parametrize("last_seq", [MAX_WIRE_INTEGER + 1, 2**63, 2**64 - 1, 10**30])
def test_a_visitor_last_seq_beyond_the_safe_integer_range_is_a_bad_request(last_seq: int) -> None:
    with pytest.raises(ProtocolError) as refused:
        protocol.parse_visitor_resume({"token": "t", "last_seq": last_seq})
    assert refused.value.code == BAD_REQUEST
    assert "last_seq" in refused.value.message and str(MAX_WIRE_INTEGER) in refused.value.message


@pytest.mark.parametrize("last_seq", [MAX_WIRE_INTEGER + 1, 2**63, 2**64 - 1])
def test_a_counselor_last_seq_beyond_the_safe_integer_range_is_a_bad_request(last_seq: int) -> None:
    with pytest.raises(ProtocolError) as refused:
        protocol.parse_counselor_resume({"last_seq": {"chat-1": last_seq}})
    assert refused.value.code == BAD_REQUEST


def test_the_largest_safe_last_seq_is_accepted() -> None:
    request = protocol.parse_visitor_resume({"token": "t", "last_seq": MAX_WIRE_INTEGER})
    assert request.last_seq == MAX_WIRE_INTEGER
    assert protocol.parse_counselor_resume({"last_seq": {"c": MAX_WIRE_INTEGER}}) == {
        "c": MAX_WIRE_INTEGER
    }
