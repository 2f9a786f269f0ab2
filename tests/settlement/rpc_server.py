"""The test chain served over HTTP JSON-RPC on loopback, so a control plane (in this
process or a subprocess) reaches it by `--rpc-url` exactly as it would reach a node.

Requests in node format (hex quantities, camelCase) are turned into eth-tester's with
web3's own eth-tester formatters, and results back into node format, the same
translation web3 applies in process; the chain answers through `NodeLikeProvider`, so a
refused transaction is the JSON-RPC error a geth node sends.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from eth_utils.toolz import identity
from hexbytes import HexBytes
from web3.providers.eth_tester.middleware import request_formatters, result_formatters

from infernet.backends.engine_process import free_port
from tests.settlement.chain import TestChain

RESULTS = result_formatters or {}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return HexBytes(value).to_0x_hex()
    raise TypeError(f"cannot encode {type(value).__name__}")


class ChainServer:
    def __init__(self, chain: TestChain) -> None:
        self.chain = chain
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.calls = 0
        self._runner: web.AppRunner | None = None

    async def _answer(self, call: dict[str, Any]) -> dict[str, Any]:
        method, params = call["method"], call.get("params") or []
        if method in ("eth_call", "eth_estimateGas") and "from" not in params[0]:
            # as web3 does in process: a funded account of the chain's (a node: anyone)
            params = [{**params[0], "from": self.chain.deployer}, *params[1:]]
        params = request_formatters.get(method, identity)(params)
        self.calls += 1
        response = dict(await self.chain.provider.make_request(method, params))
        if "result" in response:
            response["result"] = RESULTS.get(method, identity)(response["result"])
        return {**response, "jsonrpc": "2.0", "id": call.get("id")}

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if isinstance(body, list):
            answer: Any = [await self._answer(call) for call in body]
        else:
            answer = await self._answer(body)
        return web.Response(
            text=json.dumps(answer, default=_plain), content_type="application/json"
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
