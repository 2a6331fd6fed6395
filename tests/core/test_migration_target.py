"""The one target grammar, ``[USER@]HOST[:NAME]``, and its host-field reading ``[USER@]HOST[:PORT]``."""

from __future__ import annotations

import pytest

from ldtui.core.migration_target import MigrationTarget, Part, TargetError

T = MigrationTarget


@pytest.mark.parametrize("text,expected", [
    ("t5440-sys-2", T(host="t5440-sys-2")),
    ("root@t5440-sys-2:ldg-tgt", T(host="t5440-sys-2", user="root", name="ldg-tgt")),
    ("t5440-sys-2:1234", T(host="t5440-sys-2", name="1234")),           # all digits: still a name
    ("t5440-sys-2:0", T(host="t5440-sys-2", name="0")),
    ("[fd00::2]:new", T(host="fd00::2", name="new")),
    ("u@[::1]", T(host="::1", user="u")),
    ("u@[::1]:2201", T(host="::1", user="u", name="2201")),             # in brackets too: a name
    ("a.b_c-d@host.example.com", T(host="host.example.com", user="a.b_c-d")),
])
def test_an_operand_is_user_host_and_new_name(text, expected):
    assert T.parse(text) == expected
    assert T.parse(expected.format()) == expected


@pytest.mark.parametrize("text,part,message", [
    ("", Part.HOST, "Invalid target host: "),
    ("@host", Part.USER, "Invalid user name in target: @host"),
    ("us er@host", Part.USER, "Invalid user name in target: us er@host"),
    ("-me@host", Part.USER, "Invalid user name in target: -me@host"),
    ("a@b@host", Part.USER, "Invalid user name in target: a@b@host"),
    ("root@", Part.HOST, "Invalid target host: root@"),
    (":new", Part.HOST, "Invalid target host: :new"),
    ("-host", Part.HOST, "Invalid target host: -host"),
    ("[zz]", Part.HOST, "Invalid target host: [zz]"),
    ("[]:x", Part.HOST, "Invalid target host: []:x"),
    ("[::1", Part.HOST, "Invalid target host: [::1"),
    ("[::1]x", Part.SHAPE, "Invalid target: [::1]x (expected [user@]host[:ldom])"),
    ("host:", Part.NAME, "Invalid target domain name: host: (expected [user@]host[:ldom])"),
    ("host:a:b", Part.NAME, "Invalid target domain name: host:a:b (expected [user@]host[:ldom])"),
    ("[::1]:", Part.NAME, "Invalid target domain name: [::1]: (expected [user@]host[:ldom])"),
])
def test_a_malformed_operand_says_which_part(text, part, message):
    with pytest.raises(TargetError) as err:
        T.parse(text)
    assert (err.value.part, err.value.code, err.value.message) == (part, "bad-target", message)


@pytest.mark.parametrize("text,expected", [
    ("t5440-sys-2", T(host="t5440-sys-2")),
    ("root@t5440-sys-1:2201", T(host="t5440-sys-1", user="root", port=2201)),
    ("h:22", T(host="h", port=22)),
    ("root@[::1]:2201", T(host="::1", user="root", port=2201)),
    ("[fd00::2]", T(host="fd00::2")),
    ("fd00::2", T(host="fd00::2")),                                       # bare IPv6: no port
    ("@h", T(host="h")),                                                  # an empty user is not given
    ("root@", T(host="", user="root")),                                   # empty parts are the caller's
    ("", T(host="")),
])
def test_a_host_field_is_user_host_and_port(text, expected):
    assert T.parse_host_field(text) == expected


@pytest.mark.parametrize("text,value", [
    ("root@t5440-sys-2:ssh", "ssh"), ("h:", ""), ("h:0", "0"), ("h:65536", "65536"), ("h:1:2", "1:2"),
    ("[::1]:http", "http"), ("h:-1", "-1"),
])
def test_a_host_field_takes_only_a_port_after_the_colon(text, value):
    with pytest.raises(TargetError) as err:
        T.parse_host_field(text)
    assert (err.value.part, err.value.code, err.value.message, err.value.value) == (
        Part.PORT, "bad-port", f"Invalid port: {value}", value)


def test_format_writes_brackets_and_only_what_was_given():
    assert T(host="fd00::2", user="root", name="ldg-tgt").format() == "root@[fd00::2]:ldg-tgt"
    assert T(host="t5440-sys-1", port=2201).format() == "t5440-sys-1:2201"
    assert T(host="t5440-sys-1", user="").format() == "t5440-sys-1"


def test_a_value_built_field_by_field_is_held_to_the_grammar():
    assert T(host="t5440-sys-2", user="root", name="1234").check().name == "1234"
    with pytest.raises(TargetError) as err:
        T(host="t5440-sys-2", user="us er").check()
    assert err.value.message == "Invalid user name in target: us er@t5440-sys-2"
    with pytest.raises(TargetError) as err:
        T(host="b@h", user="a").check()
    assert err.value.part is Part.USER
    with pytest.raises(TargetError):
        T(host="h", name="a:b").check()
