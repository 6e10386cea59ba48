"""PKCS#11 URIs (RFC 7512): ``pkcs11:token=YubiKey%20PIV%20%2312345678;id=%01;type=private``.

A leaf: parsing and matching only, no card and no engine. The CLI takes a URI
wherever it names a token or a key (``--token pkcs11:serial=12345678``,
``--key "pkcs11:id=%01;type=private?pin-value=123456"``), as p11tool and
OpenSSL's pkcs11 provider do.

Path attributes (``;``-separated): ``token``, ``manufacturer``, ``serial``,
``model`` name a token (its CK_TOKEN_INFO); ``slot-id``, ``slot-description``,
``slot-manufacturer`` a slot; ``object`` (CKA_LABEL), ``id`` (CKA_ID, raw bytes)
and ``type`` (``cert``, ``data``, ``private``, ``public``, ``secret-key``) an
object; ``library-*`` the module (every cardki token matches cardki). Query
attributes (``&``-separated): ``pin-value``, ``pin-source`` (``file:`` paths),
``module-name``, ``module-path``. Values are percent-encoded UTF-8 (``id`` is
bytes). An attribute given twice, an unknown one (except RFC 7512's ``x-``
vendor attributes) or a bad encoding is a ValueError whose message names the
attribute, never its value (a URI may carry a PIN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, Mapping, Set, Tuple

SCHEME = "pkcs11:"

PATH_ATTRIBUTES = frozenset({"token", "manufacturer", "serial", "model", "library-manufacturer",
                             "library-description", "library-version", "object", "type", "id",
                             "slot-description", "slot-manufacturer", "slot-id"})
QUERY_ATTRIBUTES = frozenset({"pin-source", "pin-value", "module-name", "module-path"})
OBJECT_TYPES = frozenset({"cert", "data", "private", "public", "secret-key"})
#: The token's CK_TOKEN_INFO field (as the API's Token names it) each token attribute matches.
TOKEN_FIELDS: Mapping[str, str] = {"token": "label", "manufacturer": "manufacturer", "serial": "serial",
                                   "model": "model"}


def _percent_decode(text: str, name: str) -> bytes:
    out = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char == "%":
            pair = text[index + 1:index + 3]
            if len(pair) != 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
                raise ValueError(f"the URI's {name} has a bad percent-encoding")
            out.append(int(pair, 16))
            index += 3
            continue
        out += char.encode("utf-8")
        index += 1
    return bytes(out)


def _text(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"the URI's {name} is not UTF-8") from None


@dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed PKCS#11 URI: path attributes as text (``id`` as bytes), query attributes."""

    path: Dict[str, str] = field(default_factory=dict)
    id: bytes | None = None
    query: Dict[str, str] = field(default_factory=dict)

    @property
    def object_type(self) -> str | None:
        return self.path.get("type")

    @property
    def label(self) -> str | None:
        return self.path.get("object")

    @property
    def slot_id(self) -> int | None:
        value = self.path.get("slot-id")
        return int(value) if value is not None else None

    @property
    def names_token(self) -> bool:
        """Whether the URI says which token (or slot) it means."""
        return any(name in self.path for name in (*TOKEN_FIELDS, "slot-id", "slot-description",
                                                  "slot-manufacturer"))

    @property
    def names_object(self) -> bool:
        return self.id is not None or any(name in self.path for name in ("object", "type"))

    def matches_token(self, fields: Mapping[str, str]) -> bool:
        """Whether a token with these CK_TOKEN_INFO fields (``label``, ``manufacturer``,
        ``serial``, ``model``: blank padding stripped) is one the URI names."""
        return all(fields.get(TOKEN_FIELDS[name], "").strip() == value
                   for name, value in self.path.items() if name in TOKEN_FIELDS)

    def matches_slot(self, slot_id: int, description: str, manufacturer: str) -> bool:
        if self.slot_id is not None and self.slot_id != slot_id:
            return False
        if "slot-description" in self.path and self.path["slot-description"] != description.strip():
            return False
        return "slot-manufacturer" not in self.path or self.path["slot-manufacturer"] == manufacturer.strip()


def is_uri(text: str) -> bool:
    return text[:len(SCHEME)].lower() == SCHEME


def _attributes(part: str, separator: str, known: Iterable[str], kind: str) -> Iterator[Tuple[str, bytes]]:
    """The (name, percent-decoded value) pairs of the URI's path or query ``part``; vendor
    attributes (``x-``) are checked for form and skipped. ``kind`` names the part in errors."""
    seen: Set[str] = set()
    for item in (piece for piece in part.split(separator) if piece):
        name, equals, value = item.partition("=")
        if not equals:
            raise ValueError("a PKCS#11 URI attribute has the form name=value")
        if name not in known and not name.startswith("x-"):
            raise ValueError(f"unknown PKCS#11 URI {kind} {name!r}" if name.isascii() and name.isprintable()
                             else f"unknown PKCS#11 URI {kind}")
        if name in seen:
            raise ValueError(f"the URI gives {name} twice")
        seen.add(name)
        raw = _percent_decode(value, name)
        if not name.startswith("x-"):
            yield name, raw


def parse(text: str) -> Pkcs11Uri:
    """The URI ``text`` (it starts with ``pkcs11:``); ValueError naming what is wrong."""
    if not is_uri(text):
        raise ValueError("a PKCS#11 URI starts with 'pkcs11:'")
    body = text[len(SCHEME):]
    path_part, _, query_part = body.partition("?")
    path: Dict[str, str] = {}
    key_id: bytes | None = None
    for name, raw in _attributes(path_part, ";", PATH_ATTRIBUTES, "attribute"):
        if name == "id":
            key_id = raw
        else:
            path[name] = _text(raw, name)
    query = {name: _text(raw, name) for name, raw in _attributes(query_part, "&", QUERY_ATTRIBUTES, "query attribute")}
    if "type" in path and path["type"] not in OBJECT_TYPES:
        raise ValueError("the URI's type is one of cert, data, private, public, secret-key")
    if "slot-id" in path and not path["slot-id"].isdigit():
        raise ValueError("the URI's slot-id is a number")
    return Pkcs11Uri(path, key_id, query)


__all__ = ["Pkcs11Uri", "parse", "is_uri", "OBJECT_TYPES", "PATH_ATTRIBUTES", "QUERY_ATTRIBUTES"]
