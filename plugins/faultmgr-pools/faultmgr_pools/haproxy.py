"""HAProxy backend: the runtime API on the stats socket (``stats socket PATH level admin``).

Commands used (all in HAProxy 2.6): ``show servers state B`` (weights, admin state), ``show stat B 4 -1``
(current sessions per server), ``set server B/S weight N``, ``set server B/S state ready|drain|maint``,
``add server B/S ADDR:PORT weight N`` + ``enable server B/S`` (a new server starts in maintenance), and
``del server B/S`` (only from maintenance and without connections; ``shutdown sessions server B/S`` cuts
them first). ``add server`` needs a backend whose balance algorithm is dynamic (roundrobin, leastconn,
first, random): HAProxy refuses it otherwise, and the refusal is passed on as a :class:`BackendError`.
"""

from __future__ import annotations

import asyncio
import csv
import io

from faultmgr_pools.backend import Backend, BackendError, ServerState, Target
from faultmgr_pools.model import HaproxyBackend

#: ``srv_admin_state`` bits (src/server.h): forced/inherited/config/resolver/hostname maintenance, drain.
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
_DRAIN_BITS = 0x08 | 0x10
_OP_STOPPED = 0


class RuntimeApi:
    """One command per connection on HAProxy's stats socket (the non-interactive mode)."""

    def __init__(self, path: str, timeout: float = 2.0) -> None:
        self.path = path
        self.timeout = timeout

    async def command(self, line: str) -> str:
        """Send ``line``; return HAProxy's whole answer."""
        if "\n" in line or ";" in line:
            raise ValueError(f"one runtime API command at a time: {line!r}")
        try:
            return await asyncio.wait_for(self._exchange(line), self.timeout)
        except (TimeoutError, OSError) as exc:
            raise BackendError(f"haproxy: {self.path}: {exc or 'timed out'} (running `{line}`)") from exc

    async def _exchange(self, line: str) -> str:
        reader, writer = await asyncio.open_unix_connection(self.path)
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            return (await reader.read()).decode("utf-8", "replace")
        finally:
            writer.close()

    async def expect(self, line: str, *accepted: str) -> str:
        """Run ``line``; an answer other than the ``accepted`` ones (empty by default) is an error."""
        answer = (await self.command(line)).strip()
        if answer not in (accepted or ("",)):
            raise BackendError(f"haproxy: `{line}`: {answer.splitlines()[0] if answer else 'no answer'}")
        return answer


def parse_servers_state(text: str) -> list[dict[str, str]]:
    """Rows of ``show servers state``: a version line, a ``# be_id be_name ...`` header, space-separated rows."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("# be_id"):
            names = line[2:].split()
            return [dict(zip(names, row.split(), strict=False)) for row in lines[index + 1:] if row.strip()]
    raise BackendError(f"haproxy: unexpected answer to show servers state: {text.strip()[:200] or 'empty'}")


def parse_stat(text: str) -> list[dict[str, str]]:
    """Rows of ``show stat`` (CSV whose header line starts with ``# ``)."""
    if not text.startswith("# pxname"):
        raise BackendError(f"haproxy: unexpected answer to show stat: {text.strip()[:200] or 'empty'}")
    return list(csv.DictReader(io.StringIO(text[2:])))


class HaproxyPoolBackend(Backend):
    """One HAProxy backend section; servers are told apart by their name."""

    kind = "haproxy"

    def __init__(self, settings: HaproxyBackend) -> None:
        self.settings = settings
        self.api = RuntimeApi(str(settings.socket), settings.timeout)

    def key(self, target: Target) -> str:
        return target.name

    def _server(self, name: str) -> str:
        return f"{self.settings.backend}/{name}"

    async def ensure(self) -> None:
        await self.servers()

    async def servers(self) -> list[ServerState]:
        backend = self.settings.backend
        state_text = await self.api.command(f"show servers state {backend}")
        if "# be_id" not in state_text:
            raise BackendError(f"haproxy: backend {backend!r}: {state_text.strip()[:200] or 'no answer'}")
        rows = parse_servers_state(state_text)
        stat = parse_stat(await self.api.command(f"show stat {backend} 4 -1"))
        sessions = {row["svname"]: int(row["scur"] or 0) for row in stat}
        states = []
        for row in rows:
            admin, op = int(row["srv_admin_state"]), int(row["srv_op_state"])
            state = ("maint" if admin & _MAINT_BITS else "drain" if admin & _DRAIN_BITS
                     else "down" if op == _OP_STOPPED else "ready")
            states.append(ServerState(name=row["srv_name"], address=row["srv_addr"], port=int(row["srv_port"]),
                                      weight=int(row["srv_uweight"]), state=state,
                                      active=sessions.get(row["srv_name"], 0)))
        return states

    async def add(self, target: Target, weight: int) -> None:
        address = f"[{target.address}]" if ":" in target.address else target.address
        server = self._server(target.name)
        await self.api.expect(f"add server {server} {address}:{target.port} weight {weight}",
                              "New server registered.")
        await self.api.expect(f"enable server {server}")

    async def remove(self, target: Target) -> None:
        server = self._server(target.name)
        await self.api.expect(f"set server {server} state maint")
        for _ in range(20):
            answer = (await self.api.command(f"del server {server}")).strip()
            if answer == "Server deleted." or "No such server" in answer:
                return
            if "connection" not in answer.lower() and "queue" not in answer.lower():
                raise BackendError(f"haproxy: `del server {server}`: {answer}")
            # Removing means removing now: cut what is left, then wait for HAProxy to let go of it.
            await self.api.command(f"shutdown sessions server {server}")
            await asyncio.sleep(0.05)
        raise BackendError(f"haproxy: `del server {server}`: connections did not close")

    async def set_weight(self, target: Target, weight: int) -> None:
        server = self._server(target.name)
        await self.api.expect(f"set server {server} weight {weight}")
        await self.api.expect(f"set server {server} state ready")

    async def set_state(self, target: Target, state: str) -> None:
        """``ready``, ``drain`` or ``maint``."""
        await self.api.expect(f"set server {self._server(target.name)} state {state}")
