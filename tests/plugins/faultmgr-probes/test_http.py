"""http/https checks against real local servers (aiohttp, a test CA from trustme)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from faultmgr_probes.checks.http import HttpCheck, HttpTarget


async def _handler(request: web.Request) -> web.StreamResponse:
    if request.path == "/status/503":
        return web.Response(status=503, text="down")
    if request.path == "/echo":
        seen = f"host={request.host} x-probe={request.headers.get('X-Probe', '')} method={request.method}"
        return web.Response(text=seen)
    if request.path == "/chunked":
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"alpha ", b"beta ", b"healthy"):
            await response.write(part)
        await response.write_eof()
        return response
    if request.path == "/slow":
        await asyncio.sleep(1.5)
    if request.path == "/big":
        return web.Response(text="x" * 200_000 + "TAIL")
    return web.Response(text="service is healthy\n")


async def _serve(ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


@pytest.fixture
async def http_port() -> AsyncIterator[int]:
    runner, port = await _serve()
    yield port
    await runner.cleanup()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> dict[str, Path]:
    client = ca.issue_cert("probe-client")
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem", "key": tmp_path / "client.key"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    files["key"].chmod(0o600)
    return files


async def _https_server(ca: trustme.CA, require_client_cert: bool) -> tuple[web.AppRunner, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("www.example.test", "127.0.0.1").configure_cert(context)
    if require_client_cert:
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return await _serve(context)


def http(port: int, **options: object) -> HttpCheck:
    return HttpCheck(HttpTarget(name="web", type="http", host="127.0.0.1", port=port, **options))  # type: ignore[arg-type]


async def test_ok_and_receive(http_port: int) -> None:
    assert (await http(http_port)(3)).passed
    assert (await http(http_port, receive=r"is\s+healthy")(3)).passed
    result = await http(http_port, receive="^broken")(3)
    assert not result.passed and "does not match" in result.reason


async def test_expected_status(http_port: int) -> None:
    result = await http(http_port, path="/status/503")(3)
    assert not result.passed and result.reason == "HTTP 503" and result.payload["status"] == 503
    assert (await http(http_port, path="/status/503", expect_status=[503])(3)).passed


async def test_virtualhost_headers_method(http_port: int) -> None:
    check = http(http_port, path="/echo", virtualhost="www.example.test", headers={"X-Probe": "yes"},
                 method="POST", receive=rf"host=www\.example\.test:{http_port} x-probe=yes method=POST")
    assert (await check(3)).passed, await check(3)


async def test_chunked_body_is_decoded(http_port: int) -> None:
    assert (await http(http_port, path="/chunked", receive="alpha beta healthy")(3)).passed


async def test_body_is_bounded(http_port: int) -> None:
    check = http(http_port, path="/big", receive="TAIL", max_body=1000)
    assert not (await check(3)).passed  # the tail lies beyond max_body: never read
    assert (await http(http_port, path="/big", receive="TAIL", max_body=300_000)(3)).passed


async def test_refused_and_host_name_path(http_port: int, unused_tcp_port: int) -> None:
    result = await http(unused_tcp_port)(3)
    assert not result.passed and result.reason == "connection refused"
    named = HttpCheck(HttpTarget(name="web", type="http", host="localhost", port=http_port))
    assert named.family is None  # a name goes through create_connection and the resolver
    assert (await named(3)).passed


async def test_https_verify(ca: trustme.CA, tls_files: dict[str, Path]) -> None:
    runner, port = await _https_server(ca, require_client_cert=False)
    try:
        base = {"name": "s", "type": "https", "host": "127.0.0.1", "port": port}
        unverified = await HttpCheck(HttpTarget(**base))(3)  # system CAs do not know the test CA
        assert not unverified.passed and unverified.reason.startswith("TLS")
        assert (await HttpCheck(HttpTarget(**base, verify=False))(3)).passed
        good = HttpTarget(**base, ca_file=tls_files["ca"], virtualhost="www.example.test")
        assert (await HttpCheck(good)(3)).passed
        wrong_name = HttpTarget(**base, ca_file=tls_files["ca"], virtualhost="other.example.test")
        assert not (await HttpCheck(wrong_name)(3)).passed
    finally:
        await runner.cleanup()


async def test_https_client_certificate(ca: trustme.CA, tls_files: dict[str, Path]) -> None:
    runner, port = await _https_server(ca, require_client_cert=True)
    try:
        base = {"name": "s", "type": "https", "host": "127.0.0.1", "port": port, "ca_file": tls_files["ca"]}
        assert not (await HttpCheck(HttpTarget(**base))(3)).passed
        with_cert = HttpTarget(**base, cert_file=tls_files["cert"], key_file=tls_files["key"])
        result = await HttpCheck(with_cert)(3)
        assert result.passed, result
    finally:
        await runner.cleanup()


async def test_timeout_through_detector(http_port: int, make_detector) -> None:  # type: ignore[no-untyped-def]
    detector = make_detector(targets=[{"name": "slow", "type": "http", "port": http_port, "path": "/slow"}],
                             checktimeout="200ms", failurecount=1)
    result = await detector.run_check(detector.checks[0])
    assert not result.passed and result.reason == "timed out after 200ms"


async def test_readable_client_key_is_refused(tls_files: dict[str, Path], make_detector) -> None:  # type: ignore[no-untyped-def]
    tls_files["key"].chmod(0o644)
    detector = make_detector(targets=[{"name": "s", "type": "https", "host": "127.0.0.1", "port": 1,
                                       "cert_file": str(tls_files["cert"]), "key_file": str(tls_files["key"])}])
    problems = detector.check()
    assert len(problems) == 1 and "chmod 600" in problems[0]
    with pytest.raises(ValueError, match="readable or writable by others"):
        await detector.start()
    tls_files["key"].chmod(0o600)
    assert detector.check() == []
