"""Text from clients that no store or hash can take."""


def utf8_encodable(text: str) -> bool:
    """False for a lone surrogate: JSON's "\\ud800" parses to one, and a Python string holds it,
    but UTF-8 cannot encode it, so no database, BSON document or password hash takes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
