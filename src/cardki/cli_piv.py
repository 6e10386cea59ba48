"""``cardki piv ...``: everyday PIV administration, shaped like ``ykman piv`` so habits
carry over (the same commands, slots named 9a/9c/9d/9e/82-95/f9, ykman's option
letters: ``-P`` PIN, ``-p`` PUK, ``-m`` management key, ``-n`` the new value, ``-a``
algorithm, ``-s`` subject, ``-o`` output). Every command goes through cardki's
Python API (:mod:`cardki.api_piv`), so through the same engine as the PKCS#11
module. Outputs are PEM unless ``-F der``.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, TextIO

from .cli_common import (
    MANAGEMENT_KEY_ENV,
    PIN_ENV,
    PUK_ENV,
    CliError,
    choose_slot,
    confirm,
    new_secret,
    pem_or_der,
    piv_slot,
    progress,
    read_input,
    secret,
    write_output,
)

if TYPE_CHECKING:
    from .api import Library, Session

Command = Callable[["Library", argparse.Namespace, TextIO], int]

PIN_POLICIES = ("default", "never", "once", "always", "match-once", "match-always")
TOUCH_POLICIES = ("default", "never", "always", "cached")
ALGORITHMS = ("RSA1024", "RSA2048", "RSA3072", "RSA4096", "ECCP256", "ECCP384", "ED25519", "X25519")
MANAGEMENT_ALGORITHMS = ("TDES", "AES128", "AES192", "AES256")
HASHES = ("SHA256", "SHA384", "SHA512")


def _slot_name(text: str) -> str:
    from .api_piv import parse_slot

    return f"{parse_slot(text):02X}"


# --------------------------------------------------------------------------- sessions

def _management_key(args: argparse.Namespace, session: Session) -> str:
    """-m, else $CARDKI_MANAGEMENT_KEY, else a prompt (blank: the factory key); without a
    terminal, the factory key when the card says it is still in use."""
    import getpass

    given = getattr(args, "management_key", None) or _environment(MANAGEMENT_KEY_ENV)
    if given:
        return given
    default = session.piv.default_management_key()
    if sys.stdin.isatty():
        typed = getpass.getpass("Management key (blank for the factory default): ")
        if typed:
            return typed
        if default is not None:
            return default
    else:
        management = session.piv.status().access.management_key
        if default is not None and management is not None and management.default:
            return default
    raise CliError(f"a management key is needed: give -m, set {MANAGEMENT_KEY_ENV}, or run on a terminal")


def _environment(name: str) -> str | None:
    import os

    return os.environ.get(name) or None


def _pin(args: argparse.Namespace) -> str:
    return secret(getattr(args, "pin", None), PIN_ENV, "PIN", "-P")


@contextmanager
def _session(lib: Library, args: argparse.Namespace, *, rw: bool = False, user: bool = False,
             so: bool = False) -> Iterator[Session]:
    """A session with the PIV token ``--token`` names (the first PIV token by default),
    logged in as the user (``user``) or the SO (``so``, the management key)."""
    from .constants import CKU

    slot = choose_slot(lib, args.token, piv=True)
    token = slot.token
    if user:
        pin = _pin(args)
        session = token.open(user_pin=pin, context_pin=pin, rw=rw)
    else:
        session = token.open(rw=rw or so)
    with session:
        if so:
            session.login(_management_key(args, session), CKU.SO)
        yield session


def _done(out: TextIO, args: argparse.Namespace, what: str) -> None:
    """Say where the result went (nothing when it went to stdout)."""
    if getattr(args, "output", "-") != "-":
        print(f"wrote {what} to {args.output}", file=out)


# --------------------------------------------------------------------------- piv info

def cmd_info(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    from .api import CKA, CKO, Certificate, PublicKey

    with _session(lib, args) as session:
        status = session.piv.status()
        access = status.access
        rows: List[tuple] = [("PIV version", ".".join(map(str, status.version)) if status.version else "unknown"),
                             ("Serial number", str(status.serial) if status.serial is not None else "unknown")]
        if access.pin is not None:
            rows.append(("PIN tries remaining", f"{access.pin.remaining}/{access.pin.total}"))
        elif access.pin_tries_left is not None:
            rows.append(("PIN tries remaining", str(access.pin_tries_left)))
        if access.puk is not None:
            rows.append(("PUK tries remaining", f"{access.puk.remaining}/{access.puk.total}"))
        if access.management_key is not None:
            touch = " (touch required)" if access.management_key.touch_policy == 2 else ""
            rows.append(("Management key algorithm", access.management_key.algorithm.name + touch))
        width = max(len(name) for name, _ in rows) + 2
        for name, value in rows:
            print(f"{name + ':':<{width}}{value}", file=out)
        for part, label in ((access.pin, "PIN"), (access.puk, "PUK"), (access.management_key, "management key")):
            if part is not None and part.default:
                print(f"WARNING: the default {label} is in use", file=out)
        for data in session.objects({CKA.CLASS: CKO.DATA}):
            if data.label in ("Card Holder Unique Identifier", "Card Capability Container"):
                short = "CHUID" if data.label.startswith("Card Holder") else "CCC"
                print(f"{short + ':':<{width}}{bytes(data.get(CKA.VALUE) or b'').hex()}", file=out)
        objects = session.objects({})
        for slot_key, key_id, name in session.piv.slot_names():
            public = next((o for o in objects if isinstance(o, PublicKey) and o.id == key_id), None)
            certificate = next((o for o in objects if isinstance(o, Certificate) and o.id == key_id), None)
            if public is None and certificate is None:
                continue
            print(f"Slot {slot_key:02X} ({name}):", file=out)
            for line in _slot_lines(public, certificate, metadata=access.pin is not None):
                print(f"  {line}", file=out)
    return 0


def _slot_lines(public: Any, certificate: Any, *, metadata: bool) -> List[str]:
    from cryptography.hazmat.primitives import hashes

    from .api import CKA
    from .token.piv.objects import algorithm_of

    lines = []
    key = public.to_cryptography() if public is not None else certificate.to_cryptography().public_key()
    algorithm = algorithm_of(key)
    lines.append(f"Algorithm:    {algorithm.name if algorithm is not None else 'unknown'}")
    if public is not None and metadata:
        lines.append(f"Origin:       {'generated on the card' if public.get(CKA.LOCAL) else 'imported'}")
    if certificate is not None:
        cert = certificate.to_cryptography()
        lines += [f"Subject DN:   {cert.subject.rfc4514_string()}",
                  f"Issuer DN:    {cert.issuer.rfc4514_string()}",
                  f"Serial:       {cert.serial_number:x}",
                  f"Fingerprint:  {cert.fingerprint(hashes.SHA256()).hex()}",
                  f"Not before:   {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%S%z}",
                  f"Not after:    {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%S%z}"]
    else:
        lines.append("Certificate:  none")
    return lines


# --------------------------------------------------------------------------- piv keys

def _policies(args: argparse.Namespace) -> tuple:
    from .api_piv import PinPolicy, TouchPolicy

    return (PinPolicy[args.pin_policy.upper().replace("-", "_")],
            TouchPolicy[args.touch_policy.upper()])


def _public_key_bytes(public: Any, form: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    spki = public.to_cryptography().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem_or_der(spki, "PUBLIC KEY", form)


def cmd_keys_generate(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    pin_policy, touch_policy = _policies(args)
    with _session(lib, args, so=True) as session:
        with progress(f"Generating an {args.algorithm} key in slot {_slot_name(args.slot)} on the card"):
            public = session.piv.generate(args.slot, args.algorithm, pin_policy=pin_policy,
                                          touch_policy=touch_policy)
        data = _public_key_bytes(public, args.format)
    write_output(args.output, data)
    _done(out, args, "the public key")
    return 0


def _load_private_key(path: str, password: str | None) -> Any:
    from cryptography.hazmat.primitives import serialization

    data = read_input(path)
    secret_bytes = password.encode("utf-8") if password else None
    for load in (serialization.load_pem_private_key, serialization.load_der_private_key):
        try:
            return load(data, secret_bytes)
        except TypeError:  # encrypted, and no password (or one it does not need)
            if secret_bytes is None:
                import getpass

                if not sys.stdin.isatty():
                    raise CliError(f"{path} is encrypted: give its password with -p") from None
                return _load_private_key(path, getpass.getpass(f"Password for {path}: ") or None)
            raise CliError(f"{path} is not encrypted: leave out -p") from None
        except ValueError:
            continue
    raise CliError(f"cannot read a private key from {path} (PEM or DER, PKCS#8 or traditional; wrong password?)")


def cmd_keys_import(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    key = _load_private_key(args.keyfile, args.password)
    pin_policy, touch_policy = _policies(args)
    with _session(lib, args, so=True) as session:
        with progress(f"Importing the key into slot {_slot_name(args.slot)}"):
            session.piv.import_key(args.slot, key, pin_policy=pin_policy, touch_policy=touch_policy)
    print(f"imported the key into slot {_slot_name(args.slot)}", file=out)
    return 0


def cmd_keys_delete(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    with _session(lib, args, so=True) as session:
        session.piv.delete_key(args.slot)
    print(f"deleted the key (and certificate) in slot {_slot_name(args.slot)}", file=out)
    return 0


def cmd_keys_export(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    with _session(lib, args) as session:
        data = _public_key_bytes(session.piv.public_key(args.slot), args.format)
    write_output(args.output, data)
    _done(out, args, "the public key")
    return 0


def _roots(lib: Library, paths: List[str]) -> List[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    roots: List[bytes] = []
    for path in paths:
        data = read_input(path)
        try:
            if b"-----BEGIN" in data:
                roots += [cert.public_bytes(serialization.Encoding.DER) for cert in x509.load_pem_x509_certificates(data)]
            else:
                roots.append(x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER))
        except ValueError:
            raise CliError(f"{path} holds no readable X.509 certificate") from None
    if not roots:
        virtual = lib.virtual_attestation_root
        if virtual is None:
            raise CliError("--verify needs the root certificate to trust: give --root FILE (Yubico's PIV root CA)")
        roots.append(virtual)
    return roots


def cmd_keys_attest(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    from cryptography.hazmat.primitives import serialization

    from .token.piv.attestation import AttestationError

    roots = _roots(lib, args.root) if args.verify else []
    with _session(lib, args) as session:
        with progress(f"Attesting the key in slot {_slot_name(args.slot)}"):
            certificate = session.piv.attest(args.slot)
            result = None
            if args.verify:
                try:
                    result = session.piv.verify_attestation(args.slot, roots)
                except AttestationError as failed:
                    raise CliError(f"the attestation does not verify: {failed}") from None
    write_output(args.output, pem_or_der(certificate.public_bytes(serialization.Encoding.DER), "CERTIFICATE",
                                         args.format))
    _done(out, args, "the attestation certificate")
    if result is not None:
        report = out if args.output != "-" else sys.stderr
        firmware = ".".join(map(str, result.firmware)) if result.firmware else "?"
        print(f"attestation verified: slot {_slot_name(args.slot)}, serial {result.serial}, firmware {firmware}, "
              f"PIN policy {result.pin_policy.name if result.pin_policy else '?'}, "
              f"touch policy {result.touch_policy.name if result.touch_policy else '?'}", file=report)
    return 0


# --------------------------------------------------------------------------- piv certificates

def cmd_certificates_generate(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    with _session(lib, args, user=True) as session:
        with progress(f"Signing a certificate with the key in slot {_slot_name(args.slot)}"):
            certificate = session.piv.self_signed_certificate(args.slot, args.subject, days=args.valid_days,
                                                              hash_name=args.hash_algorithm.lower())
    with _session(lib, args, so=True) as session:
        session.piv.import_certificate(args.slot, certificate)
    print(f"stored a self-signed certificate for {certificate.subject.rfc4514_string()} in slot "
          f"{_slot_name(args.slot)}", file=out)
    return 0


def cmd_certificates_request(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    from cryptography.hazmat.primitives import serialization

    with _session(lib, args, user=True) as session:
        with progress(f"Signing a certificate request with the key in slot {_slot_name(args.slot)}"):
            request = session.piv.certificate_request(args.slot, args.subject, hash_name=args.hash_algorithm.lower())
    write_output(args.output, pem_or_der(request.public_bytes(serialization.Encoding.DER), "CERTIFICATE REQUEST",
                                         args.format))
    _done(out, args, "the certificate request")
    return 0


def _load_certificate(path: str) -> Any:
    from cryptography import x509

    data = read_input(path)
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        raise CliError(f"{path} holds no readable X.509 certificate (PEM or DER)") from None


def cmd_certificates_import(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    certificate = _load_certificate(args.certfile)
    with _session(lib, args, so=True) as session:
        session.piv.import_certificate(args.slot, certificate)
    print(f"stored the certificate for {certificate.subject.rfc4514_string()} in slot {_slot_name(args.slot)}",
          file=out)
    return 0


def cmd_certificates_export(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    with _session(lib, args) as session:
        der = session.piv.certificate(args.slot).value
    write_output(args.output, pem_or_der(der, "CERTIFICATE", args.format))
    _done(out, args, "the certificate")
    return 0


def cmd_certificates_delete(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    with _session(lib, args, so=True) as session:
        session.piv.delete_certificate(args.slot)
    print(f"deleted the certificate in slot {_slot_name(args.slot)}", file=out)
    return 0


# --------------------------------------------------------------------------- piv access

def cmd_change_pin(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    old = secret(args.pin, PIN_ENV, "PIN", "-P")
    new = new_secret(args.new, "PIN", "-n")
    with _session(lib, args, rw=True) as session:
        session.piv.change_pin(old, new)
    print("the PIN is changed", file=out)
    return 0


def cmd_change_puk(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    old = secret(args.puk, PUK_ENV, "PUK", "-p")
    new = new_secret(args.new, "PUK", "-n")
    with _session(lib, args, rw=True) as session:
        session.piv.change_puk(old, new)
    print("the PUK is changed", file=out)
    return 0


def cmd_unblock_pin(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    puk = secret(args.puk, PUK_ENV, "PUK", "-p")
    new = new_secret(args.new, "PIN", "-n")
    with _session(lib, args, rw=True) as session:
        session.piv.unblock_pin(puk, new)
    print("the PIN is unblocked and set", file=out)
    return 0


def cmd_change_management_key(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    with _session(lib, args, so=True) as session:
        new = new_secret(args.new, "management key", "-n")
        session.piv.change_management_key(new, args.algorithm, require_touch=True if args.touch else None)
    print("the management key is changed", file=out)
    return 0


def cmd_set_retries(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    confirm("Setting the retries puts the PIN and PUK back to 123456 and 12345678", args.force)
    with _session(lib, args, so=True) as session:
        pin = _pin(args)
        with progress("Setting the PIN and PUK retries"):
            session.piv.set_retries(args.pin_retries, args.puk_retries, pin=pin)
    print(f"{args.pin_retries} PIN and {args.puk_retries} PUK tries; PIN 123456, PUK 12345678", file=out)
    return 0


def cmd_reset(lib: Library, args: argparse.Namespace, out: TextIO) -> int:
    confirm("Reset the PIV applet? Every key, certificate and data object is deleted", args.force)
    with _session(lib, args, rw=True) as session:
        with progress("Resetting the PIV applet (blocking the PIN and the PUK first)"):
            session.piv.reset()
    print("the PIV applet is reset: PIN 123456, PUK 12345678, the factory management key", file=out)
    return 0


# --------------------------------------------------------------------------- the parser

def _command(group: Any, name: str, handler: Command, help_text: str, example: str,
             parents: List[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(
        name, parents=parents, help=help_text, description=help_text,
        epilog=f"Example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


def add_commands(commands: Any, parser_class: type) -> None:
    """Add ``piv`` and its subcommands to the top-level ``commands``."""
    def options(*adders: Callable[[argparse.ArgumentParser], None]) -> List[argparse.ArgumentParser]:
        parent = parser_class(add_help=False)
        for add in adders:
            add(parent)
        return [parent]

    def management(p: argparse.ArgumentParser) -> None:
        p.add_argument("-m", "--management-key", metavar="HEX",
                       help=f"the management key (else ${MANAGEMENT_KEY_ENV}, a prompt, or the factory key "
                            "while the card uses it)")

    def pin(p: argparse.ArgumentParser) -> None:
        p.add_argument("-P", "--pin", help=f"the PIN (else ${PIN_ENV} or a prompt)")

    def output(p: argparse.ArgumentParser) -> None:
        p.add_argument("-o", "--output", default="-", metavar="FILE", help="where it goes ('-', the default: stdout)")
        p.add_argument("-F", "--format", choices=("pem", "der"), default="pem", help="encoding (default: PEM)")

    def slot(p: argparse.ArgumentParser) -> None:
        p.add_argument("slot", type=piv_slot, metavar="SLOT", help="PIV slot: 9a, 9c, 9d, 9e, 82-95 (f9: attestation)")

    def policies(p: argparse.ArgumentParser) -> None:
        p.add_argument("--pin-policy", choices=PIN_POLICIES, default="default", help="when the key needs the PIN")
        p.add_argument("--touch-policy", choices=TOUCH_POLICIES, default="default",
                       help="when the key needs a touch")

    piv = commands.add_parser("piv", help="PIV administration (as `ykman piv`)",
                              description="PIV keys, certificates, PIN, PUK and management key, as `ykman piv`.",
                              epilog="Example:\n  cardki piv info",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = piv.add_subparsers(dest="piv_command", metavar="COMMAND", required=True)
    _command(groups, "info", cmd_info, "show the PIV applet: PIN and PUK tries, management key, keys and certificates",
             "cardki piv info", [])
    def force(p: argparse.ArgumentParser) -> None:
        p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")

    _command(groups, "reset", cmd_reset, "reset the PIV applet to its factory state (blocks PIN and PUK first)",
             "cardki piv reset -f", options(force))

    keys = groups.add_parser("keys", help="generate, import, delete, export and attest keys",
                             description="Keys in PIV slots.", epilog="Example:\n  cardki piv keys generate 9a",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    key_commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    generate = _command(key_commands, "generate", cmd_keys_generate, "generate a key pair on the card; write its "
                        "public key", "cardki piv keys generate 9a -a ECCP256 --pin-policy once -o 9a.pub.pem",
                        options(slot, management, policies, output))
    generate.add_argument("-a", "--algorithm", type=str.upper, choices=ALGORITHMS, default="ECCP256",
                          help="key algorithm (default: ECCP256)")
    imported = _command(key_commands, "import", cmd_keys_import, "import a private key (PEM or DER) into a slot",
                        "cardki piv keys import 9d key.pem --pin-policy always", options(slot, management, policies))
    imported.add_argument("keyfile", metavar="KEYFILE", help="the private key file ('-' for stdin)")
    imported.add_argument("-p", "--password", help="the key file's password, if it is encrypted")
    _command(key_commands, "delete", cmd_keys_delete, "delete the key in a slot (YubiKey 5.7), its certificate too",
             "cardki piv keys delete 9a", options(slot, management))
    _command(key_commands, "export", cmd_keys_export, "write the public key of a slot",
             "cardki piv keys export 9a -o 9a.pub.pem", options(slot, output))
    attest = _command(key_commands, "attest", cmd_keys_attest, "write the card's attestation of a generated key",
                      "cardki piv keys attest 9a -o 9a.attestation.pem --verify --root yubico-piv-ca.pem",
                      options(slot, output))
    attest.add_argument("--verify", action="store_true",
                        help="check the chain: the attestation, F9's certificate, a trusted root")
    attest.add_argument("--root", action="append", default=[], metavar="FILE",
                        help="a root certificate to trust (PEM or DER; repeatable; a virtual card's own by default)")

    certificates = groups.add_parser("certificates", help="generate, request, import, export and delete certificates",
                                     description="Certificates in PIV slots.",
                                     epilog="Example:\n  cardki piv certificates export 9a",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    cert_commands = certificates.add_subparsers(dest="certificates_command", metavar="COMMAND", required=True)

    def subject(p: argparse.ArgumentParser) -> None:
        p.add_argument("-s", "--subject", required=True, help="the subject, RFC 4514 ('CN=me,O=example'; 'me' is CN=me)")
        p.add_argument("-a", "--hash-algorithm", type=str.upper, choices=HASHES, default="SHA256",
                       help="the signature's hash (default: SHA256)")

    made = _command(cert_commands, "generate", cmd_certificates_generate, "store a self-signed certificate for the "
                    "slot's key (signed on the card)", "cardki piv certificates generate 9a -s 'CN=Alice' -d 365",
                    options(slot, subject, pin, management))
    made.add_argument("-d", "--valid-days", type=int, default=365, metavar="DAYS", help="validity (default: 365)")
    _command(cert_commands, "request", cmd_certificates_request, "write a certificate request (PKCS#10) for the "
             "slot's key", "cardki piv certificates request 9a -s 'CN=Alice' -o alice.csr",
             options(slot, subject, pin, output))
    stored = _command(cert_commands, "import", cmd_certificates_import, "store a certificate (PEM or DER) in a slot",
                      "cardki piv certificates import 9a alice.pem", options(slot, management))
    stored.add_argument("certfile", metavar="CERTFILE", help="the certificate file ('-' for stdin)")
    _command(cert_commands, "export", cmd_certificates_export, "write the certificate of a slot",
             "cardki piv certificates export 9a -o 9a.pem", options(slot, output))
    _command(cert_commands, "delete", cmd_certificates_delete, "delete the certificate of a slot",
             "cardki piv certificates delete 9a", options(slot, management))

    access = groups.add_parser("access", help="PIN, PUK, management key and retries",
                               description="The PIN, the PUK and the management key.",
                               epilog="Example:\n  cardki piv access change-pin",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    access_commands = access.add_subparsers(dest="access_command", metavar="COMMAND", required=True)
    change_pin = _command(access_commands, "change-pin", cmd_change_pin, "change the PIN",
                          "cardki piv access change-pin -P 123456 -n 654321", options(pin))
    change_pin.add_argument("-n", "--new-pin", dest="new", help="the new PIN (else asked twice)")

    def puk(p: argparse.ArgumentParser) -> None:
        p.add_argument("-p", "--puk", help=f"the PUK (else ${PUK_ENV} or a prompt)")

    change_puk = _command(access_commands, "change-puk", cmd_change_puk, "change the PUK",
                          "cardki piv access change-puk -p 12345678 -n 87654321", options(puk))
    change_puk.add_argument("-n", "--new-puk", dest="new", help="the new PUK (else asked twice)")
    unblock = _command(access_commands, "unblock-pin", cmd_unblock_pin, "set a new PIN with the PUK",
                       "cardki piv access unblock-pin -p 12345678 -n 654321", options(puk))
    unblock.add_argument("-n", "--new-pin", dest="new", help="the new PIN (else asked twice)")
    management_key = _command(access_commands, "change-management-key", cmd_change_management_key,
                              "change the management key",
                              "cardki piv access change-management-key -a AES256 -n $(openssl rand -hex 32)",
                              options(management))
    management_key.add_argument("-n", "--new-management-key", dest="new", metavar="HEX",
                                help="the new key, hex (else asked twice)")
    management_key.add_argument("-a", "--algorithm", type=str.upper, choices=MANAGEMENT_ALGORITHMS,
                                help="its algorithm (default: the current one, unless the new key's length "
                                     "says otherwise)")
    management_key.add_argument("-t", "--touch", action="store_true", help="require a touch to use it")
    retries = _command(access_commands, "set-retries", cmd_set_retries,
                       "set how many wrong PINs and PUKs the card takes (PIN and PUK become the defaults)",
                       "cardki piv access set-retries 5 5 -f", options(management, pin, force))
    retries.add_argument("pin_retries", type=int, metavar="PIN_RETRIES", help="wrong PINs before it blocks (1-255)")
    retries.add_argument("puk_retries", type=int, metavar="PUK_RETRIES", help="wrong PUKs before it blocks (1-255)")


__all__ = ["add_commands"]
