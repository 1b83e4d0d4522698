"""Signed notes, checkpoints and cosignatures (domain.checkpoint) against published vectors.

Expected values are copied, never computed here, from:
- golang.org/x/mod, sumdb/note/note_test.go (github.com/golang/mod at
  fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db): the PeterNeumann / EnochRoot keys and notes;
- github.com/C2SP/C2SP at 5ba5ee830903e91240fc6f9f3a7a9293d49e69c9: the examples in
  signed-note.md, tlog-checkpoint.md and tlog-cosignature.md;
- github.com/transparency-dev/formats at 0b850f1a7b4a5b70deeacac6535e4b8023809d21:
  log/note_test.go (a real sum.golang.org checkpoint), note/note_cosigv1_test.go (verifier
  keys, a cosignature), witness/witness_test.go (signer / verifier key pairs);
- github.com/FiloSottile/sunlight at ed0bc38779aeb73c99cee6ab0c294a6ce9a2d9ba:
  cmd/skylight/testdata (checkpoints cosigned with Ed25519 cosignature/v1 keys derived from
  fixed seeds at a fixed time by cmd/skylight/testdata/gen.go, via filippo.io/torchwood).
"""

from __future__ import annotations

import hashlib

import pytest

from domain.checkpoint import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    Kind,
    Note,
    NoteError,
    Signature,
    Signer,
    Verifier,
    cosignature_message,
    verified_by,
)

DASH = "\u2014"  # EM DASH, which starts every signature line

# ---- golang.org/x/mod sumdb/note/note_test.go --------------------------------------------

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    f"{DASH} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
    "dngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{DASH} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
    "wnWLox33WWd1RvMc+QQ=\n"
)


def go_splice(text: str, at: int, insert: str) -> str:
    """Go's text[:at] + insert + text[at:], where Go indexes strings by UTF-8 byte."""
    raw = text.encode()
    return (raw[:at] + insert.encode() + raw[at:]).decode()


def test_go_verifier_key_parses_and_encodes_back() -> None:
    verifier = Verifier.parse(PETER_VKEY)
    assert (verifier.name, verifier.kind, verifier.key_id.hex()) == (
        "PeterNeumann",
        "ed25519",
        "c74f20a3",
    )
    assert verifier.encode() == PETER_VKEY


def test_go_verifier_key_manglings_are_refused() -> None:
    # TestNewVerifier: every proper substring, and every one-byte increment, fails.
    for start in range(len(PETER_VKEY) + 1):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    Verifier.parse(PETER_VKEY[start:end])
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            Verifier.parse(mangled)
    bad_keys = [
        # wrong length key, with adjusted key hash
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        # unknown algorithm, with adjusted key hash
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]
    for key in bad_keys:
        with pytest.raises(NoteError):
            Verifier.parse(key)


def test_go_signer_key_manglings_are_refused() -> None:
    # TestNewSigner
    Signer.parse(PETER_SKEY)
    for start in range(len(PETER_SKEY) + 1):
        for end in range(start + 1, len(PETER_SKEY) + 1):
            if (start, end) != (0, len(PETER_SKEY)):
                with pytest.raises(NoteError):
                    Signer.parse(PETER_SKEY[start:end])
    for i in range(len(PETER_SKEY)):
        mangled = PETER_SKEY[:i] + chr(ord(PETER_SKEY[i]) + 1) + PETER_SKEY[i + 1 :]
        with pytest.raises(NoteError):
            Signer.parse(mangled)


def test_go_signer_key_gives_the_verifier_key() -> None:
    signer = Signer.parse(PETER_SKEY)
    assert signer.encode() == PETER_SKEY
    assert signer.verifier().encode() == PETER_VKEY


def test_go_sign_gives_the_published_signature() -> None:
    # TestSign: Ed25519 is deterministic, so the signature line is fixed.
    signature = Signer.parse(PETER_SKEY).sign(GO_TEXT)
    assert signature.line() == PETER_SIG
    want = GO_TEXT + "\n" + PETER_SIG
    assert Note(GO_TEXT, (signature,)).text() == want


def test_go_sign_refuses_text_without_final_newline() -> None:
    signer = Signer.parse(PETER_SKEY)
    with pytest.raises(NoteError):
        signer.sign("abc")
    with pytest.raises(NoteError):
        Note("abc", (signer.sign(GO_TEXT),))


def test_go_open_one_key_known() -> None:
    # TestOpen, "Check one signature verified, one not."
    note = Note.parse(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert note.body == GO_TEXT
    assert [(s.name, s.key_id.hex()) for s in note.signatures] == [
        ("PeterNeumann", "c74f20a3"),
        ("EnochRoot", "af0cfe78"),
    ]
    assert note.text() == GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert verified_by(note, [Verifier.parse(PETER_VKEY)]) == ["PeterNeumann"]
    assert Verifier.parse(ENOCH_VKEY).verify(note) == note.signatures[1]


def test_go_open_both_keys_known_and_none_known() -> None:
    note = Note.parse(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    both = [Verifier.parse(PETER_VKEY), Verifier.parse(ENOCH_VKEY)]
    assert verified_by(note, both) == ["PeterNeumann", "EnochRoot"]
    assert verified_by(note, []) == []


def test_go_open_invalid_signature_of_a_known_key() -> None:
    # TestOpen, "Invalid signature.": the key is known, its signature does not verify.
    note = Note.parse(GO_TEXT + "\n" + go_splice(PETER_SIG, 60, "ABCD"))
    peter = Verifier.parse(PETER_VKEY)
    assert peter.verify(note) is None
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        verified_by(note, [peter])


@pytest.mark.parametrize(
    "message",
    [
        # TestOpen, "Invalid encoded message syntax."
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(),
        GO_TEXT
        + "\n"
        + f"{DASH} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
        + "dngotpRZb6KE6RyyBwJnAM=",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
)
def test_go_malformed_notes_are_refused(message: str | bytes) -> None:
    with pytest.raises(NoteError):
        Note.parse(message)


def test_go_bad_name_in_a_signature_is_refused() -> None:
    with pytest.raises(NoteError):
        Signature("a+b", bytes(4), b"\x00")


# ---- C2SP specifications -----------------------------------------------------------------

# signed-note.md, "Verifier keys", "Example"
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n"
    "\n"
    f"{DASH} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYj"
    "OBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# tlog-checkpoint.md and tlog-cosignature.md (keys not published: parsed, not verified)
SPEC_CHECKPOINT_BODY = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SPEC_COSIGNED = (
    SPEC_CHECKPOINT_BODY
    + "\n"
    + f"{DASH} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN"
    + "7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    + f"{DASH} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9"
    + "dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def test_spec_signed_note_example_verifies() -> None:
    note = Note.parse(SPEC_NOTE)
    verifier = Verifier.parse(SPEC_VKEY)
    assert note.body == "This is an example message.\n"
    assert verifier.key_id.hex() == "530d903a"
    assert verified_by(note, [verifier]) == ["example.com/foo"]


def test_spec_checkpoint_example_parses() -> None:
    checkpoint = Checkpoint.parse(SPEC_CHECKPOINT_BODY)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert len(checkpoint.root) == 32
    assert checkpoint.extensions == ()
    assert checkpoint.body() == SPEC_CHECKPOINT_BODY


def test_spec_cosignature_message_example() -> None:
    # tlog-cosignature.md, "Ed25519 signed message"
    expected = (
        "cosignature/v1\n"
        "time 1679315147\n"
        "example.com/behind-the-sofa\n"
        "20852163\n"
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert cosignature_message(1679315147, SPEC_CHECKPOINT_BODY) == expected.encode()


def test_spec_cosigned_checkpoint_example_parses() -> None:
    note = Note.parse(SPEC_COSIGNED)
    assert note.body == SPEC_CHECKPOINT_BODY
    log, witness = note.signatures
    assert (log.name, len(log.payload)) == ("example.com/behind-the-sofa", 64)
    # key ID (4) || timestamp (8) || Ed25519 signature (64); the time of the message example
    assert (witness.name, len(witness.payload)) == ("witness.example.com/w1", 72)
    assert int.from_bytes(witness.payload[:8], "big") == 1679315147
    assert note.text() == SPEC_COSIGNED


# ---- github.com/transparency-dev/formats -------------------------------------------------

# log/note_test.go, TestSumDBNoteParsing and BenchmarkParse
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    "\n"
    f"{DASH} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4n"
    "PRYfvimWEPWL+o3GeoWwOoAw=\n"
)
SUMDB_EXTRA_VKEYS = [
    "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT",
    "bananas+cf639f13+AaPjhFnPCQnid/Ql32KWhmh+uk72FVRfK+2DLmO3BI3M",
    "witness+f13a86db+AdYV1Ztajd9BvyjP2HgpwrqYL6TjOwIjGMOq8Bu42xbN",
]
SUMDB_EXTRA_SIGS = [
    f"{DASH} monkeys 202ffh9ve46Mqbhuyb4wnC2Pwdan5EsXQym/tF1ggXJqhjGosU4T5intH4iKMRgDLxrnXuIjRa"
    "U2NbvAnaepM6Y+8ww=\n",
    f"{DASH} bananas z2OfE+2bbsBZ7NLgfuslc0v7NFW2QyexJ7fhePpoL2N/P7N/COd5S+JNHbQEAlYzz2C5sg0E+x"
    "/MggS1mDR6t3/9rQw=\n",
    f"{DASH} witness 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+Up"
    "DbGgCdcpR8SVSoqAU=\n",
]


def test_formats_sumdb_checkpoint_verifies_and_parses() -> None:
    note = Note.parse(SUMDB_NOTE)
    assert verified_by(note, [Verifier.parse(SUMDB_VKEY)]) == ["sum.golang.org"]
    checkpoint = Checkpoint.parse(note.body)
    assert (checkpoint.origin, checkpoint.size) == ("go.sum database tree", 6476701)
    assert checkpoint.body() == note.body


def test_formats_sumdb_checkpoint_with_more_signers() -> None:
    note = Note.parse(SUMDB_NOTE + "".join(SUMDB_EXTRA_SIGS))
    every = [Verifier.parse(key) for key in [SUMDB_VKEY, *SUMDB_EXTRA_VKEYS]]
    assert verified_by(note, every) == ["sum.golang.org", "monkeys", "bananas", "witness"]
    # Unknown signers are ignored.
    assert verified_by(note, every[:1]) == ["sum.golang.org"]


@pytest.mark.parametrize(
    ("vkey", "kind", "key_id"),
    [
        # note/note_cosigv1_test.go, TestCoSigV1NewVerifier
        ("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6", "ed25519", "7997405c"),
        (
            "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
            "cosignature",
            "da77ade7",
        ),
    ],
)
def test_formats_verifier_keys_parse(vkey: str, kind: Kind, key_id: str) -> None:
    verifier = Verifier.parse(vkey)
    assert (verifier.kind, verifier.key_id.hex()) == (kind, key_id)
    assert verifier.encode() == vkey


@pytest.mark.parametrize(
    "vkey",
    [
        # note/note_cosigv1_test.go, TestCoSigV1NewVerifier, the failing cases
        "bananas.sigstore.dev+12344556",
        "rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!",
        "rekor.sigstore.dev+12345678+AwEB",
        "rekor.sigstore.dev+NOT_A_NUMBER+" + SUMDB_VKEY.split("+", 2)[2],
        "TEST+00000000+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6",
    ],
)
def test_formats_bad_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(vkey)


@pytest.mark.parametrize(
    ("skey", "vkey"),
    [
        # witness/witness_test.go
        (
            "PRIVATE+KEY+Wit1+55ee4561+AeadRiG7XM4XiieCHzD8lxysXMwcViy5nYsoXURWGrlE",
            "Wit1+55ee4561+AVhZSmQj9+SoL+p/nN0Hh76xXmF7QcHfytUrI1XfSClk",
        ),
        (
            "PRIVATE+KEY+Wit2+85ecc407+AfPTvxw5eUcqSgivo2vaiC7JPOMUZ/9baHPSDrWqgdGm",
            "Wit2+85ecc407+AWVbwFJte9wMQIPSnEnj4KibeO6vSIOEDUTDp3o63c2x",
        ),
        (
            "PRIVATE+KEY+Wit3+d3ed3be7+AR2Kg8k6ccBr5QXz5SHtnkOS4UGQGEQaWi6Gfr6Mm3X5",
            "Wit3+d3ed3be7+ASb6Uz1+fxAcXkMvDd7nGa3FjDce7LxIKmbbTCT0MpVn",
        ),
    ],
)
def test_formats_signer_keys_give_their_verifier_keys(skey: str, vkey: str) -> None:
    signer = Signer.parse(skey)
    assert signer.verifier().encode() == vkey
    assert signer.encode() == skey


def test_formats_cosignature_line_layout() -> None:
    # note/note_cosigv1_test.go, TestCoSigV1Timestamp, "works": key ID || u64 time || sig
    payload = "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOwor"
    payload += "DcFiEBYJXORmnFBOBA=="
    signature = Signature.parse(f"{DASH} witness {payload}")
    assert len(signature.key_id) == 4
    assert len(signature.payload) == 8 + 64
    assert int.from_bytes(signature.payload[:8], "big") == 1727964367


# ---- github.com/FiloSottile/sunlight cmd/skylight/testdata -------------------------------

SUNLIGHT_TIME = 1767139200  # gen.go: timestamp 1767139200000 ms, signed as seconds
ROME_BODY = "rome2026h1.example.org\n300\nlCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=\n"
MILAN_BODY = "milan2026h1.example.org\n300\nlCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=\n"
MIRROR_BODY = "rome2026h1.example.org\n300\ngw31yQrqZZCcEOPrzX+bpy3nJ6QgngTKn8G1m0i62uU=\n"
# witness/000de184…/checkpoint: the log's RFC 6962 signature (type 0x05), then a cosignature
ROME_WITNESSED = (
    ROME_BODY
    + "\n"
    + f"{DASH} rome2026h1.example.org kVB1JgAAAZtxtEwABAMARzBFAiEAi+mTa2xjL1IdWpH82OeciGsGvwRAP"
    + "+f1WkfKaSZCfFECIHoNPZ/Q3y6UNzvKOO9cuLr6V16vPNfhwhle9f6r5H/Z\n"
    + f"{DASH} witness.example.org uKLPIAAAAABpVGeAhm2bOvKc3LaB9PFN1ruG19Y5yqslmcAAbhftnn1Zznmo0"
    + "LXFZq4LGvqKqLX8jWlwLKasxEGTLIqAVusneCBmBw==\n"
)
# witness2/88ad7a28…/checkpoint
MILAN_WITNESSED = (
    MILAN_BODY
    + "\n"
    + f"{DASH} witness2.example.org LlW4lgAAAABpVGeAN/uFWqfjdU94rrKxFycCggM0Sa1L5tOJCJdYBwJ41CQ"
    + "sgKWA6B0+vywok3cPI3JIzuPeR+VotuYe/eNy0+30Dw==\n"
)
# witness/mirror/000de184…/checkpoint
MIRROR_WITNESSED = (
    MIRROR_BODY
    + "\n"
    + f"{DASH} mirror.example.org P7FI7wAAAABpVGeAjA1S4pJm6MbcXjX7UUImu4azZtrfcVW2uyr/LXIYlwEJz"
    + "XC0N0EiZkbqfLdXt/4gVEEuGmxJjAfXKMCISpsJAg==\n"
)
# witness.v0.json, witness2/witness.v0.json, witness/mirror/mirror.v0.json; gen.go derives
# each key's Ed25519 seed as SHA-256 of the given string.
SUNLIGHT_COSIGNERS = [
    (
        "witness.example.org+b8a2cf20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN",
        b"skylight test witness key",
        ROME_WITNESSED,
    ),
    (
        "witness2.example.org+2e55b896+BIZ7fpceQWd60IfqQeS9IAnmNOCZjMDne8lZuguz/bi9",
        b"skylight test witness2 key",
        MILAN_WITNESSED,
    ),
    (
        "mirror.example.org+3fb148ef+BAAjjch9GyYz0sJsJx7ALhbdAtz2ov0unbzSl1vMp94O",
        b"skylight test mirror key",
        MIRROR_WITNESSED,
    ),
]


@pytest.mark.parametrize(("vkey", "seed", "text"), SUNLIGHT_COSIGNERS)
def test_sunlight_cosignatures_verify(vkey: str, seed: bytes, text: str) -> None:
    verifier = Verifier.parse(vkey)
    note = Note.parse(text)
    assert verifier.kind == "cosignature"
    assert verified_by(note, [verifier]) == [verifier.name]
    assert verifier.verify_timestamp(note) == SUNLIGHT_TIME
    assert note.text() == text


@pytest.mark.parametrize(("vkey", "seed", "text"), SUNLIGHT_COSIGNERS)
def test_sunlight_cosignatures_are_reproduced(vkey: str, seed: bytes, text: str) -> None:
    # Same seed, same time, deterministic Ed25519: the same key and the same line.
    note = Note.parse(text)
    name = vkey.split("+")[0]
    signer = Signer(name, "cosignature", hashlib.sha256(seed).digest())
    assert signer.verifier().encode() == vkey
    assert signer.sign(note.body, timestamp=SUNLIGHT_TIME) == note.signatures[-1]


def test_sunlight_unknown_signature_type_is_ignored() -> None:
    note = Note.parse(ROME_WITNESSED)
    log_signature = note.signatures[0]
    assert log_signature.name == "rome2026h1.example.org"
    witness = Verifier.parse(SUNLIGHT_COSIGNERS[0][0])
    witness2 = Verifier.parse(SUNLIGHT_COSIGNERS[1][0])
    assert verified_by(note, [witness2, witness]) == ["witness.example.org"]


def test_sunlight_cosignature_does_not_cover_another_checkpoint() -> None:
    rome = Note.parse(ROME_WITNESSED)
    moved = Note(MIRROR_BODY, rome.signatures)  # same origin and size, other root hash
    witness = Verifier.parse(SUNLIGHT_COSIGNERS[0][0])
    assert witness.verify(moved) is None
    assert witness.verify_timestamp(moved) is None


# ---- Round trips and tampering -----------------------------------------------------------

BODY = Checkpoint("example.com/log", 7, bytes(range(32)), ("extension line",)).body()
TIME = 1_700_000_000


def signed(signer: Signer, body: str = BODY) -> Note:
    timestamp = TIME if signer.kind == "cosignature" else None
    return Note(body, (signer.sign(body, timestamp=timestamp),))


@pytest.mark.parametrize("kind", ["ed25519", "cosignature"])
def test_keys_round_trip(kind: Kind) -> None:
    signer = Signer.generate("example.com/key", kind)
    assert Signer.parse(signer.encode()) == signer
    verifier = signer.verifier()
    assert Verifier.parse(verifier.encode()) == verifier
    assert verifier.kind == kind
    type_byte = {"ed25519": "A", "cosignature": "B"}[kind]  # base64 of 0x01... / 0x04...
    assert verifier.encode().split("+")[2][0] == type_byte
    assert signer.encode().split("+")[4][0] == type_byte
    assert signer.encode().split("+")[3] == verifier.key_id.hex()
    assert signer.private_key.hex() not in repr(signer)


@pytest.mark.parametrize("kind", ["ed25519", "cosignature"])
def test_sign_verify_round_trip(kind: Kind) -> None:
    signer = Signer.generate("example.com/key", kind)
    note = signed(signer)
    again = Note.parse(note.text())
    assert again == note
    assert Note.parse(note.text().encode()) == note
    assert signer.verifier().verify(again) == note.signatures[0]
    assert verified_by(again, [signer.verifier()]) == ["example.com/key"]


def test_cosignature_timestamp_is_read_back() -> None:
    signer = Signer.generate("witness.example", "cosignature")
    note = signed(signer)
    assert signer.verifier().verify_timestamp(note) == TIME
    other = Signer.generate("witness.example", "cosignature").verifier()
    assert other.verify_timestamp(note) is None
    with pytest.raises(NoteError):
        Signer.generate("log.example").verifier().verify_timestamp(note)


@pytest.mark.parametrize("kind", ["ed25519", "cosignature"])
@pytest.mark.parametrize("position", [0, 1, 25, -2])
def test_changed_body_fails(kind: Kind, position: int) -> None:
    signer = Signer.generate("example.com/key", kind)
    note = signed(signer)
    body = list(note.body)
    body[position] = "X" if body[position] != "X" else "Y"
    changed = Note("".join(body), note.signatures)
    assert signer.verifier().verify(changed) is None
    with pytest.raises(NoteError):
        verified_by(changed, [signer.verifier()])


@pytest.mark.parametrize("kind", ["ed25519", "cosignature"])
@pytest.mark.parametrize("position", [0, 10, 31, 32, 50, -1])
def test_changed_signature_byte_fails(kind: Kind, position: int) -> None:
    signer = Signer.generate("example.com/key", kind)
    note = signed(signer)
    signature = note.signatures[0]
    payload = bytearray(signature.payload)
    start = 8 if kind == "cosignature" else 0  # the Ed25519 signature itself
    index = position if position < 0 else start + position
    payload[index] ^= 0x01
    changed = Note(note.body, (Signature(signature.name, signature.key_id, bytes(payload)),))
    assert signer.verifier().verify(changed) is None


@pytest.mark.parametrize("kind", ["ed25519", "cosignature"])
def test_truncated_or_extended_signature_fails(kind: Kind) -> None:
    signer = Signer.generate("example.com/key", kind)
    signature = signed(signer).signatures[0]
    for payload in (signature.payload[:-1], signature.payload + b"\x00"):
        changed = Note(BODY, (Signature(signature.name, signature.key_id, payload),))
        assert signer.verifier().verify(changed) is None


@pytest.mark.parametrize("delta", [-1, 1, 2**40])
def test_changed_timestamp_fails(delta: int) -> None:
    signer = Signer.generate("witness.example", "cosignature")
    signature = signed(signer).signatures[0]
    timestamp = int.from_bytes(signature.payload[:8], "big") + delta
    payload = timestamp.to_bytes(8, "big") + signature.payload[8:]
    changed = Note(BODY, (Signature(signature.name, signature.key_id, payload),))
    assert signer.verifier().verify(changed) is None


def test_timestamp_above_two_to_the_63_fails() -> None:
    signer = Signer.generate("witness.example", "cosignature")
    signature = signed(signer).signatures[0]
    payload = (2**63).to_bytes(8, "big") + signature.payload[8:]
    changed = Note(BODY, (Signature(signature.name, signature.key_id, payload),))
    assert signer.verifier().verify(changed) is None


@pytest.mark.parametrize("kind", ["ed25519", "cosignature"])
def test_changed_key_fails(kind: Kind) -> None:
    signer = Signer.generate("example.com/key", kind)
    note = signed(signer)
    verifier = signer.verifier()
    key = bytearray(verifier.public_key)
    key[0] ^= 0x01
    assert Verifier(verifier.name, kind, bytes(key)).verify(note) is None
    # The encoded key with one key byte changed no longer matches its key ID.
    encoded = Verifier(verifier.name, kind, bytes(key)).encode().split("+")
    with pytest.raises(NoteError):
        Verifier.parse("+".join([encoded[0], verifier.key_id.hex(), encoded[2]]))


@pytest.mark.parametrize("kind", ["ed25519", "cosignature"])
def test_other_key_under_the_same_name_and_id_fails(kind: Kind) -> None:
    # A line that claims a known key (name and key ID) but was made by another key.
    known = Signer.generate("example.com/key", kind)
    impostor = Signer.generate("example.com/key", kind)
    forged = impostor.sign(BODY, timestamp=TIME if kind == "cosignature" else None)
    note = Note(BODY, (Signature(forged.name, known.verifier().key_id, forged.payload),))
    assert known.verifier().verify(note) is None
    with pytest.raises(NoteError, match="invalid signature"):
        verified_by(note, [known.verifier()])


@pytest.mark.parametrize("kind", ["ed25519", "cosignature"])
def test_changed_name_fails(kind: Kind) -> None:
    signer = Signer.generate("example.com/key", kind)
    note = signed(signer)
    signature = note.signatures[0]
    renamed = Note(BODY, (Signature("example.com/kez", signature.key_id, signature.payload),))
    assert signer.verifier().verify(renamed) is None
    assert verified_by(renamed, [signer.verifier()]) == []
    other_name = Verifier("example.com/kez", kind, signer.verifier().public_key)
    assert other_name.verify(note) is None


def test_same_seed_gives_different_key_ids_per_kind() -> None:
    plain = Signer.generate("example.com/key")
    cosigner = Signer(plain.name, "cosignature", plain.private_key)
    assert plain.verifier().public_key == cosigner.verifier().public_key
    assert plain.verifier().key_id != cosigner.verifier().key_id


def test_cosignature_is_not_a_plain_signature_and_vice_versa() -> None:
    plain = Signer.generate("example.com/key")
    cosigner = Signer(plain.name, "cosignature", plain.private_key)
    plain_id, cosigner_id = plain.verifier().key_id, cosigner.verifier().key_id
    cosigned = signed(cosigner)
    plainly_signed = signed(plain)
    # Different key IDs: neither key finds the other's line.
    assert plain.verifier().verify(cosigned) is None
    assert cosigner.verifier().verify(plainly_signed) is None
    # Relabelled with the other kind's key ID, neither verifies either.
    cosignature = cosigned.signatures[0].payload
    as_plain = Note(BODY, (Signature(plain.name, plain_id, cosignature),))
    as_plain_unstamped = Note(BODY, (Signature(plain.name, plain_id, cosignature[8:]),))
    assert plain.verifier().verify(as_plain) is None
    assert plain.verifier().verify(as_plain_unstamped) is None
    signature = plainly_signed.signatures[0].payload
    as_cosignature = Note(BODY, (Signature(plain.name, cosigner_id, signature),))
    stamped = Note(BODY, (Signature(plain.name, cosigner_id, bytes(8) + signature),))
    assert cosigner.verifier().verify(as_cosignature) is None
    assert cosigner.verifier().verify(stamped) is None


def test_sign_arguments() -> None:
    plain = Signer.generate("log.example")
    cosigner = Signer.generate("witness.example", "cosignature")
    with pytest.raises(NoteError):
        plain.sign(BODY, timestamp=TIME)
    with pytest.raises(NoteError):
        cosigner.sign(BODY)
    for timestamp in (-1, 2**63):
        with pytest.raises(NoteError):
            cosigner.sign(BODY, timestamp=timestamp)
    assert cosigner.sign(BODY, timestamp=2**63 - 1).payload[:8] == (2**63 - 1).to_bytes(8, "big")
    with pytest.raises(NoteError, match="checkpoint"):
        cosigner.sign("not a checkpoint\n", timestamp=TIME)
    assert plain.sign("not a checkpoint\n").payload


def test_verified_by_ignores_unknown_keys_and_repeats() -> None:
    log = Signer.generate("log.example")
    witness = Signer.generate("witness.example", "cosignature")
    stranger = Signer.generate("stranger.example")
    note = signed(log).with_signature(witness.sign(BODY, timestamp=TIME))
    note = note.with_signature(stranger.sign(BODY))
    assert verified_by(note, [witness.verifier(), log.verifier()]) == [
        "witness.example",
        "log.example",
    ]
    assert verified_by(note, [log.verifier(), log.verifier()]) == ["log.example"]
    not_signing = Signer.generate("quiet.example").verifier()
    assert verified_by(note, [not_signing]) == []
    # Same name, other key (other key ID): unknown, ignored.
    assert verified_by(note, [Signer.generate("log.example").verifier()]) == []


def test_with_signature_adds_once_per_key() -> None:
    log = Signer.generate("log.example")
    witness = Signer.generate("witness.example", "cosignature")
    note = signed(log)
    cosigned = note.with_signature(witness.sign(BODY, timestamp=TIME))
    assert [s.name for s in cosigned.signatures] == ["log.example", "witness.example"]
    assert cosigned.with_signature(witness.sign(BODY, timestamp=TIME + 1)) is cosigned
    assert Note.parse(cosigned.text()) == cosigned
    assert note.signatures == (log.sign(BODY),)  # unchanged


# ---- Malformed notes ---------------------------------------------------------------------


def line(name: str, key_id: bytes = b"\x01\x02\x03\x04", payload: bytes = bytes(64)) -> str:
    return Signature(name, key_id, payload).line()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BODY, "blank line"),
        (BODY + "\n", "no signatures"),
        ("abc\n\n" + line("a") + "\n", "no signatures"),
        (BODY + "\n" + line("a") + line("a"), "two signatures"),
        (BODY + "\n" + line("a") + "unexpected\n", "unexpected line"),
        (BODY + "\n" + line("a") + "- b AAAAAAA=\n", "unexpected line"),
        (BODY + "\n" + f"{DASH} name\n", "without a signature"),
        (BODY + "\n" + f"{DASH} name \n", "too short"),
        (BODY + "\n" + f"{DASH} name AQIDBA==\n", "too short"),
        (BODY + "\n" + f"{DASH} name AQIDBAU\n", "base64"),
        (BODY + "\n" + f"{DASH} name AQIDBAV=\n", "canonical"),
        (BODY + "\n" + f"{DASH} a+b AQIDBAU=\n", "key name"),
        (BODY + "\n" + f"{DASH}  AQIDBAU=\n", "key name"),
        (BODY.replace("7", "7\r") + "\n" + line("a"), "control character"),
        (BODY + "\ud800\n\n" + line("a"), "UTF-8"),
        (BODY + "\n" + line("a") + "\n", "no signatures"),
    ],
)
def test_malformed_notes_are_refused(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        Note.parse(text)


def test_oversize_note_is_refused() -> None:
    huge = "x" * MAX_NOTE_BYTES + "\n\n" + line("a")
    with pytest.raises(NoteError, match="larger"):
        Note.parse(huge)
    with pytest.raises(NoteError, match="larger"):
        Note.parse(huge.encode())
    multibyte = "\u00e9" * (MAX_NOTE_BYTES // 2 + 1) + "\n\n" + line("a")  # 2 bytes each
    with pytest.raises(NoteError, match="larger"):
        Note.parse(multibyte)


def test_signature_count_limit() -> None:
    many = [line(f"key{i}") for i in range(MAX_SIGNATURES + 1)]
    with pytest.raises(NoteError, match="at most"):
        Note.parse(BODY + "\n" + "".join(many))
    # signed-note.md: verifiers MUST accept at least 16 signatures.
    assert len(Note.parse(BODY + "\n" + "".join(many[:16])).signatures) == 16


def test_note_text_may_contain_blank_lines() -> None:
    # signed-note.md, "Format": the text ends at the last empty line.
    signer = Signer.generate("example.com/key")
    body = "first\n\nthird\n\n"
    note = Note(body, (signer.sign(body),))
    again = Note.parse(note.text())
    assert again.body == body
    assert verified_by(again, [signer.verifier()]) == ["example.com/key"]


@pytest.mark.parametrize(
    "name",
    ["", "a b", "a+b", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", "a\u3000b", "a\x00b", "a\u200bb"],
)
def test_bad_key_names_are_refused(name: str) -> None:
    with pytest.raises(NoteError):
        Signer(name, "ed25519", bytes(32))
    with pytest.raises(NoteError):
        Signature(name, bytes(4), b"\x00")


@pytest.mark.parametrize(
    "name", ["example.com/log42", "oid/1.3.6.1.4.1", "\u00dcn\u00efc\u00f6d\u00e9"]
)
def test_good_key_names_are_accepted(name: str) -> None:
    signer = Signer(name, "ed25519", bytes(32))
    assert Verifier.parse(signer.verifier().encode()).name == name


def test_key_strings_of_the_wrong_sort_are_refused() -> None:
    with pytest.raises(NoteError):
        Signer.parse(PETER_VKEY)
    with pytest.raises(NoteError):
        Verifier.parse(PETER_SKEY)
    # signed-note.md: the key ID is lowercase hex.
    with pytest.raises(NoteError, match="lowercase"):
        Verifier.parse(PETER_VKEY.replace("c74f20a3", "C74F20A3"))
    with pytest.raises(NoteError):
        Verifier("name", "ecdsa", bytes(32))  # type: ignore[arg-type]
    with pytest.raises(NoteError):
        Verifier("name", "ed25519", bytes(31))
    with pytest.raises(NoteError):
        Signer("name", "ed25519", bytes(33))


# ---- Checkpoints -------------------------------------------------------------------------

ROOT_B64 = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


def test_checkpoint_round_trip_with_extensions() -> None:
    checkpoint = Checkpoint("example.com/log", 0, bytes(32), ("one", "two words"))
    assert checkpoint.body() == (
        "example.com/log\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\none\ntwo words\n"
    )
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
    biggest = Checkpoint("o", 2**64 - 1, bytes(32))
    assert Checkpoint.parse(biggest.body()) == biggest


@pytest.mark.parametrize(
    "size",
    [
        *["01", "00", "-1", "+1", "1.0", "1e3", "", " 1", "1 ", "abc", "0x10"],
        *["\uff11", "\u0663"],  # FULLWIDTH DIGIT ONE, ARABIC-INDIC DIGIT THREE
        *["18446744073709551616", "9" * 5000],  # 2^64, and beyond int()'s digit limit
    ],
)
def test_checkpoint_bad_sizes_are_refused(size: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(f"example.com/log\n{size}\n{ROOT_B64}\n")


@pytest.mark.parametrize(
    "root",
    [
        "not base64!",
        ROOT_B64[:-1],  # missing padding
        ROOT_B64.replace("=", ""),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=",  # non-canonical last character
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",  # 31 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",  # 33 bytes
        "",
    ],
)
def test_checkpoint_bad_root_hashes_are_refused(root: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(f"example.com/log\n5\n{root}\n")


@pytest.mark.parametrize(
    "body",
    [
        "",
        "\n",
        "example.com/log\n",
        "example.com/log\n5\n",
        f"example.com/log\n5\n{ROOT_B64}",  # no final newline
        f"\n5\n{ROOT_B64}\n",  # empty origin
        f"example.com/log\n5\n{ROOT_B64}\n\nextension\n",  # empty extension line
        f"example.com/log\n5\n{ROOT_B64}\n\n",
        f"example.com/log\r\n5\n{ROOT_B64}\n",  # control character
    ],
)
def test_checkpoint_malformed_bodies_are_refused(body: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(body)


def test_checkpoint_constructor_checks_its_fields() -> None:
    with pytest.raises(NoteError):
        Checkpoint("", 1, bytes(32))
    with pytest.raises(NoteError):
        Checkpoint("a\nb", 1, bytes(32))
    with pytest.raises(NoteError):
        Checkpoint("o", -1, bytes(32))
    with pytest.raises(NoteError):
        Checkpoint("o", 2**64, bytes(32))
    with pytest.raises(NoteError):
        Checkpoint("o", 1, bytes(31))
    with pytest.raises(NoteError):
        Checkpoint("o", 1, bytes(32), ("",))
    with pytest.raises(NoteError):
        Checkpoint("o", 1, bytes(32), ("two\nlines",))
