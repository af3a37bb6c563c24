from common.text import utf8_encodable


def test_any_text_utf8_can_encode_is_encodable() -> None:
    assert utf8_encodable("")
    assert utf8_encodable("plain ascii")
    assert utf8_encodable("émigré 日本 😀 and a NUL \x00")


def test_a_lone_surrogate_is_not_encodable() -> None:
    assert not utf8_encodable("\ud800")
    assert not utf8_encodable("before \udfff after")
