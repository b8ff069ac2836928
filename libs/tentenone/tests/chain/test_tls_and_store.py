"""TLS to a real ElectrumX (behind a TLS-terminating front) and the header file store."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from headerutil import REGTEST_GENESIS, chain_on

from tentenone.chain import ChainUnavailable, FileHeaderStore, InvalidChainInput, ServerAddress


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def _tls_front(upstream: str, cert: Path, key: Path) -> asyncio.Server:
    """Terminates TLS and forwards the bytes to ElectrumX's plain TCP port."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    host, port = upstream.rsplit(":", 1)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()

        pumps = [
            asyncio.create_task(pump(reader, up_writer)),
            asyncio.create_task(pump(up_reader, writer)),
        ]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for p in pumps:
            p.cancel()
        writer.close()
        up_writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)


@pytest.mark.slow
async def test_tls_connection_checks_the_certificate(devnet_electrum, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("tentenone_devnet.testing")
    from chainutil import start_source

    cert, key = _self_signed(tmp_path)
    front = await _tls_front(devnet_electrum.electrum_address, cert, key)
    port = front.sockets[0].getsockname()[1]
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        source = await start_source(f"ssl://localhost:{port}", tls_context=trusted)  # type: ignore[arg-type]
        try:
            tip = await source.tip()
            assert tip.hash == devnet_electrum.rpc.call("getbestblockhash")
        finally:
            await source.close()
        # The system trust store does not know our certificate: no session, a typed error.
        with pytest.raises(ChainUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await start_source(f"ssl://localhost:{port}", call_timeout=3.0)
    finally:
        front.close()
        with contextlib.suppress(Exception):
            await front.wait_closed()


def test_server_addresses_parse() -> None:
    assert ServerAddress.parse("ssl://example.org:50002") == ServerAddress(
        "example.org", 50002, True
    )
    assert ServerAddress.parse("tls://h:1").tls and not ServerAddress.parse("h:50001").tls
    for bad in ["http://h:1", "tcp://h", "tcp://:5", "tcp://h:notaport"]:
        with pytest.raises(InvalidChainInput):
            ServerAddress.parse(bad)


def test_file_header_store_survives_a_torn_write(tmp_path: Path) -> None:
    store = FileHeaderStore(tmp_path / "headers")
    assert store.load() is None
    headers = [REGTEST_GENESIS, *chain_on(REGTEST_GENESIS, 5, 1_700_000_000)]
    store.save(0, 0, headers)
    other = chain_on(headers[2], 2, 1_700_000_100, salt=b"fork")
    store.save(0, 3, other)  # a reorg replaced heights 3..5 with two headers
    base, loaded = store.load()  # type: ignore[misc]
    assert base == 0 and loaded == headers[:3] + other
    with open(store.path, "ab") as f:
        f.write(b"\x00" * 50)  # half a header: a crash mid-append
    assert store.load() == (0, headers[:3] + other)
    with open(store.path, "ab") as f:
        f.write(headers[1].raw)  # a whole header that does not link
    assert store.load() == (0, headers[:3] + other)
