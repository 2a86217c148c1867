"""The pyvider protocol object that registers proto.KV on pyvider's grpc.aio server."""
from __future__ import annotations

from typing import Any

from pyvider.rpcplugin.protocol.base import RPCPluginProtocol

from .kvgen import kv_pb2, kv_pb2_grpc


class KVProtocol(RPCPluginProtocol[Any, Any]):
    service_name = "proto.KV"
    #: the app protocol version (go-plugin's KV example: 1); pyvider advertises it in field 2
    supported_protocol_versions = [1]

    async def get_grpc_descriptors(self) -> tuple[Any, str]:
        return kv_pb2.DESCRIPTOR, "proto.KV"

    async def add_to_server(self, server: Any, handler: Any) -> None:
        kv_pb2_grpc.add_KVServicer_to_server(handler, server)
