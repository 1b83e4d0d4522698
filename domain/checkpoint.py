"""Signed notes, transparency-log checkpoints and checkpoint cosignatures (C2SP).

This module reads, writes, signs and verifies three small text formats, exactly as the
C2SP specifications define them:

- c2sp.org/signed-note: a text signed by one or more keys. A note is the text (ending in a
  newline), a blank line, then one signature line per key:
  "\u2014 <key name> <base64(key ID || signature)>\\n".
- c2sp.org/tlog-checkpoint: a note whose text states a Merkle tree head: the origin line,
  the tree size, the root hash, then optional extension lines.
- c2sp.org/tlog-cosignature (Ed25519 "cosignature/v1", signature type 0x04): a witness's
  timestamped signature over a checkpoint.

Only Ed25519 is supported: signature type 0x01 (plain note signatures) and 0x04
(cosignatures). Signatures of any other type are kept when a note is parsed, but no key of
ours can verify them, so they are ignored, as the specification requires.

The Go implementations were followed where the specifications leave a choice:
golang.org/x/mod/sumdb/note (verifier and signer key strings, the "PRIVATE+KEY+" encoding)
and github.com/transparency-dev/formats/note (cosignature keys encoded with type 0x04).
This module is stricter than them on a few points, each marked "Stricter" below.

Section references are to the Markdown files of github.com/C2SP/C2SP.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "Kind",
    "Note",
    "NoteError",
    "Signature",
    "Signer",
    "Verifier",
    "cosignature_message",
    "verified_by",
]

Kind = Literal["ed25519", "cosignature"]

# signed-note.md, "Signature types": the byte that identifies the signature algorithm. It is
# hashed into the key ID and is the first byte of an encoded key.
TYPE_BYTES: dict[Kind, int] = {"ed25519": 0x01, "cosignature": 0x04}
KINDS_BY_TYPE_BYTE: dict[int, Kind] = {byte: kind for kind, byte in TYPE_BYTES.items()}

# signed-note.md, "Format": each signature line starts with an em dash (U+2014) and a space.
SIGNATURE_PREFIX = "\u2014 "

# signed-note.md, "Format": verifiers SHOULD limit the number of signatures (or the size of
# the note) and MUST accept at least 16 signatures. 100 is the limit of golang.org/x/mod.
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20  # 1 MiB, counted in UTF-8 bytes

KEY_ID_SIZE = 4  # signed-note.md, "Signatures": a 32-bit key ID
ED25519_KEY_SIZE = 32  # RFC 8032: public keys and private seeds are 32 bytes
ED25519_SIGNATURE_SIZE = 64  # RFC 8032
TIMESTAMP_SIZE = 8  # tlog-cosignature.md, "Format": u64 timestamp, big-endian
MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature.md: the timestamp MUST NOT exceed 2^63 - 1
ROOT_HASH_SIZE = 32  # tlog-checkpoint.md: an RFC 6962 (SHA-256) Merkle tree hash
MAX_TREE_SIZE = 2**64 - 1  # Stricter: the Go implementations read the size as a uint64

PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"  # golang.org/x/mod/sumdb/note: encoded signer keys

_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")  # signed-note.md: fixed-length lowercase hex
_DECIMAL = re.compile(r"0|[1-9][0-9]*")  # ASCII digits, no leading zeros


class NoteError(ValueError):
    """A malformed note, key, signature or checkpoint; the message says what is wrong."""


# ---- Checks shared by every format -------------------------------------------------------


def _check_name(name: str) -> None:
    """Refuse a key name the signed-note spec forbids.

    signed-note.md, "Format": key names MUST be non-empty and MUST NOT contain Unicode
    spaces or plus (U+002B). Stricter: every character must also be printable (no control,
    format or unassigned characters), so that a name reads the same to every reviewer.
    """
    if not isinstance(name, str) or not name:
        raise NoteError("a key name must be a non-empty string")
    for char in name:
        if char == "+" or char.isspace() or not char.isprintable():
            raise NoteError(f"key name {name!r} contains {char!r}: no spaces, '+' or controls")


def _check_text(text: str, what: str) -> None:
    """Refuse text a signed note may not contain, or too much of it.

    signed-note.md, "Format": signed notes MUST be valid UTF-8 and MUST NOT contain ASCII
    control characters (those below U+0020) other than newline.
    """
    if not isinstance(text, str):
        raise NoteError(f"{what} must be a string")
    if len(text) > MAX_NOTE_BYTES:  # cheap test first: a character is at least one byte
        raise NoteError(f"{what} is larger than {MAX_NOTE_BYTES} bytes")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate has no UTF-8 encoding
        raise NoteError(f"{what} is not valid UTF-8") from exc
    if size > MAX_NOTE_BYTES:
        raise NoteError(f"{what} is larger than {MAX_NOTE_BYTES} bytes")
    for char in text:
        if char < " " and char != "\n":
            raise NoteError(f"{what} contains the control character {char!r}")


def _decode_base64(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 section 4, with padding), as every C2SP format uses.

    Stricter: only the canonical encoding is accepted (RFC 4648 section 3.5 allows a
    decoder to refuse non-zero padding bits), so each value has exactly one spelling.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc
    if _encode_base64(raw) != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _encode_base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key_id(name: str, kind: Kind, public_key: bytes) -> bytes:
    """signed-note.md, "Signatures", and tlog-cosignature.md, "Format":
    key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]."""
    encoded_key = bytes([TYPE_BYTES[kind]]) + public_key
    return hashlib.sha256(name.encode("utf-8") + b"\n" + encoded_key).digest()[:KEY_ID_SIZE]


def _check_kind(kind: str) -> None:
    if kind not in TYPE_BYTES:
        raise NoteError(f"unknown key kind {kind!r}: expected 'ed25519' or 'cosignature'")


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise NoteError("a cosignature timestamp must be an integer")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is outside 0 .. 2^63-1")


def _decode_key_string(text: str, what: str) -> tuple[str, bytes, Kind, bytes]:
    """Split "<name>+<hex key ID>+<base64(type || key)>" (signed-note.md, "Verifier keys").

    The name and the hex key ID cannot contain "+", but base64 can: split twice only.
    Returns the name, the key ID, the kind and the 32 key bytes.
    """
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"{what} must have the form <name>+<hex key ID>+<base64 key>")
    name, key_id_hex, key_base64 = parts
    _check_name(name)
    if not _HEX_KEY_ID.fullmatch(key_id_hex):
        raise NoteError(f"{what}: the key ID must be 8 lowercase hex digits")
    encoded = _decode_base64(key_base64, f"{what} key")
    if not encoded:
        raise NoteError(f"{what}: the key is empty")
    kind = KINDS_BY_TYPE_BYTE.get(encoded[0])
    if kind is None:
        raise NoteError(f"{what}: unsupported signature type 0x{encoded[0]:02x}")
    key = encoded[1:]
    if len(key) != ED25519_KEY_SIZE:
        raise NoteError(f"{what}: an Ed25519 key is {ED25519_KEY_SIZE} bytes, not {len(key)}")
    return name, bytes.fromhex(key_id_hex), kind, key


# ---- Checkpoints (tlog-checkpoint.md) ----------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The text of a checkpoint note: a log's Merkle tree head (tlog-checkpoint.md)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # "Note text", item 1: the origin MUST be non-empty. It SHOULD look like a key name,
        # but clients MUST NOT assume so: only the note's own text rules apply to it.
        if not isinstance(self.origin, str) or not self.origin:
            raise NoteError("the checkpoint origin must be a non-empty string")
        _check_line(self.origin, "the checkpoint origin")
        # Item 2: the number of leaves in the tree.
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise NoteError("the checkpoint tree size must be an integer")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteError(f"checkpoint tree size {self.size} is outside 0 .. 2^64-1")
        # Item 3: the RFC 6962 root hash, which is a SHA-256 hash.
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_HASH_SIZE:
            raise NoteError(f"the checkpoint root hash must be {ROOT_HASH_SIZE} bytes")
        # Item 4: extension lines, if any, MUST be non-empty.
        if not isinstance(self.extensions, tuple):
            raise NoteError("checkpoint extensions must be a tuple of lines")
        for line in self.extensions:
            if not isinstance(line, str) or not line:
                raise NoteError("a checkpoint extension line must be a non-empty string")
            _check_line(line, "a checkpoint extension line")

    def body(self) -> str:
        """The note text: origin, decimal size, base64 root hash, extensions; each + "\\n"."""
        lines = [self.origin, str(self.size), _encode_base64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Read a checkpoint from a note's text (which includes its final newline)."""
        _check_text(body, "the checkpoint")
        # "Note text": at least three non-empty lines, each ending in a newline.
        if not body.endswith("\n"):
            raise NoteError("the checkpoint does not end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("a checkpoint has at least three lines: origin, size, root hash")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise NoteError("the checkpoint origin line is empty")
        # Item 2: ASCII decimal with no leading zeros (so "0" only for the empty tree).
        if not _DECIMAL.fullmatch(size_text):
            raise NoteError(f"checkpoint tree size {size_text!r} is not a canonical decimal")
        if len(size_text) > len(str(MAX_TREE_SIZE)):
            raise NoteError("the checkpoint tree size is too large")
        root = _decode_base64(root_text, "the checkpoint root hash")
        for line in extensions:
            if not line:
                raise NoteError("a checkpoint extension line is empty")
        return cls(origin, int(size_text), root, tuple(extensions))


def _check_line(line: str, what: str) -> None:
    """A line of note text: no newline inside, no other control character."""
    if "\n" in line:
        raise NoteError(f"{what} contains a newline")
    _check_text(line, what)


# ---- Signed notes (signed-note.md) -------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: "\u2014 <name> <base64(key ID || payload)>"."""

    name: str
    key_id: bytes
    # What follows the key ID: an Ed25519 signature (type 0x01), or timestamp || signature
    # (cosignature, type 0x04), or the bytes of a signature type this module does not know.
    payload: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_SIZE:
            raise NoteError(f"a key ID is {KEY_ID_SIZE} bytes")
        # signed-note.md, "Format": a signature is the base64 of 4+n bytes; like Go, n >= 1.
        if not isinstance(self.payload, bytes) or not self.payload:
            raise NoteError("a signature must not be empty")

    def line(self) -> str:
        """The signature line, including its final newline."""
        encoded = _encode_base64(self.key_id + self.payload)
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}\n"

    @classmethod
    def parse(cls, line: str) -> Signature:
        """Read one signature line (without its final newline)."""
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"unexpected line in the signature block: {line[:80]!r}")
        name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not space:
            raise NoteError(f"signature line without a signature: {line[:80]!r}")
        _check_name(name)
        raw = _decode_base64(encoded, f"the signature of {name}")
        if len(raw) <= KEY_ID_SIZE:
            raise NoteError(f"the signature of {name} is too short")
        return cls(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


@dataclass(frozen=True)
class Note:
    """A signed note: its text (the body) and one or more signatures."""

    body: str
    signatures: tuple[Signature, ...]

    def __post_init__(self) -> None:
        # signed-note.md, "Format": a text ending in newline, no control characters.
        _check_text(self.body, "the note text")
        if not self.body.endswith("\n"):
            raise NoteError("the note text must end with a newline")
        # "Format": one or more signature lines; "Format": a limit on their number.
        if not isinstance(self.signatures, tuple) or not all(
            isinstance(signature, Signature) for signature in self.signatures
        ):
            raise NoteError("the signatures must be a tuple of Signature")
        if not self.signatures:
            raise NoteError("a note needs at least one signature")
        if len(self.signatures) > MAX_SIGNATURES:
            raise NoteError(f"a note may have at most {MAX_SIGNATURES} signatures")
        # Stricter: golang.org/x/mod drops repeated signatures by one key; we refuse the
        # note, since two different lines for one (name, key ID) are ambiguous.
        seen: set[tuple[str, bytes]] = set()
        for signature in self.signatures:
            key = (signature.name, signature.key_id)
            if key in seen:
                raise NoteError(f"two signatures by key {signature.name}+{signature.key_id.hex()}")
            seen.add(key)

    def text(self) -> str:
        """The whole signed note: body, blank line, signature lines."""
        return self.body + "\n" + "".join(signature.line() for signature in self.signatures)

    @classmethod
    def parse(cls, text: str | bytes) -> Note:
        """Read a signed note. Bytes must be UTF-8. Signatures are parsed, not verified."""
        if isinstance(text, bytes):
            if len(text) > MAX_NOTE_BYTES:
                raise NoteError(f"the note is larger than {MAX_NOTE_BYTES} bytes")
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NoteError("the note is not valid UTF-8") from exc
        _check_text(text, "the note")
        # signed-note.md, "Format": the text is separated from the signatures by the last
        # empty line; the text keeps its final newline but not the blank line.
        split = text.rfind("\n\n")
        if split < 0:
            raise NoteError("the note has no blank line before its signatures")
        body, block = text[: split + 1], text[split + 2 :]
        if not block:
            raise NoteError("the note has no signatures")
        if not block.endswith("\n"):
            raise NoteError("the last signature line does not end with a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise NoteError(f"a note may have at most {MAX_SIGNATURES} signatures")
        return cls(body, tuple(Signature.parse(line) for line in lines))

    def with_signature(self, signature: Signature) -> Note:
        """This note with one more signature, unless that key (name, key ID) already signed."""
        for existing in self.signatures:
            if (existing.name, existing.key_id) == (signature.name, signature.key_id):
                return self
        return Note(self.body, (*self.signatures, signature))


# ---- Cosignatures (tlog-cosignature.md) --------------------------------------------------


def cosignature_message(timestamp: int, checkpoint_body: str) -> bytes:
    """The message an Ed25519 cosigner signs (tlog-cosignature.md, "Ed25519 signed message").

    "cosignature/v1\\n", then "time <decimal timestamp, no leading zeros>\\n", then the
    whole checkpoint text including its final newline and any extension lines.
    """
    _check_timestamp(timestamp)
    Checkpoint.parse(checkpoint_body)  # a cosignature is only ever over a checkpoint
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_body}".encode()


# ---- Keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A public key that checks one named signer's signatures on notes."""

    name: str
    kind: Kind  # "ed25519": type 0x01; "cosignature": type 0x04
    public_key: bytes  # 32-byte Ed25519 public key (RFC 8032)

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_kind(self.kind)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_KEY_SIZE:
            raise NoteError(f"an Ed25519 public key is {ED25519_KEY_SIZE} bytes")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID that this key's signature lines carry."""
        return _key_id(self.name, self.kind, self.public_key)

    def encode(self) -> str:
        """The verifier key string: <name>+<hex key ID>+<base64(type byte || public key)>."""
        encoded_key = bytes([TYPE_BYTES[self.kind]]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{_encode_base64(encoded_key)}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Read a verifier key string, checking that its key ID matches the key."""
        name, key_id, kind, public_key = _decode_key_string(text, "verifier key")
        verifier = cls(name, kind, public_key)
        if verifier.key_id != key_id:
            raise NoteError("verifier key: the key ID does not match the name and key")
        return verifier

    def verify(self, note: Note) -> Signature | None:
        """This key's signature on the note if it is present and valid, else None.

        A cosignature key checks the timestamped signature over the cosignature/v1 message
        of the note's text, which must be a checkpoint.
        """
        for signature in note.signatures:
            # signed-note.md, "Signatures": the (name, key ID) pair identifies the key.
            if (signature.name, signature.key_id) == (self.name, self.key_id):
                return signature if self._is_valid(note.body, signature.payload) else None
        return None

    def verify_timestamp(self, note: Note) -> int | None:
        """The signed POSIX timestamp of this cosigner's valid cosignature, else None."""
        if self.kind != "cosignature":
            raise NoteError(f"{self.name} is not a cosignature key: its signatures have no time")
        signature = self.verify(note)
        if signature is None:
            return None
        return int.from_bytes(signature.payload[:TIMESTAMP_SIZE], "big")

    def _is_valid(self, body: str, payload: bytes) -> bool:
        key = Ed25519PublicKey.from_public_bytes(self.public_key)
        if self.kind == "ed25519":
            # signed-note.md, "Ed25519 signatures": RFC 8032 over the note text.
            message = body.encode("utf-8")
            ed25519_signature = payload
        else:
            # tlog-cosignature.md, "Format": timestamped_signature = u64 timestamp
            # (big-endian) || 64-byte Ed25519 signature.
            if len(payload) != TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
                return False
            timestamp = int.from_bytes(payload[:TIMESTAMP_SIZE], "big")
            try:
                message = cosignature_message(timestamp, body)
            except NoteError:  # a timestamp above 2^63-1, or a text that is no checkpoint
                return False
            ed25519_signature = payload[TIMESTAMP_SIZE:]
        if len(ed25519_signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            key.verify(ed25519_signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key that signs notes (kind "ed25519") or cosigns checkpoints ("cosignature")."""

    name: str
    kind: Kind
    private_key: bytes = field(repr=False)  # 32-byte Ed25519 seed (RFC 8032); keep secret

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_kind(self.kind)
        if not isinstance(self.private_key, bytes) or len(self.private_key) != ED25519_KEY_SIZE:
            raise NoteError(f"an Ed25519 private key seed is {ED25519_KEY_SIZE} bytes")

    @classmethod
    def generate(cls, name: str, kind: Kind = "ed25519") -> Signer:
        """A new random key."""
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, kind, seed)

    def encode(self) -> str:
        """The secret signer key string (golang.org/x/mod/sumdb/note):
        PRIVATE+KEY+<name>+<hex key ID>+<base64(type byte || 32-byte seed)>.

        The key ID is the public key's; a cosignature key uses type byte 0x04, as
        github.com/transparency-dev/formats/note reads it.
        """
        encoded_key = bytes([TYPE_BYTES[self.kind]]) + self.private_key
        key_id = self.verifier().key_id.hex()
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{key_id}+{_encode_base64(encoded_key)}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        """Read a signer key string, checking that its key ID matches the derived public key."""
        if not text.startswith(PRIVATE_KEY_PREFIX):
            raise NoteError("a signer key starts with PRIVATE+KEY+")
        name, key_id, kind, seed = _decode_key_string(text[len(PRIVATE_KEY_PREFIX) :], "signer key")
        signer = cls(name, kind, seed)
        if signer.verifier().key_id != key_id:
            raise NoteError("signer key: the key ID does not match the name and key")
        return signer

    def verifier(self) -> Verifier:
        """The matching public key."""
        private = Ed25519PrivateKey.from_private_bytes(self.private_key)
        return Verifier(self.name, self.kind, private.public_key().public_bytes_raw())

    def sign(self, note_body: str, *, timestamp: int | None = None) -> Signature:
        """Sign a note text. A cosignature needs a timestamp and a checkpoint text."""
        _check_text(note_body, "the note text")
        if not note_body.endswith("\n"):
            raise NoteError("the note text must end with a newline")
        private = Ed25519PrivateKey.from_private_bytes(self.private_key)
        key_id = self.verifier().key_id
        if self.kind == "ed25519":
            if timestamp is not None:
                raise NoteError("a plain Ed25519 note signature carries no timestamp")
            # signed-note.md, "Ed25519 signatures": RFC 8032 over the note text.
            return Signature(self.name, key_id, private.sign(note_body.encode("utf-8")))
        if timestamp is None:
            raise NoteError("a cosignature needs a timestamp")
        # tlog-cosignature.md: timestamp (u64, big-endian) || signature of the message.
        message = cosignature_message(timestamp, note_body)
        payload = timestamp.to_bytes(TIMESTAMP_SIZE, "big") + private.sign(message)
        return Signature(self.name, key_id, payload)


def verified_by(note: Note, verifiers: Sequence[Verifier]) -> list[str]:
    """Names of the given keys that validly signed the note, in the order given.

    Signatures by keys not in `verifiers` are ignored (signed-note.md, "Signatures": they
    MUST be). A signature by a given key that fails to verify raises NoteError, since the
    spec says clients SHOULD then reject the whole note. An empty list means no given key
    signed: the caller MUST then reject the note.
    """
    names: list[str] = []
    for verifier in verifiers:
        signed = any(
            (signature.name, signature.key_id) == (verifier.name, verifier.key_id)
            for signature in note.signatures
        )
        if not signed:
            continue
        if verifier.verify(note) is None:
            raise NoteError(f"invalid signature for key {verifier.name}+{verifier.key_id.hex()}")
        if verifier.name not in names:
            names.append(verifier.name)
    return names
